package reader

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ebfe/scard"

	"github.com/mynagate/mynagate/reader/jpki"
)

// pnpNotification is pcsc-lite's pseudo-reader whose state changes when a reader
// is plugged in or out.
const pnpNotification = `\\?PnP?\Notification`

// Tap is a card newly presented on a reader. The card is connected and a PC/SC
// transaction is held for the handler's whole run, so no other process can
// interleave APDUs.
type Tap struct {
	// Reader is the PC/SC reader name.
	Reader string
	// At is when the watcher saw the card arrive: the start of tap latency.
	At time.Time
	// ATR is the card's answer to reset as the reader reports it. Over NFC it is
	// synthesised by the reader and says little about the card.
	ATR []byte
	// Card carries APDUs to the card.
	Card *Card
	// Caps is what has been learnt about this reader; pass it to jpki.New.
	Caps *jpki.Caps
}

// Handler processes one tap. It must return when ctx is done.
type Handler func(ctx context.Context, tap Tap)

// Watcher watches readers whose names match one of Patterns (path.Match syntax,
// "*" for all; empty means all) and calls the handler once per card presentation.
// Each reader is served by its own goroutine, so lanes decide concurrently.
type Watcher struct {
	Patterns []string
	Log      *slog.Logger
	// Poll bounds each status wait, so that readers are re-listed even where
	// hot-plug notification is unsupported; 0 means one second.
	Poll time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	// beat is when the watch loop last went round (unix nanoseconds).
	beat atomic.Int64
}

// Alive returns when the watch loop last went round: at least once per Poll
// while it runs, also while it waits for pcscd. A systemd watchdog pings only
// while this is recent, so a wedged loop gets the daemon restarted.
func (w *Watcher) Alive() time.Time { return time.Unix(0, w.beat.Load()) }

// readerState is the watcher's view of one reader.
type readerState struct {
	flags  scard.StateFlag
	worker chan Tap
	caps   jpki.Caps
}

