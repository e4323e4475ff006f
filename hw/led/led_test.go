package led_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/mynagate/mynagate/hw/clock/clocktest"
	"github.com/mynagate/mynagate/hw/led"
	"github.com/mynagate/mynagate/hw/pins"
	"github.com/mynagate/mynagate/hw/pins/pinstest"
	"github.com/mynagate/mynagate/hw/signal"
)

var epoch = time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)

type rig struct {
	clk               *clocktest.Clock
	green, red, amber *pinstest.Recorder
	set               *led.Set
}

func newRig(t *testing.T, withAmber bool) *rig {
	t.Helper()
	r := &rig{clk: clocktest.New(epoch)}
	out := func(name string, activeLow bool) (*pinstest.Recorder, led.Switch) {
		p := pinstest.NewRecorder(name, r.clk)
		o, err := pins.NewOut(p, activeLow)
		if err != nil {
			t.Fatal(err)
		}
		p.Reset()
		return p, o
	}
	var g, rd, a led.Switch
	r.green, g = out("GREEN", false)
	r.red, rd = out("RED", true) // wired to the supply: lit when low
	if withAmber {
		r.amber, a = out("AMBER", false)
	}
	s, err := led.New(g, rd, a, signal.Timing{}, r.clk)
	if err != nil {
		t.Fatal(err)
	}
	r.set = s
	return r
}

func TestPatterns(t *testing.T) {
	tests := []struct {
		p                  signal.Pattern
		amber              bool
		green, red, amberW string
	}{
		{signal.Admit, true, "[+0s High +120ms Low]", "[]", "[]"},
		{signal.Deny, true, "[]", "[+0s Low +120ms High +220ms Low +340ms High +440ms Low +560ms High]", "[]"},
		{signal.Error, true, "[]", "[+0s Low +600ms High]", "[]"},
		{signal.Attention, true, "[]", "[]", "[+0s High +600ms Low +700ms High +1.3s Low]"},
		{signal.Attention, false, "[+0s High +600ms Low +700ms High +1.3s Low]", "[+0s Low +600ms High +700ms Low +1.3s High]", "[]"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/amber=%v", tt.p, tt.amber), func(t *testing.T) {
			r := newRig(t, tt.amber)
			if err := r.clk.Run(func() error { return r.set.Signal(context.Background(), tt.p) }); err != nil {
				t.Fatal(err)
			}
			check := func(name string, p *pinstest.Recorder, want string) {
				var got []pinstest.Change
				if p != nil {
					got = p.Changes()
				}
				if fmt.Sprint(got) != want {
					t.Errorf("%s = %v, want %s", name, got, want)
				}
			}
			check("green", r.green, tt.green)
			check("red", r.red, tt.red)
			check("amber", r.amber, tt.amberW)
		})
	}
}

func TestNewNeedsAnLED(t *testing.T) {
	if _, err := led.New(nil, nil, nil, signal.Timing{}, clocktest.New(epoch)); err == nil {
		t.Error("New without LEDs = nil error")
	}
}

func TestMissingLEDShowsNothing(t *testing.T) {
	clk := clocktest.New(epoch)
	p := pinstest.NewRecorder("RED", clk)
	o, _ := pins.NewOut(p, false)
	s, err := led.New(nil, o, nil, signal.Timing{}, clk)
	if err != nil {
		t.Fatal(err)
	}
	p.Reset()
	if err := s.Signal(context.Background(), signal.Admit); err != nil {
		t.Fatal(err)
	}
	if len(p.Changes()) != 0 {
		t.Errorf("red changed on admit without a green LED: %v", p.Changes())
	}
}
