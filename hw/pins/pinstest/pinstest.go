// Package pinstest provides a gpiotest pin that records every level driven on it,
// stamped with a (test) clock, so that tests can assert whole buzzer, LED and relay
// sequences without real GPIO and without the wall clock.
package pinstest

import (
	"fmt"
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"

	"github.com/mynagate/mynagate/hw/clock"
)

// Change is one level driven on a Recorder, At after the recorder's start or Reset.
type Change struct {
	At time.Duration
	L  gpio.Level
}

// String renders the change as "+120ms High".
func (c Change) String() string { return fmt.Sprintf("+%v %v", c.At, c.L) }

// Recorder is a gpiotest.Pin that records each Out call. It is safe for concurrent
// use. A nil *Recorder is not usable.
type Recorder struct {
	*gpiotest.Pin
	clk     clock.Clock
	mu      sync.Mutex
	start   time.Time
	changes []Change
}

// NewRecorder returns a recording pin named name, stamping changes with c.
// c must not be nil.
func NewRecorder(name string, c clock.Clock) *Recorder {
	return &Recorder{Pin: &gpiotest.Pin{N: name}, clk: c, start: c.Now()}
}

// Out records l and drives the underlying gpiotest pin.
func (r *Recorder) Out(l gpio.Level) error {
	r.mu.Lock()
	r.changes = append(r.changes, Change{At: r.clk.Now().Sub(r.start), L: l})
	r.mu.Unlock()
	return r.Pin.Out(l)
}

// Changes returns a copy of the changes recorded so far.
func (r *Recorder) Changes() []Change {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Change(nil), r.changes...)
}

// Reset forgets the recorded changes and restarts the time origin at the clock's now.
func (r *Recorder) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.changes = nil
	r.start = r.clk.Now()
}

var _ gpio.PinIO = (*Recorder)(nil)