// Run watches until ctx is done. It never returns early on PC/SC failures: it logs
// them and waits for pcscd or a reader to come back.
func (w *Watcher) Run(ctx context.Context, h Handler) error {
	log := w.Log
	if log == nil {
		log = slog.Default()
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	states := map[string]*readerState{}
	defer func() {
		for _, st := range states {
			close(st.worker)
		}
	}()
	backoff := 250 * time.Millisecond
	waitingSaid := false
	for ctx.Err() == nil {
		w.beat.Store(w.now().UnixNano())
		sc, err := scard.EstablishContext()
		if err != nil {
			if !waitingSaid {
				log.Warn("waiting for pcscd", "err", err, "hint", "start pcscd (systemctl start pcscd.socket)")
				waitingSaid = true
			}
			if sleep(ctx, backoff) != nil {
				break
			}
			backoff = min(backoff*2, 5*time.Second)
			continue
		}
		if waitingSaid {
			log.Info("pcscd is back")
			waitingSaid = false
		}
		backoff = 250 * time.Millisecond
		err = w.watch(ctx, sc, states, h, &wg, log)
		sc.Release()
		if ctx.Err() != nil {
			break
		}
		log.Warn("PC/SC context lost; re-establishing", "err", err)
		// Readers come back as new: forget what we knew of their state so that a
		// card still on a reader after a pcscd restart is read once more.
		for _, st := range states {
			st.flags = scard.StateUnaware
		}
	}
	return nil
}

// watch serves one PC/SC context until it fails or ctx is done.
func (w *Watcher) watch(ctx context.Context, sc *scard.Context, states map[string]*readerState, h Handler, wg *sync.WaitGroup, log *slog.Logger) error {
	stop := context.AfterFunc(ctx, func() { sc.Cancel() })
	defer stop()
	poll := w.Poll
	if poll <= 0 {
		poll = time.Second
	}
	pnp := true
	var pnpFlags scard.StateFlag
	noReadersSaid := false
	for ctx.Err() == nil {
		w.beat.Store(w.now().UnixNano())
		names, err := sc.ListReaders()
		if err != nil && !errors.Is(err, scard.ErrNoReadersAvailable) {
			if serviceDown(err) {
				return fmt.Errorf("list readers: %w", err)
			}
			log.Warn("list readers failed", "err", err)
		}
		names = w.match(names)
		if len(names) == 0 && !noReadersSaid {
			log.Warn("no card reader found; waiting for one", "patterns", w.Patterns, "hint", "plug in the reader or check readers in the config")
		}
		noReadersSaid = len(names) == 0
		rs := make([]scard.ReaderState, 0, len(names)+1)
		for _, n := range names {
			st, ok := states[n]
			if !ok {
				st = &readerState{worker: make(chan Tap)}
				states[n] = st
				wg.Add(1)
				go func() { defer wg.Done(); w.serve(ctx, n, st, h, log) }()
				log.Info("reader found", "reader", n)
			}
			rs = append(rs, scard.ReaderState{Reader: n, CurrentState: st.flags})
		}
		if pnp {
			rs = append(rs, scard.ReaderState{Reader: pnpNotification, CurrentState: pnpFlags})
		}
		err = sc.GetStatusChange(rs, poll)
		switch {
		case err == nil:
		case errors.Is(err, scard.ErrTimeout):
			continue
		case errors.Is(err, scard.ErrCancelled):
			return ctx.Err()
		case errors.Is(err, scard.ErrUnknownReader):
			// A reader went away between listing and waiting: list again.
			continue
		case serviceDown(err):
			return fmt.Errorf("wait for card: %w", err)
		default:
			log.Warn("wait for card failed", "err", err)
			if sleep(ctx, poll) != nil {
				return ctx.Err()
			}
			continue
		}
		for _, r := range rs {
			if r.Reader == pnpNotification {
				if r.EventState&scard.StateUnknown != 0 {
					pnp = false // unsupported here: polling re-lists readers
				}
				pnpFlags = r.EventState &^ scard.StateChanged
				continue
			}
			st := states[r.Reader]
			if r.EventState&scard.StateChanged == 0 {
				continue
			}
			old := st.flags
			// Copy the event state into the current state, or the next wait
			// returns at once and the loop spins.
			st.flags = r.EventState &^ scard.StateChanged
			if newCard(old, st.flags) {
				tap := Tap{Reader: r.Reader, At: w.now(), ATR: r.Atr, Caps: &st.caps}
				select {
				case st.worker <- tap:
				default:
					log.Warn("card presented while the previous tap is still being processed; ignored", "reader", r.Reader)
				}
			}
			if st.flags&(scard.StateUnknown|scard.StateUnavailable) != 0 {
				log.Warn("reader unavailable", "reader", r.Reader, "hint", "check the USB cable")
			}
		}
	}
	return ctx.Err()
}

// newCard reports whether the state change is a card arriving: present now and
// either absent before or a different insertion (pcsc-lite counts insertions in
// the upper 16 bits of the event state). A mute card (no ATR) is not a tap.
func newCard(old, cur scard.StateFlag) bool {
	if cur&scard.StatePresent == 0 || cur&scard.StateMute != 0 {
		return false
	}
	return old&scard.StatePresent == 0 || old>>16 != cur>>16
}

func (w *Watcher) match(names []string) []string {
	if len(w.Patterns) == 0 {
		return names
	}
	var out []string
	for _, n := range names {
		for _, p := range w.Patterns {
			if Match(p, n) {
				out = append(out, n)
				break
			}
		}
	}
	return out
}

func (w *Watcher) now() time.Time {
	if w.Now != nil {
		return w.Now()
	}
	return time.Now()
}

// serve connects to each tapped card on one reader and runs the handler inside a
// transaction. It has its own PC/SC context: pcsc-lite contexts must not be
// shared between threads that call into them at once.
func (w *Watcher) serve(ctx context.Context, name string, st *readerState, h Handler, log *slog.Logger) {
	var sc *scard.Context
	defer func() {
		if sc != nil {
			sc.Release()
		}
	}()
	for tap := range st.worker {
		if ctx.Err() != nil {
			return
		}
		var card *Card
		var err error
		// A context left from before a pcscd restart is dead: the first connect
		// then fails with a service error, and one fresh context fixes it.
		for attempt := 0; attempt < 2; attempt++ {
			if sc == nil {
				if sc, err = scard.EstablishContext(); err != nil {
					sc = nil
					break
				}
			}
			if card, err = connect(sc, name); err == nil || !serviceDown(err) {
				break
			}
			sc.Release()
			sc = nil
		}
		if err != nil {
			log.Warn("tap not read: connect failed; the card may have left the field", "reader", name, "err", err)
			continue
		}
		tap.Card = card
		h(ctx, tap)
		if err := card.card.EndTransaction(scard.LeaveCard); err != nil && !errors.Is(mapError(err), jpki.ErrRemoved) {
			log.Debug("end transaction", "reader", name, "err", err)
		}
		card.card.Disconnect(scard.LeaveCard)
	}
}

func connect(sc *scard.Context, name string) (*Card, error) {
	c, err := sc.Connect(name, scard.ShareShared, scard.ProtocolAny)
	if err != nil {
		return nil, fmt.Errorf("connect to %q: %w", name, mapError(err))
	}
	if err := c.BeginTransaction(); err != nil {
		c.Disconnect(scard.LeaveCard)
		return nil, fmt.Errorf("begin transaction on %q: %w", name, mapError(err))
	}
	return &Card{card: c, reader: name}, nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
