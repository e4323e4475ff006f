// Package led shows the gate's signal patterns on green, red and amber LEDs, with
// the same rhythm as the buzzer so that a deaf or hard-of-hearing person gets the
// same message.
package led

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/mynagate/mynagate/hw/clock"
	"github.com/mynagate/mynagate/hw/signal"
)

// Switch turns one LED on and off; *pins.Out satisfies it.
type Switch interface {
	Set(on bool) error
}

// Set is the gate's LEDs. Admit blinks green; deny and error blink red; attention
// blinks amber, or red and green together when there is no amber LED. It is safe
// for concurrent use: patterns play one after the other. A nil *Set is not usable.
type Set struct {
	mu                sync.Mutex
	green, red, amber Switch
	timing            signal.Timing
	clk               clock.Clock
}

// New returns the LED set; any of green, red and amber may be nil when that LED is
// not fitted, but not all three. c must not be nil.
func New(green, red, amber Switch, t signal.Timing, c clock.Clock) (*Set, error) {
	if green == nil && red == nil && amber == nil {
		return nil, fmt.Errorf("led: no LED configured; set at least one of hw.leds.green, red or amber")
	}
	if err := t.Validate("hw.leds"); err != nil {
		return nil, err
	}
	return &Set{green: green, red: red, amber: amber, timing: t, clk: c}, nil
}

// lit returns the LEDs that show p.
func (s *Set) lit(p signal.Pattern) []Switch {
	var out []Switch
	switch p {
	case signal.Admit:
		out = []Switch{s.green}
	case signal.Deny, signal.Error:
		out = []Switch{s.red}
	case signal.Attention:
		out = []Switch{s.amber}
		if s.amber == nil {
			out = []Switch{s.red, s.green}
		}
	}
	kept := out[:0]
	for _, sw := range out {
		if sw != nil {
			kept = append(kept, sw)
		}
	}
	return kept
}

// Signal blinks pattern p and returns when it has finished, or when ctx ends (the
// LEDs are then off and ctx's error returned). A pattern whose LED is not fitted
// shows nothing and returns nil.
func (s *Set) Signal(ctx context.Context, p signal.Pattern) error {
	steps, err := s.timing.Steps(p)
	if err != nil {
		return err
	}
	lit := s.lit(p)
	if len(lit) == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	set := func(on bool) error {
		var errs []error
		for _, sw := range lit {
			if err := sw.Set(on); err != nil {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	}
	if err := signal.Play(ctx, s.clk, steps, set); err != nil {
		return fmt.Errorf("led: %s: %w", p, err)
	}
	return nil
}
