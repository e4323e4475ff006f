package buzzer_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/mynagate/mynagate/hw/buzzer"
	"github.com/mynagate/mynagate/hw/clock/clocktest"
	"github.com/mynagate/mynagate/hw/pins"
	"github.com/mynagate/mynagate/hw/pins/pinstest"
	"github.com/mynagate/mynagate/hw/signal"
)

var epoch = time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)

const ms = time.Millisecond

func TestPatterns(t *testing.T) {
	custom := signal.Timing{ShortMS: 50, LongMS: 400, GapMS: 30, Patterns: map[signal.Pattern][]int{signal.Admit: {80, 40, 200}}}
	tests := []struct {
		name      string
		timing    signal.Timing
		activeLow bool
		p         signal.Pattern
		want      string
	}{
		{"admit default", signal.Timing{}, false, signal.Admit, "[+0s High +120ms Low]"},
		{"deny default", signal.Timing{}, false, signal.Deny, "[+0s High +120ms Low +220ms High +340ms Low +440ms High +560ms Low]"},
		{"error default", signal.Timing{}, false, signal.Error, "[+0s High +600ms Low]"},
		{"attention default", signal.Timing{}, false, signal.Attention, "[+0s High +600ms Low +700ms High +1.3s Low]"},
		{"active low", signal.Timing{}, true, signal.Admit, "[+0s Low +120ms High]"},
		{"custom admit steps", custom, false, signal.Admit, "[+0s High +80ms Low +120ms High +320ms Low]"},
		{"custom lengths", custom, false, signal.Deny, "[+0s High +50ms Low +80ms High +130ms Low +160ms High +210ms Low]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := clocktest.New(epoch)
			pin := pinstest.NewRecorder("BUZZER", clk)
			out, err := pins.NewOut(pin, tt.activeLow)
			if err != nil {
				t.Fatal(err)
			}
			pin.Reset()
			b, err := buzzer.New(out, tt.timing, clk)
			if err != nil {
				t.Fatal(err)
			}
			if err := clk.Run(func() error { return b.Signal(context.Background(), tt.p) }); err != nil {
				t.Fatal(err)
			}
			if got := fmt.Sprint(pin.Changes()); got != tt.want {
				t.Errorf("changes = %s\nwant      %s", got, tt.want)
			}
		})
	}
}

func TestCancelSilences(t *testing.T) {
	clk := clocktest.New(epoch)
	pin := pinstest.NewRecorder("BUZZER", clk)
	out, _ := pins.NewOut(pin, false)
	b, _ := buzzer.New(out, signal.Timing{}, clk)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- b.Signal(ctx, signal.Attention) }()
	if err := clk.WaitTimers(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; err == nil {
		t.Fatal("Signal after cancel = nil, want an error")
	}
	if pin.Read() != false {
		t.Error("buzzer left sounding after cancel")
	}
}

func TestNewRejectsBadTiming(t *testing.T) {
	tests := []signal.Timing{
		{ShortMS: -1},
		{LongMS: 60000},
		{Patterns: map[signal.Pattern][]int{"welcome": {100}}},
		{Patterns: map[signal.Pattern][]int{signal.Deny: {100, 100}}},
		{Patterns: map[signal.Pattern][]int{signal.Deny: {100, 0, 100}}},
	}
	for _, tm := range tests {
		if _, err := buzzer.New(nil, tm, clocktest.New(epoch)); err == nil {
			t.Errorf("New(%+v) = nil error", tm)
		}
	}
}

func TestUnknownPattern(t *testing.T) {
	clk := clocktest.New(epoch)
	out, _ := pins.NewOut(pinstest.NewRecorder("B", clk), false)
	b, _ := buzzer.New(out, signal.Timing{}, clk)
	if err := b.Signal(context.Background(), "fanfare"); err == nil {
		t.Error("unknown pattern accepted")
	}
}
