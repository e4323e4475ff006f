package turnstile_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"

	"github.com/mynagate/mynagate/hw/clock/clocktest"
	"github.com/mynagate/mynagate/hw/pins"
	"github.com/mynagate/mynagate/hw/pins/pinstest"
	"github.com/mynagate/mynagate/hw/turnstile"
)

var epoch = time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)

const (
	pulse   = 400 * time.Millisecond
	timeout = 8 * time.Second
)

type rig struct {
	clk    *clocktest.Clock
	relay  *pinstest.Recorder
	sensor *gpiotest.Pin
	ts     *turnstile.Turnstile
	seen   []string // results taken by next, in order
	idle   chan struct{}
}

// syncSensor tells the test when the turnstile is back waiting for an edge, that
// is, when it has fully handled the previous one.
type syncSensor struct {
	turnstile.Sensor
	idle chan struct{}
}

func (s syncSensor) WaitActive(d time.Duration) bool {
	select {
	case s.idle <- struct{}{}: // only when the test is listening
	default:
	}
	return s.Sensor.WaitActive(d)
}

func newRig(t *testing.T, withSensor, relayActiveLow bool) *rig {
	t.Helper()
	r := &rig{clk: clocktest.New(epoch)}
	r.relay = pinstest.NewRecorder("RELAY", r.clk)
	relay, err := pins.NewOut(r.relay, relayActiveLow)
	if err != nil {
		t.Fatal(err)
	}
	r.relay.Reset()
	var sensor turnstile.Sensor
	if withSensor {
		r.sensor = &gpiotest.Pin{N: "PASSAGE", EdgesChan: make(chan gpio.Level)}
		in, err := pins.NewIn(r.sensor, true)
		if err != nil {
			t.Fatal(err)
		}
		r.idle = make(chan struct{})
		sensor = syncSensor{in, r.idle}
	}
	r.ts = turnstile.New(relay, sensor, turnstile.Options{
		Pulse: pulse, PassTimeout: timeout, Clock: r.clk,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	return r
}

// open runs Open and moves the clock through the relay pulse: with a sensor, the
// pass timer and the pulse timer are armed before time moves.
func (r *rig) open(t *testing.T, id string) {
	t.Helper()
	armed := r.clk.Timers() + 1 // counted before Open can arm anything
	if r.ts.HasSensor() {
		armed++
	}
	done := make(chan error)
	go func() { done <- r.ts.Open(context.Background(), id) }()
	if err := r.clk.WaitTimers(context.Background(), armed); err != nil {
		t.Fatal(err)
	}
	if ch := r.relay.Changes(); len(ch) == 0 || ch[len(ch)-1].L != gpio.High {
		t.Fatalf("relay not energised during the pulse: %v", ch)
	}
	r.clk.Advance(pulse)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// pass simulates a person breaking the beam (active-low sensor) and returns once
// the turnstile has handled it.
func (r *rig) pass() {
	r.sensor.EdgesChan <- gpio.Low
	<-r.idle
}

func format(res turnstile.Result) string {
	return fmt.Sprintf("%s %s +%v", res.EntryID, res.Outcome, res.At.Sub(epoch))
}

// results closes the turnstile and returns every result it reported: those taken
// by next, then any left in the channel.
func (r *rig) results(t *testing.T) []string {
	t.Helper()
	if err := r.ts.Close(); err != nil {
		t.Fatal(err)
	}
	got := r.seen
	for res := range r.ts.Results() {
		got = append(got, format(res))
	}
	return got
}

// next waits for one result; the wall-clock bound only stops a hung test.
func (r *rig) next(t *testing.T) {
	t.Helper()
	select {
	case res := <-r.ts.Results():
		r.seen = append(r.seen, format(res))
	case <-time.After(10 * time.Second):
		t.Fatal("no result reported")
	}
}

func TestPulseSequence(t *testing.T) {
	for _, activeLow := range []bool{false, true} {
		r := newRig(t, false, activeLow)
		if err := r.clk.Run(func() error { return r.ts.Pulse(context.Background()) }); err != nil {
			t.Fatal(err)
		}
		want := "[+0s High +400ms Low]"
		if activeLow {
			want = "[+0s Low +400ms High]"
		}
		if got := fmt.Sprint(r.relay.Changes()); got != want {
			t.Errorf("activeLow=%v: relay = %s, want %s", activeLow, got, want)
		}
		r.results(t)
	}
}

func TestOutcomes(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, r *rig)
		want string
	}{
		{"passed", func(t *testing.T, r *rig) {
			r.open(t, "E1")
			r.clk.Advance(time.Second)
			r.pass()
			r.next(t)
		}, "[E1 passed +1.4s]"},
		{"not passed annuls", func(t *testing.T, r *rig) {
			r.open(t, "E1")
			r.clk.Advance(timeout - pulse)
			r.next(t)
		}, "[E1 not_passed +8s]"},
		{"passage belongs to the oldest entry", func(t *testing.T, r *rig) {
			r.open(t, "E1")
			r.open(t, "E2")
			r.pass()
			r.next(t)
			r.clk.Advance(timeout)
			r.next(t)
		}, "[E1 passed +800ms E2 not_passed +8.4s]"},
		{"bounce counts once", func(t *testing.T, r *rig) {
			r.open(t, "E1")
			r.open(t, "E2")
			r.pass()
			r.pass() // same instant: contact bounce, not a second person
			r.next(t)
			r.clk.Advance(timeout)
			r.next(t)
		}, "[E1 passed +800ms E2 not_passed +8.4s]"},
		{"two people past the debounce", func(t *testing.T, r *rig) {
			r.open(t, "E1")
			r.open(t, "E2")
			r.pass()
			r.next(t)
			r.clk.Advance(turnstile.DefaultDebounce)
			r.pass()
			r.next(t)
		}, "[E1 passed +800ms E2 passed +1.1s]"},
		{"passage after timeout is not credited", func(t *testing.T, r *rig) {
			r.open(t, "E1")
			r.clk.Advance(timeout)
			r.next(t)
			r.pass()
		}, "[E1 not_passed +8s]"},
		{"close drops pending", func(t *testing.T, r *rig) {
			r.open(t, "E1")
		}, "[]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, true, false)
			tt.run(t, r)
			if got := fmt.Sprint(r.results(t)); got != tt.want {
				t.Errorf("results = %s\nwant      %s", got, tt.want)
			}
		})
	}
}

func TestWithoutSensorReportsNothing(t *testing.T) {
	r := newRig(t, false, false)
	if r.ts.HasSensor() {
		t.Fatal("HasSensor = true without a sensor")
	}
	r.open(t, "E1")
	r.clk.Advance(time.Hour)
	if got := r.results(t); len(got) != 0 {
		t.Errorf("results without a sensor = %v", got)
	}
}

func TestOpenAfterClose(t *testing.T) {
	r := newRig(t, true, false)
	r.results(t)
	if err := r.ts.Open(context.Background(), "E9"); err == nil {
		t.Error("Open after Close = nil error")
	}
}
