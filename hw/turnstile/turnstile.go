// Package turnstile opens a gate lane with a relay pulse and, where a passage
// sensor is fitted, tells whether the admitted person actually walked through, so
// that an entry nobody used can be annulled (pretixSCAN's "annul"): the person may
// tap again and the count of people inside stays right.
package turnstile

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/mynagate/mynagate/hw/clock"
)

// Switch drives the relay; *pins.Out satisfies it.
type Switch interface {
	Set(on bool) error
}

// Sensor is a passage sensor (light barrier, rotation switch); *pins.In satisfies it.
type Sensor interface {
	// WaitActive waits up to timeout for an edge into the active level.
	WaitActive(timeout time.Duration) bool
	// Halt interrupts a pending WaitActive where the driver supports it.
	Halt() error
}

// Outcome says whether the person admitted by an Open passed.
type Outcome string

// Outcomes. On NotPassed the agent records an annul event whose Ref is the entry id.
const (
	Passed    Outcome = "passed"
	NotPassed Outcome = "not_passed"
)

// Result reports what happened after Open(ctx, EntryID).
type Result struct {
	EntryID string
	Outcome Outcome
	// At is the clock's time of the passage or of the timeout.
	At time.Time
}

// Defaults, used where an Options field is zero.
const (
	DefaultPulse       = 500 * time.Millisecond
	DefaultPassTimeout = 10 * time.Second
	DefaultDebounce    = 300 * time.Millisecond
)

// edgePoll bounds how long the sensor goroutine waits for an edge before it checks
// whether the turnstile was closed; Close also halts the wait where the pin can.
const edgePoll = 250 * time.Millisecond

// Options tune a Turnstile. The zero value uses the defaults, the real clock and
// slog.Default().
type Options struct {
	// Pulse is how long the relay is energised for one opening.
	Pulse time.Duration
	// PassTimeout is how long after Open a passage is awaited before NotPassed.
	PassTimeout time.Duration
	// Debounce is the shortest time between two passages; edges closer than that
	// are contact bounce of the same passage.
	Debounce time.Duration
	Clock    clock.Clock
	Logger   *slog.Logger
}

// Turnstile is one lane's relay and optional passage sensor. It is safe for
// concurrent use. A nil *Turnstile is not usable.
type Turnstile struct {
	relay   Switch
	sensor  Sensor
	opts    Options
	results chan Result

	pulseMu sync.Mutex // one relay pulse at a time

	mu         sync.Mutex
	pending    []*pending // FIFO: a passage belongs to the oldest admitted person
	lastPassed time.Time
	closed     chan struct{}
	done       sync.WaitGroup
}

type pending struct {
	id      string
	timer   clock.Timer
	settled chan struct{}
}

