// Package hw builds a gate's hardware from its config: buzzer and LEDs that give
// the person at the reader the signal patterns, the turnstile relay with its
// optional passage sensor, and the receipt printer. Without pins it falls back to
// console drivers, as the demo uses. Check tells the operator, part by part,
// whether the configured hardware is there.
//
// The agent consumes a Gate through small interfaces of its own; *Gate has
//
//	Signal(ctx context.Context, p signal.Pattern) error
//	Pulse(ctx context.Context) error
//	Open(ctx context.Context, entryID string) error
//	Results() <-chan turnstile.Result
//	Print(ctx context.Context, r printer.Receipt) error
//	PrinterStatus(ctx context.Context) (escpos.Status, error)
//	Close() error
package hw

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"

	"github.com/mynagate/mynagate/hw/buzzer"
	"github.com/mynagate/mynagate/hw/clock"
	"github.com/mynagate/mynagate/hw/escpos"
	"github.com/mynagate/mynagate/hw/led"
	"github.com/mynagate/mynagate/hw/pins"
	"github.com/mynagate/mynagate/hw/printer"
	"github.com/mynagate/mynagate/hw/signal"
	"github.com/mynagate/mynagate/hw/turnstile"
)

// ErrNoPrinter is returned by Print and PrinterStatus on a gate without a printer.
var ErrNoPrinter = errors.New("hw: no printer configured (hw.printer)")

// Options are what Open needs besides the config. The zero value writes console
// output to os.Stdout, logs to slog.Default() and uses the real clock.
type Options struct {
	// Console receives the console drivers' lines when no buzzer, LEDs or relay
	// are configured.
	Console io.Writer
	Logger  *slog.Logger
	Clock   clock.Clock
}

// signaler is one way of showing a pattern: buzzer, LEDs or console.
type signaler interface {
	Signal(ctx context.Context, p signal.Pattern) error
}

// Gate is a gate's hardware, built by Open. It is safe for concurrent use.
// A nil *Gate is not usable.
type Gate struct {
	signalers []signaler
	turnstile *turnstile.Turnstile
	printer   *printer.Printer
	closeOnce sync.Once
}

// Open builds the real drivers for cfg: it finds every configured pin (an error
// names a pin that is missing and its config key), drives outputs to off, and
// prepares the printer without connecting to it, so that a printer switched off
// at startup does not stop the gate. Parts not configured get console drivers
// (signals, relay) or none (printer). Close releases the Gate.
func Open(cfg Config) (*Gate, error) { return OpenWith(cfg, Options{}) }

// OpenWith is Open with explicit Options.
func OpenWith(cfg Config, o Options) (*Gate, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if o.Console == nil {
		o.Console = os.Stdout
	}
	// The console signal and the console relay write lines concurrently.
	o.Console = &lockedWriter{w: o.Console}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	out := func(key string, p *PinConfig) (*pins.Out, error) {
		if p == nil {
			return nil, nil
		}
		pin, err := pins.ByName(p.Pin, key+".pin")
		if err != nil {
			return nil, err
		}
		return pins.NewOut(pin, p.ActiveLow)
	}
	g := &Gate{}
	if c := cfg.Buzzer; c != nil {
		sw, err := out("hw.buzzer", &c.PinConfig)
		if err != nil {
			return nil, err
		}
		b, err := buzzer.New(sw, c.Timing, o.Clock)
		if err != nil {
			return nil, err
		}
		g.signalers = append(g.signalers, b)
	}
	if c := cfg.LEDs; c != nil {
		var sw [3]led.Switch
		for i, p := range []*PinConfig{c.Green, c.Red, c.Amber} {
			pin, err := out("hw.leds."+[...]string{"green", "red", "amber"}[i], p)
			if err != nil {
				return nil, err
			}
			if pin != nil { // a nil *pins.Out in the interface would not read as absent
				sw[i] = pin
			}
		}
		s, err := led.New(sw[0], sw[1], sw[2], c.Timing, o.Clock)
		if err != nil {
			return nil, err
		}
		g.signalers = append(g.signalers, s)
	}
	if len(g.signalers) == 0 {
		g.signalers = []signaler{signal.NewConsole(o.Console)}
	}
	topts := turnstile.Options{Clock: o.Clock, Logger: o.Logger}
	var relay turnstile.Switch = consoleRelay{o.Console}
	var sensor turnstile.Sensor
	if c := cfg.Relay; c != nil {
		sw, err := out("hw.relay", &c.PinConfig)
		if err != nil {
			return nil, err
		}
		relay, topts.Pulse = sw, ms(c.PulseMS)
	}
	if c := cfg.Passage; c != nil {
		pin, err := pins.ByName(c.Pin, "hw.passage.pin")
		if err != nil {
			return nil, err
		}
		in, err := pins.NewIn(pin, c.ActiveLow)
		if err != nil {
			return nil, err
		}
		sensor, topts.PassTimeout, topts.Debounce = in, ms(c.TimeoutMS), ms(c.DebounceMS)
	}
	if cfg.Printer != nil {
		p, err := printer.New(*cfg.Printer, o.Logger)
		if err != nil {
			return nil, err
		}
		g.printer = p
	}
	// Last, as it starts the sensor goroutine: nothing after it can fail.
	g.turnstile = turnstile.New(relay, sensor, topts)
	o.Logger.Info("hw: gate hardware ready", "parts", parts(cfg))
	return g, nil
}

