// Package clocktest provides a manual Clock for tests: time moves only when the test
// calls Advance, and a test can wait until the code under test has armed its timers.
package clocktest

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/mynagate/mynagate/hw/clock"
)

// Clock is a manual clock. Create it with New; the zero value is not usable.
// It is safe for concurrent use.
type Clock struct {
	mu      sync.Mutex
	now     time.Time
	timers  []*timer
	changed chan struct{} // closed and replaced whenever the set of timers changes
}

// New returns a Clock whose time starts at start.
func New(start time.Time) *Clock {
	return &Clock{now: start, changed: make(chan struct{})}
}

// Now returns the clock's current time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// NewTimer arms a timer that fires when Advance moves the clock d or more ahead.
// A timer with d <= 0 fires at once.
func (c *Clock) NewTimer(d time.Duration) clock.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &timer{c: c, at: c.now.Add(d), ch: make(chan time.Time, 1)}
	if d <= 0 {
		t.ch <- c.now
		return t
	}
	c.timers = append(c.timers, t)
	c.notifyLocked()
	return t
}

// Advance moves the clock forward by d and fires, in order, every timer due by then.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	sort.SliceStable(c.timers, func(i, j int) bool { return c.timers[i].at.Before(c.timers[j].at) })
	kept := c.timers[:0]
	for _, t := range c.timers {
		if t.at.After(c.now) {
			kept = append(kept, t)
			continue
		}
		t.ch <- t.at
	}
	c.timers = kept
	c.notifyLocked()
}

// Timers returns how many timers are armed and not yet fired or stopped.
func (c *Clock) Timers() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// WaitTimers blocks until at least n timers are armed, or ctx is done. Tests call
// it before Advance so that they move time only once the code has started waiting.
func (c *Clock) WaitTimers(ctx context.Context, n int) error {
	for {
		c.mu.Lock()
		got, changed := len(c.timers), c.changed
		c.mu.Unlock()
		if got >= n {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// AdvanceNext waits until a timer is armed (or ctx is done), then moves the clock
// to the earliest timer's deadline, firing it, and returns how far it moved.
func (c *Clock) AdvanceNext(ctx context.Context) (time.Duration, error) {
	if err := c.WaitTimers(ctx, 1); err != nil {
		return 0, err
	}
	c.mu.Lock()
	next := c.timers[0].at
	for _, t := range c.timers[1:] {
		if t.at.Before(next) {
			next = t.at
		}
	}
	d := next.Sub(c.now)
	c.mu.Unlock()
	c.Advance(d)
	return d, nil
}

func (c *Clock) notifyLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

type timer struct {
	c  *Clock
	at time.Time
	ch chan time.Time
}

func (t *timer) C() <-chan time.Time { return t.ch }

func (t *timer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	for i, o := range t.c.timers {
		if o == t {
			t.c.timers = append(t.c.timers[:i], t.c.timers[i+1:]...)
			t.c.notifyLocked()
			return true
		}
	}
	return false
}

// Run calls f in a goroutine and, until it returns, keeps moving the clock to the
// next armed timer; it returns f's error. It suits code that waits on this clock
// alone and on one timer at a time, such as a buzzer pattern or a relay pulse: any
// other armed timer would be fired too.
func (c *Clock) Run(f func() error) error {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- f()
		cancel()
	}()
	for {
		if _, err := c.AdvanceNext(ctx); err != nil {
			return <-done
		}
	}
}
