// Package signal names the feedback patterns a gate gives a person at the reader
// (buzzer tones, LED blinks) and provides the console driver used by the demo and by
// machines without a buzzer.
package signal

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
)

// Pattern is the meaning of a signal; each driver renders it its own way.
type Pattern string

// Patterns. Admit is one short tone, deny three, error a long one, attention two
// long ones (for example: the whitelist is too old).
const (
	Admit     Pattern = "admit"
	Deny      Pattern = "deny"
	Error     Pattern = "error"
	Attention Pattern = "attention"
)

// Console renders patterns as text, one line per signal: "♪ beep" for a short tone
// and "♪ beeeep" for a long one. It stands in for the buzzer in the demo.
type Console struct {
	mu sync.Mutex
	w  io.Writer
}

// NewConsole returns a Console writing to w.
func NewConsole(w io.Writer) *Console { return &Console{w: w} }

// Tones returns the tones of a pattern, "short" or "long", in order.
func Tones(p Pattern) ([]string, error) {
	switch p {
	case Admit:
		return []string{"short"}, nil
	case Deny:
		return []string{"short", "short", "short"}, nil
	case Error:
		return []string{"long"}, nil
	case Attention:
		return []string{"long", "long"}, nil
	}
	return nil, fmt.Errorf("signal: unknown pattern %q", p)
}

// Signal writes the pattern's tones.
func (c *Console) Signal(_ context.Context, p Pattern) error {
	tones, err := Tones(p)
	if err != nil {
		return err
	}
	words := make([]string, len(tones))
	for i, t := range tones {
		words[i] = map[string]string{"short": "beep", "long": "beeeep"}[t]
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	_, err = fmt.Fprintf(c.w, "♪ %s (%s)\n", strings.Join(words, " "), p)
	return err
}
