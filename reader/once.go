package reader

import (
	"context"
	"errors"
	"fmt"
	"path"
	"time"

	"github.com/ebfe/scard"
)

// ErrNoReader means no PC/SC reader matched.
var ErrNoReader = errors.New("reader: no card reader found; plug one in or check the name (gateagent doctor lists them)")

// Status is one reader as pcscd sees it.
type Status struct {
	Name string
	// Card is true while a card is present and powered.
	Card bool
	ATR  []byte
}

// List returns every reader pcscd knows with whether a card is present.
func List() ([]Status, error) {
	sc, err := scard.EstablishContext()
	if err != nil {
		return nil, fmt.Errorf("reader: connect to pcscd: %w; is pcscd running?", err)
	}
	defer sc.Release()
	names, err := sc.ListReaders()
	if errors.Is(err, scard.ErrNoReadersAvailable) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reader: list readers: %w", err)
	}
	rs := make([]scard.ReaderState, len(names))
	for i, n := range names {
		rs[i] = scard.ReaderState{Reader: n, CurrentState: scard.StateUnaware}
	}
	if err := sc.GetStatusChange(rs, 0); err != nil && !errors.Is(err, scard.ErrTimeout) {
		return nil, fmt.Errorf("reader: reader states: %w", err)
	}
	out := make([]Status, len(rs))
	for i, r := range rs {
		out[i] = Status{Name: r.Reader, Card: r.EventState&scard.StatePresent != 0 && r.EventState&scard.StateMute == 0, ATR: r.Atr}
	}
	return out, nil
}

// Match reports whether a reader name matches a configured pattern: the exact
// name, or a path.Match pattern such as "ACS ACR1252*".
func Match(pattern, name string) bool {
	if pattern == name {
		return true
	}
	ok, _ := path.Match(pattern, name)
	return ok
}

// Once waits until a card is on the reader matching pattern (the first reader
// when pattern is empty) or ctx is done, then runs fn with the card inside a
// transaction. It serves one-shot operator commands such as `gateagent card read`.
func Once(ctx context.Context, pattern string, fn func(Tap) error) error {
	sc, err := scard.EstablishContext()
	if err != nil {
		return fmt.Errorf("reader: connect to pcscd: %w; is pcscd running?", err)
	}
	defer sc.Release()
	stop := context.AfterFunc(ctx, func() { sc.Cancel() })
	defer stop()
	names, err := sc.ListReaders()
	if err != nil && !errors.Is(err, scard.ErrNoReadersAvailable) {
		return fmt.Errorf("reader: list readers: %w", err)
	}
	name := ""
	for _, n := range names {
		if pattern == "" || Match(pattern, n) {
			name = n
			break
		}
	}
	if name == "" {
		return ErrNoReader
	}
	rs := []scard.ReaderState{{Reader: name, CurrentState: scard.StateUnaware}}
	for {
		if err := sc.GetStatusChange(rs, time.Second); err != nil && !errors.Is(err, scard.ErrTimeout) {
			if ctx.Err() != nil {
				return fmt.Errorf("reader: no card on %q: %w", name, ctx.Err())
			}
			return fmt.Errorf("reader: wait for a card on %q: %w", name, mapError(err))
		}
		rs[0].CurrentState = rs[0].EventState &^ scard.StateChanged
		if rs[0].EventState&scard.StatePresent != 0 && rs[0].EventState&scard.StateMute == 0 {
			break
		}
		if ctx.Err() != nil {
			return fmt.Errorf("reader: no card on %q: %w", name, ctx.Err())
		}
	}
	at := time.Now()
	card, err := connect(sc, name)
	if err != nil {
		return err
	}
	defer card.card.Disconnect(scard.LeaveCard)
	defer card.card.EndTransaction(scard.LeaveCard)
	return fn(Tap{Reader: name, At: at, ATR: rs[0].Atr, Card: card})
}

// WaitRemoved waits until no card is on the named reader, as pcscd sees it. A
// kiosk uses it to say "remove your card"; tests and the demo use it before the
// next tap, because a card put back before pcscd noticed the removal looks like
// the same card still lying there.
func WaitRemoved(ctx context.Context, name string) error {
	return waitState(ctx, name, false)
}

// WaitPresent waits until pcscd sees a card on the named reader, without
// connecting to it.
func WaitPresent(ctx context.Context, name string) error {
	return waitState(ctx, name, true)
}

func waitState(ctx context.Context, name string, present bool) error {
	sc, err := scard.EstablishContext()
	if err != nil {
		return fmt.Errorf("reader: connect to pcscd: %w; is pcscd running?", err)
	}
	defer sc.Release()
	stop := context.AfterFunc(ctx, func() { sc.Cancel() })
	defer stop()
	rs := []scard.ReaderState{{Reader: name, CurrentState: scard.StateUnaware}}
	for {
		if err := sc.GetStatusChange(rs, time.Second); err != nil && !errors.Is(err, scard.ErrTimeout) {
			if ctx.Err() != nil {
				return fmt.Errorf("reader: waiting on %q (card wanted: %v): %w", name, present, ctx.Err())
			}
			return fmt.Errorf("reader: wait on %q: %w", name, mapError(err))
		}
		rs[0].CurrentState = rs[0].EventState &^ scard.StateChanged
		if (rs[0].EventState&scard.StatePresent != 0) == present {
			return nil
		}
	}
}
