package clocktest_test

import (
	"context"
	"fmt"
	"time"

	"github.com/mynagate/mynagate/hw/clock"
	"github.com/mynagate/mynagate/hw/clock/clocktest"
)

func ExampleClock_Run() {
	c := clocktest.New(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
	_ = c.Run(func() error { return clock.Sleep(context.Background(), c, 10*time.Second) })
	fmt.Println(c.Now().Format(time.TimeOnly))
	// Output: 09:00:10
}
