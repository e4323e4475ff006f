// Package buzzer sounds the gate's signal patterns on a buzzer wired to one output
// pin: the completion sound the pilot's users asked for, and distinct deny, error
// and attention sounds.
package buzzer

import (
	"context"
	"fmt"
	"sync"

	"github.com/mynagate/mynagate/hw/clock"
	"github.com/mynagate/mynagate/hw/signal"
)

// Switch turns the buzzer on and off; *pins.Out satisfies it.
type Switch interface {
	Set(on bool) error
}

// Buzzer plays signal patterns on a Switch. It is safe for concurrent use:
// patterns play one after the other, never overlapped. A nil *Buzzer is not usable.
type Buzzer struct {
	mu     sync.Mutex
	sw     Switch
	timing signal.Timing
	clk    clock.Clock
}

// New returns a Buzzer sounding sw with timing t on clock c. sw and c must not be nil.
func New(sw Switch, t signal.Timing, c clock.Clock) (*Buzzer, error) {
	if err := t.Validate("hw.buzzer"); err != nil {
		return nil, err
	}
	return &Buzzer{sw: sw, timing: t, clk: c}, nil
}

// Signal sounds pattern p and returns when it has finished, or when ctx ends (the
// buzzer is then silenced and ctx's error returned).
func (b *Buzzer) Signal(ctx context.Context, p signal.Pattern) error {
	steps, err := b.timing.Steps(p)
	if err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := signal.Play(ctx, b.clk, steps, b.sw.Set); err != nil {
		return fmt.Errorf("buzzer: %s: %w", p, err)
	}
	return nil
}
