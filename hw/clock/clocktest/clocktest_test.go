package clocktest_test

import (
	"context"
	"testing"
	"time"

	"github.com/mynagate/mynagate/hw/clock"
	"github.com/mynagate/mynagate/hw/clock/clocktest"
)

var epoch = time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)

func TestAdvanceFiresDueTimersInOrder(t *testing.T) {
	c := clocktest.New(epoch)
	late, early := c.NewTimer(2*time.Second), c.NewTimer(time.Second)
	c.Advance(500 * time.Millisecond)
	select {
	case <-early.C():
		t.Fatal("timer fired before its deadline")
	default:
	}
	c.Advance(2 * time.Second)
	if at := <-early.C(); !at.Equal(epoch.Add(time.Second)) {
		t.Errorf("early fired at %v, want %v", at, epoch.Add(time.Second))
	}
	if at := <-late.C(); !at.Equal(epoch.Add(2 * time.Second)) {
		t.Errorf("late fired at %v", at)
	}
	if n := c.Timers(); n != 0 {
		t.Errorf("Timers() = %d after firing all, want 0", n)
	}
}

func TestStopRemovesTimer(t *testing.T) {
	c := clocktest.New(epoch)
	tm := c.NewTimer(time.Second)
	if !tm.Stop() {
		t.Fatal("Stop of an armed timer = false")
	}
	if tm.Stop() {
		t.Error("second Stop = true")
	}
	if c.Timers() != 0 {
		t.Error("stopped timer still counted")
	}
}

func TestRunDrivesSleeps(t *testing.T) {
	c := clocktest.New(epoch)
	err := c.Run(func() error {
		for range 3 {
			if err := clock.Sleep(context.Background(), c, 250*time.Millisecond); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Now().Sub(epoch); got != 750*time.Millisecond {
		t.Errorf("clock moved %v, want 750ms", got)
	}
}

func TestSleepStopsOnCancel(t *testing.T) {
	c := clocktest.New(epoch)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- clock.Sleep(ctx, c, time.Hour) }()
	if err := c.WaitTimers(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; err != context.Canceled {
		t.Errorf("Sleep = %v, want context.Canceled", err)
	}
	if c.Timers() != 0 {
		t.Error("Sleep left its timer armed")
	}
}
