package hw_test

import (
	"context"
	"fmt"
	"os"

	"github.com/mynagate/mynagate/hw"
	"github.com/mynagate/mynagate/hw/signal"
)

// Without pins, as in the demo, the gate signals on the console.
func ExampleOpen() {
	g, err := hw.OpenWith(hw.Config{}, hw.Options{Console: os.Stdout})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer g.Close()
	_ = g.Signal(context.Background(), signal.Admit)
	// Output: ♪ beep (admit)
}

// The doctor prints one line per part.
func ExampleCheck() {
	cfg := hw.Config{Relay: &hw.RelayConfig{PinConfig: hw.PinConfig{Pin: "GPIO_EXAMPLE_RELAY"}}}
	for _, f := range hw.Check(context.Background(), cfg) {
		fmt.Printf("%-8s ok=%v\n", f.Part, f.OK)
	}
	// Output:
	// hw       ok=true
	// hw.relay ok=false
}
