package signal

import (
	"context"
	"fmt"
	"time"

	"github.com/mynagate/mynagate/hw/clock"
)

// Default tone lengths, used where a Timing field is zero.
const (
	DefaultShort = 120 * time.Millisecond
	DefaultLong  = 600 * time.Millisecond
	DefaultGap   = 100 * time.Millisecond
)

// maxStep bounds any one on or off step, so that a typo in the config (60000 for
// 600) cannot hold a buzzer on for a minute.
const maxStep = 10 * time.Second

// Timing says how long the tones of the patterns last on a buzzer or an LED. The
// zero value uses the defaults. It is decoded from the gate config.
type Timing struct {
	// ShortMS and LongMS are the lengths of a short and a long tone, GapMS the
	// silence between two tones, in milliseconds.
	ShortMS int `json:"short_ms,omitempty"`
	LongMS  int `json:"long_ms,omitempty"`
	GapMS   int `json:"gap_ms,omitempty"`
	// Patterns replaces the tones of a pattern by explicit steps in milliseconds,
	// alternating on and off and starting with on: {"admit": [80, 60, 80]}.
	Patterns map[Pattern][]int `json:"patterns,omitempty"`
}

// Validate checks lengths and pattern names; key prefixes errors with the config
// path, for example "hw.buzzer".
func (t Timing) Validate(key string) error {
	for name, ms := range map[string]int{"short_ms": t.ShortMS, "long_ms": t.LongMS, "gap_ms": t.GapMS} {
		if ms < 0 || time.Duration(ms)*time.Millisecond > maxStep {
			return fmt.Errorf("signal: %s.%s = %d is out of range; use 0 (default) to %d", key, name, ms, maxStep.Milliseconds())
		}
	}
	for p, steps := range t.Patterns {
		if _, err := Tones(p); err != nil {
			return fmt.Errorf("signal: %s.patterns has unknown pattern %q; use admit, deny, error or attention", key, p)
		}
		if len(steps)%2 == 0 {
			return fmt.Errorf("signal: %s.patterns.%s has %d steps; give an odd number, alternating on and off, starting and ending with on", key, p, len(steps))
		}
		for _, ms := range steps {
			if ms <= 0 || time.Duration(ms)*time.Millisecond > maxStep {
				return fmt.Errorf("signal: %s.patterns.%s step %d ms is out of range; use 1 to %d", key, p, ms, maxStep.Milliseconds())
			}
		}
	}
	return nil
}

// Steps returns the pattern as durations alternating on and off, starting and
// ending with on.
func (t Timing) Steps(p Pattern) ([]time.Duration, error) {
	if ms, ok := t.Patterns[p]; ok {
		steps := make([]time.Duration, len(ms))
		for i, m := range ms {
			steps[i] = time.Duration(m) * time.Millisecond
		}
		return steps, nil
	}
	tones, err := Tones(p)
	if err != nil {
		return nil, err
	}
	short, long, gap := orDefault(t.ShortMS, DefaultShort), orDefault(t.LongMS, DefaultLong), orDefault(t.GapMS, DefaultGap)
	var steps []time.Duration
	for i, tone := range tones {
		if i > 0 {
			steps = append(steps, gap)
		}
		if tone == "long" {
			steps = append(steps, long)
		} else {
			steps = append(steps, short)
		}
	}
	return steps, nil
}

func orDefault(ms int, def time.Duration) time.Duration {
	if ms == 0 {
		return def
	}
	return time.Duration(ms) * time.Millisecond
}

// Play renders steps (as returned by Steps) by calling set(true) and set(false) in
// turn and waiting each step on c. It always leaves the output off, also when ctx
// ends early, in which case it returns ctx's error.
func Play(ctx context.Context, c clock.Clock, steps []time.Duration, set func(on bool) error) (err error) {
	defer func() {
		if offErr := set(false); err == nil {
			err = offErr
		}
	}()
	for i, d := range steps {
		if err := set(i%2 == 0); err != nil {
			return err
		}
		if err := clock.Sleep(ctx, c, d); err != nil {
			return err
		}
	}
	return nil
}