// Signal shows pattern p on every indicator at once (buzzer and LEDs, or the
// console) and returns when all have finished; it joins their errors.
func (g *Gate) Signal(ctx context.Context, p signal.Pattern) error {
	errs := make([]error, len(g.signalers))
	var wg sync.WaitGroup
	for i, s := range g.signalers {
		wg.Go(func() { errs[i] = s.Signal(ctx, p) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Pulse energises the relay for its pulse length, without awaiting a passage.
func (g *Gate) Pulse(ctx context.Context) error { return g.turnstile.Pulse(ctx) }

// Open pulses the relay for entry entryID and, with a passage sensor, reports on
// Results whether the person passed; see turnstile.Turnstile.Open.
func (g *Gate) Open(ctx context.Context, entryID string) error {
	return g.turnstile.Open(ctx, entryID)
}

// Results delivers a Passed or NotPassed result per Open when a passage sensor is
// configured, and nothing otherwise. The agent must drain it; it is closed by Close.
func (g *Gate) Results() <-chan turnstile.Result { return g.turnstile.Results() }

// Print prints r within the printer's timeout or ctx, whichever ends first; it
// returns ErrNoPrinter without a printer, and a *printer.NotReadyError when the
// printer reported paper out, cover open or offline. Call it from a goroutine so
// that printing never delays the gate.
func (g *Gate) Print(ctx context.Context, r printer.Receipt) error {
	if g.printer == nil {
		return ErrNoPrinter
	}
	return g.printer.Print(ctx, r)
}

// PrinterStatus asks the printer for its real-time status, for the gate's status
// report; it returns ErrNoPrinter without a printer and an error wrapping
// printer.ErrNoStatus when the printer cannot tell.
func (g *Gate) PrinterStatus(ctx context.Context) (escpos.Status, error) {
	if g.printer == nil {
		return escpos.Status{}, ErrNoPrinter
	}
	return g.printer.Status(ctx)
}

// Close stops the passage sensor, leaves the relay off and closes Results. It is
// safe to call more than once.
func (g *Gate) Close() error {
	var err error
	g.closeOnce.Do(func() { err = g.turnstile.Close() })
	return err
}

// parts names what Open built, for the startup log line.
func parts(cfg Config) []string {
	var out []string
	for _, kp := range cfg.pins() {
		out = append(out, kp.key+"="+kp.Pin)
	}
	if cfg.Buzzer == nil && cfg.LEDs == nil {
		out = append(out, "signals=console")
	}
	if cfg.Relay == nil {
		out = append(out, "relay=console")
	}
	if cfg.Printer != nil {
		out = append(out, "hw.printer="+cfg.Printer.Transport)
	}
	return out
}

// consoleRelay stands in for the relay in the demo: one line per opening.
type consoleRelay struct{ w io.Writer }

func (c consoleRelay) Set(on bool) error {
	if !on {
		return nil
	}
	_, err := fmt.Fprintln(c.w, "⇥ turnstile open")
	return err
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
