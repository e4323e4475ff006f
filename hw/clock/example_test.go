package clock_test

import (
	"context"
	"fmt"
	"time"

	"github.com/mynagate/mynagate/hw/clock"
)

func ExampleSleep() {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	// A cancelled context ends the wait at once, without waiting the hour.
	fmt.Println(clock.Sleep(ctx, clock.Real{}, time.Hour))
	// Output: context canceled
}
