package pinstest_test

import (
	"fmt"
	"time"

	"periph.io/x/conn/v3/gpio"

	"github.com/mynagate/mynagate/hw/clock/clocktest"
	"github.com/mynagate/mynagate/hw/pins/pinstest"
)

func ExampleRecorder() {
	clk := clocktest.New(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
	r := pinstest.NewRecorder("GPIO17", clk)
	_ = r.Out(gpio.High)
	clk.Advance(500 * time.Millisecond)
	_ = r.Out(gpio.Low)
	fmt.Println(r.Changes())
	// Output: [+0s High +500ms Low]
}
