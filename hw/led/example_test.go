package led_test

import (
	"context"
	"fmt"

	"github.com/mynagate/mynagate/hw/clock/clocktest"
	"github.com/mynagate/mynagate/hw/led"
	"github.com/mynagate/mynagate/hw/pins"
	"github.com/mynagate/mynagate/hw/pins/pinstest"
	"github.com/mynagate/mynagate/hw/signal"
)

func Example() {
	// At a gate the pins come from pins.ByName and the clock is clock.Real{}.
	clk := clocktest.New(epoch)
	gp, rp := pinstest.NewRecorder("GPIO5", clk), pinstest.NewRecorder("GPIO6", clk)
	green, _ := pins.NewOut(gp, false)
	red, _ := pins.NewOut(rp, false)
	gp.Reset()
	s, err := led.New(green, red, nil, signal.Timing{}, clk)
	if err != nil {
		fmt.Println(err)
		return
	}
	_ = clk.Run(func() error { return s.Signal(context.Background(), signal.Admit) })
	fmt.Println("green:", gp.Changes())
	// Output: green: [+0s High +120ms Low]
}
