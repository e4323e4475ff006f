package turnstile_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"

	"github.com/mynagate/mynagate/hw/clock/clocktest"
	"github.com/mynagate/mynagate/hw/pins"
	"github.com/mynagate/mynagate/hw/turnstile"
)

// The agent opens the lane for an admitted entry and annuls it when nobody passes.
func Example() {
	clk := clocktest.New(epoch)
	relay, _ := pins.NewOut(&gpiotest.Pin{N: "GPIO17"}, true)
	sensor, _ := pins.NewIn(&gpiotest.Pin{N: "GPIO27", EdgesChan: make(chan gpio.Level)}, true)
	ts := turnstile.New(relay, sensor, turnstile.Options{Clock: clk, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	defer ts.Close()

	done := make(chan error)
	go func() { done <- ts.Open(context.Background(), "01JDQ8Z7ENTRY") }()
	_ = clk.WaitTimers(context.Background(), 2) // the pass timer and the relay pulse
	clk.Advance(turnstile.DefaultPassTimeout)   // the pulse ends; nobody walks through
	<-done
	res := <-ts.Results()
	if res.Outcome == turnstile.NotPassed {
		fmt.Println("annul", res.EntryID)
	}
	// Output: annul 01JDQ8Z7ENTRY
}
