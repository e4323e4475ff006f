package signal_test

import (
	"context"
	"fmt"
	"os"

	"github.com/mynagate/mynagate/hw/signal"
)

func ExampleConsole() {
	c := signal.NewConsole(os.Stdout)
	_ = c.Signal(context.Background(), signal.Deny)
	// Output: ♪ beep beep beep (deny)
}

func ExampleTiming_Steps() {
	steps, _ := signal.Timing{ShortMS: 80}.Steps(signal.Admit)
	fmt.Println(steps)
	// Output: [80ms]
}
