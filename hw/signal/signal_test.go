package signal_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/mynagate/mynagate/hw/signal"
)

func TestConsole(t *testing.T) {
	var b bytes.Buffer
	c := signal.NewConsole(&b)
	for _, p := range []signal.Pattern{signal.Admit, signal.Deny, signal.Error, signal.Attention} {
		if err := c.Signal(context.Background(), p); err != nil {
			t.Fatal(err)
		}
	}
	want := "♪ beep (admit)\n♪ beep beep beep (deny)\n♪ beeeep (error)\n♪ beeeep beeeep (attention)\n"
	if b.String() != want {
		t.Errorf("console = %q, want %q", b.String(), want)
	}
	if err := c.Signal(context.Background(), "fanfare"); err == nil {
		t.Error("unknown pattern accepted")
	}
}

func TestSteps(t *testing.T) {
	tests := []struct {
		timing signal.Timing
		p      signal.Pattern
		want   string
	}{
		{signal.Timing{}, signal.Admit, "[120ms]"},
		{signal.Timing{}, signal.Deny, "[120ms 100ms 120ms 100ms 120ms]"},
		{signal.Timing{LongMS: 900, GapMS: 50}, signal.Attention, "[900ms 50ms 900ms]"},
		{signal.Timing{Patterns: map[signal.Pattern][]int{signal.Error: {30, 20, 30}}}, signal.Error, "[30ms 20ms 30ms]"},
	}
	for _, tt := range tests {
		steps, err := tt.timing.Steps(tt.p)
		if err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprint(steps); got != tt.want {
			t.Errorf("%+v.Steps(%s) = %s, want %s", tt.timing, tt.p, got, tt.want)
		}
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		timing signal.Timing
		ok     bool
	}{
		{signal.Timing{}, true},
		{signal.Timing{ShortMS: 80, LongMS: 500, GapMS: 60}, true},
		{signal.Timing{GapMS: -5}, false},
		{signal.Timing{LongMS: 10001}, false},
		{signal.Timing{Patterns: map[signal.Pattern][]int{"chime": {1}}}, false},
		{signal.Timing{Patterns: map[signal.Pattern][]int{signal.Admit: {}}}, false},
		{signal.Timing{Patterns: map[signal.Pattern][]int{signal.Admit: {100, 100}}}, false},
	}
	for _, tt := range tests {
		if err := tt.timing.Validate("hw.buzzer"); (err == nil) != tt.ok {
			t.Errorf("Validate(%+v) = %v, want ok=%v", tt.timing, err, tt.ok)
		}
	}
}