// New returns a Turnstile driving relay; sensor may be nil when the lane has no
// passage sensor, and then Open reports no Result. relay must not be nil. With a
// sensor, New starts a goroutine watching it until Close.
func New(relay Switch, sensor Sensor, o Options) *Turnstile {
	if o.Pulse <= 0 {
		o.Pulse = DefaultPulse
	}
	if o.PassTimeout <= 0 {
		o.PassTimeout = DefaultPassTimeout
	}
	if o.Debounce <= 0 {
		o.Debounce = DefaultDebounce
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	t := &Turnstile{relay: relay, sensor: sensor, opts: o, results: make(chan Result, 64), closed: make(chan struct{})}
	if sensor != nil {
		t.done.Add(1)
		go t.watch()
	}
	return t
}

// Results delivers one Result per Open when a sensor is fitted. The caller must
// drain it: when 64 results are waiting, the turnstile stops reporting until it does.
// It is closed by Close.
func (t *Turnstile) Results() <-chan Result { return t.results }

// HasSensor reports whether Open will report a Result.
func (t *Turnstile) HasSensor() bool { return t.sensor != nil }

// Pulse energises the relay for the configured pulse length. If ctx ends first the
// relay is released at once and ctx's error returned.
func (t *Turnstile) Pulse(ctx context.Context) error {
	t.pulseMu.Lock()
	defer t.pulseMu.Unlock()
	if err := t.relay.Set(true); err != nil {
		return fmt.Errorf("turnstile: relay on: %w; check the relay wiring and hw.relay.pin", err)
	}
	err := clock.Sleep(ctx, t.opts.Clock, t.opts.Pulse)
	if offErr := t.relay.Set(false); offErr != nil {
		return fmt.Errorf("turnstile: relay off: %w; the lane may stay open, check the relay", offErr)
	}
	return err
}

// Open admits the person of entry entryID: it pulses the relay and, with a sensor,
// awaits their passage for the pass timeout, counted from this call. The Result
// (Passed or NotPassed) arrives later on Results. If the pulse fails, no Result is
// reported for entryID.
func (t *Turnstile) Open(ctx context.Context, entryID string) error {
	var p *pending
	if t.sensor != nil {
		t.mu.Lock()
		select {
		case <-t.closed:
			t.mu.Unlock()
			return fmt.Errorf("turnstile: open %s: turnstile is closed", entryID)
		default:
		}
		p = &pending{id: entryID, timer: t.opts.Clock.NewTimer(t.opts.PassTimeout), settled: make(chan struct{})}
		t.pending = append(t.pending, p)
		t.done.Add(1)
		t.mu.Unlock()
		go t.expire(p)
	}
	if err := t.Pulse(ctx); err != nil {
		if p != nil {
			t.settle(p)
		}
		return fmt.Errorf("turnstile: open %s: %w", entryID, err)
	}
	return nil
}

// expire reports NotPassed for p when its timer fires first.
func (t *Turnstile) expire(p *pending) {
	defer t.done.Done()
	select {
	case at := <-p.timer.C():
		if t.settle(p) {
			t.opts.Logger.Info("turnstile: nobody passed; entry to be annulled", "entry", p.id, "timeout", t.opts.PassTimeout)
			t.report(Result{EntryID: p.id, Outcome: NotPassed, At: at})
		}
	case <-p.settled:
	}
}

// settle removes p from the pending queue; it reports whether p was still there.
func (t *Turnstile) settle(p *pending) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i, q := range t.pending {
		if q == p {
			t.pending = append(t.pending[:i], t.pending[i+1:]...)
			p.timer.Stop()
			close(p.settled)
			return true
		}
	}
	return false
}

// watch turns sensor edges into passages until Close.
func (t *Turnstile) watch() {
	defer t.done.Done()
	for {
		select {
		case <-t.closed:
			return
		default:
		}
		if t.sensor.WaitActive(edgePoll) {
			t.passage()
		}
	}
}

// passage assigns one passage to the oldest pending entry.
func (t *Turnstile) passage() {
	now := t.opts.Clock.Now()
	t.mu.Lock()
	if !t.lastPassed.IsZero() && now.Sub(t.lastPassed) < t.opts.Debounce {
		t.mu.Unlock()
		return
	}
	t.lastPassed = now
	if len(t.pending) == 0 {
		t.mu.Unlock()
		t.opts.Logger.Warn("turnstile: passage without an admitted entry; someone may have followed another person through")
		return
	}
	p := t.pending[0]
	t.pending = t.pending[1:]
	p.timer.Stop()
	close(p.settled)
	t.mu.Unlock()
	t.report(Result{EntryID: p.id, Outcome: Passed, At: now})
}

func (t *Turnstile) report(r Result) {
	select {
	case t.results <- r:
	case <-t.closed:
	}
}

// Close stops watching the sensor, drops pending entries without a Result (the
// daemon is stopping; their entries stand) and closes Results. The relay is left
// off. Close must be called once.
func (t *Turnstile) Close() error {
	t.mu.Lock()
	close(t.closed)
	for _, p := range t.pending {
		p.timer.Stop()
		close(p.settled)
	}
	t.pending = nil
	t.mu.Unlock()
	var err error
	if t.sensor != nil {
		err = t.sensor.Halt()
	}
	t.done.Wait()
	close(t.results)
	if offErr := t.relay.Set(false); offErr != nil && err == nil {
		err = offErr
	}
	return err
}
