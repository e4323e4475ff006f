package buzzer_test

import (
	"context"
	"fmt"

	"github.com/mynagate/mynagate/hw/buzzer"
	"github.com/mynagate/mynagate/hw/clock/clocktest"
	"github.com/mynagate/mynagate/hw/pins"
	"github.com/mynagate/mynagate/hw/pins/pinstest"
	"github.com/mynagate/mynagate/hw/signal"
)

func Example() {
	// At a gate: p, err := pins.ByName("GPIO18", "hw.buzzer.pin") and clock.Real{}.
	clk := clocktest.New(epoch)
	p := pinstest.NewRecorder("GPIO18", clk)
	out, err := pins.NewOut(p, false)
	if err != nil {
		fmt.Println(err)
		return
	}
	p.Reset()
	b, err := buzzer.New(out, signal.Timing{ShortMS: 100}, clk)
	if err != nil {
		fmt.Println(err)
		return
	}
	_ = clk.Run(func() error { return b.Signal(context.Background(), signal.Admit) })
	fmt.Println(p.Changes())
	// Output: [+0s High +100ms Low]
}
