// Package printer prints receipts on an ESC/POS printer over a USB printer class
// device, a serial line or a TCP 9100 network printer, or into a file for the demo,
// and reads the printer's real-time status where the transport is two-way.
//
// Printing never holds up a gate: every job and status query is bounded by a
// timeout, a stuck device is abandoned rather than waited for, and Print can be
// called from a goroutine while the gate has already opened.
package printer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/mynagate/mynagate/hw/escpos"
)

// Receipt is anything that renders to ESC/POS bytes (escpos.Receipt).
type Receipt = escpos.Receipt

// ErrNoStatus is returned by Status when the transport cannot read from the
// printer (the file transport, a USB device without a read channel) or the printer
// does not answer status requests.
var ErrNoStatus = errors.New("printer: status unavailable")

// NotReadyError is returned by Print when the printer reported a state in which it
// cannot print; the receipt was not sent, so it will not come out later for the
// wrong person once the paper is replaced.
type NotReadyError struct {
	Where  string // device, file or address
	Status escpos.Status
}

// Error says which printer is not ready and what the operator should do.
func (e *NotReadyError) Error() string {
	return fmt.Sprintf("printer: %s not ready: %s", e.Where, e.Status)
}

// statusWait bounds the wait for each status byte: a printer answers real-time
// commands at once, so a silent one does not answer them at all.
const statusWait = time.Second

// Printer prints receipts on one configured printer, one job at a time. It opens
// the transport per job, so a printer switched off at startup or replaced while
// running does not need a restart. It is safe for concurrent use. A nil *Printer
// is not usable.
type Printer struct {
	cfg  Config
	log  *slog.Logger
	busy chan struct{} // holds a token while a job runs, even one abandoned by its caller

	mu   sync.Mutex
	last string // last status reported to the operator: "ready", a problem, or ""
}

// New checks cfg and returns its Printer; it does not connect. log may be nil for
// slog.Default().
func New(cfg Config, log *slog.Logger) (*Printer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	return &Printer{cfg: cfg, log: log.With("printer", cfg.where()), busy: make(chan struct{}, 1)}, nil
}

// Print renders r and sends it. Where the transport is two-way it first asks the
// printer's status and returns a *NotReadyError instead of printing when the paper
// is out, the cover open or the printer offline. It returns within the configured
// timeout or when ctx ends, whichever is first; callers that must not wait at all
// call it from a goroutine.
func (p *Printer) Print(ctx context.Context, r Receipt) error {
	b, err := r.ESCPOS()
	if err != nil {
		return fmt.Errorf("printer: render: %w", err)
	}
	return p.do(ctx, "print", func(ctx context.Context, l link) error {
		st, err := queryStatus(ctx, l)
		switch {
		case errors.Is(err, ErrNoStatus):
			// Print unchecked: a one-way transport or a printer that ignores DLE EOT.
		case err != nil:
			return err
		default:
			p.report(st)
			if !st.Ready() {
				return &NotReadyError{Where: p.cfg.where(), Status: st}
			}
		}
		if _, err := l.Write(b); err != nil {
			return fmt.Errorf("printer: send %d bytes to %s: %w; check the connection", len(b), p.cfg.where(), err)
		}
		return nil
	})
}

// Status asks the printer for its real-time status (DLE EOT 1 to 4). It returns an
// error wrapping ErrNoStatus when the transport is one-way or the printer does not
// answer.
func (p *Printer) Status(ctx context.Context) (escpos.Status, error) {
	var st escpos.Status
	err := p.do(ctx, "status", func(ctx context.Context, l link) error {
		var err error
		st, err = queryStatus(ctx, l)
		if err == nil {
			p.report(st)
		}
		return err
	})
	return st, err
}

// do runs f on a fresh link within the timeout. When the time is up it closes the
// link to unblock f and returns; f's goroutine keeps the busy token until it ends,
// so a hung device makes later jobs fail fast instead of piling up.
func (p *Printer) do(ctx context.Context, step string, f func(context.Context, link) error) error {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.timeout())
	defer cancel()
	select {
	case p.busy <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("printer: %s on %s: an earlier job is still stuck: %w; check the printer", step, p.cfg.where(), ctx.Err())
	}
	done := make(chan error, 1)
	go func() {
		defer func() { <-p.busy }()
		l, err := dial(ctx, p.cfg)
		if err != nil {
			done <- err
			return
		}
		stop := context.AfterFunc(ctx, func() { l.Close() })
		err = f(ctx, l)
		if stop() {
			if cerr := l.Close(); err == nil && cerr != nil {
				err = fmt.Errorf("printer: close %s: %w", p.cfg.where(), cerr)
			}
		}
		done <- err
	}()
	select {
	case err := <-done:
		// A printer that cannot report its status is normal for one-way
		// transports (file, some USB devices), not worth a warning each time.
		if err != nil && !errors.Is(err, ErrNoStatus) {
			p.log.Warn("printer: "+step+" failed", "err", err)
		}
		return err
	case <-ctx.Done():
		p.log.Warn("printer: "+step+" abandoned", "err", ctx.Err())
		return fmt.Errorf("printer: %s on %s: no completion: %w; check that the printer is on and not jammed", step, p.cfg.where(), ctx.Err())
	}
}

// queryStatus sends DLE EOT 1 to 4 and parses the answers.
func queryStatus(ctx context.Context, l link) (escpos.Status, error) {
	if !l.twoWay() {
		return escpos.Status{}, fmt.Errorf("%w: the transport does not read from the printer", ErrNoStatus)
	}
	answers := make([]byte, 0, len(escpos.StatusRequests))
	for i, req := range escpos.StatusRequests {
		wait := statusWait
		if dl, ok := ctx.Deadline(); ok && time.Until(dl)/2 < wait {
			wait = time.Until(dl) / 2 // leave time to print when the printer is silent
		}
		if _, err := l.Write(req); err != nil {
			return escpos.Status{}, fmt.Errorf("printer: send status request: %w", err)
		}
		b, err := l.readByte(wait)
		if err != nil {
			if i == 0 && ctx.Err() == nil {
				return escpos.Status{}, fmt.Errorf("%w: no answer to DLE EOT 1 (%v); the printer may not support real-time status", ErrNoStatus, err)
			}
			return escpos.Status{}, fmt.Errorf("printer: read status: %w", err)
		}
		answers = append(answers, b)
	}
	return escpos.ParseStatus(answers)
}

// report tells the operator, through the log, when the printer's state changes.
func (p *Printer) report(st escpos.Status) {
	now := st.String()
	p.mu.Lock()
	changed := now != p.last
	p.last = now
	p.mu.Unlock()
	switch {
	case !changed:
	case st.Ready() && len(st.Problems()) == 0:
		p.log.Info("printer: ready")
	case st.Ready():
		p.log.Warn("printer: attention", "problems", now)
	default:
		p.log.Error("printer: cannot print", "problems", now)
	}
}
