package uplink

import (
	"context"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/mynagate/mynagate/internal/mqtttest"
)

// Benchmarks for scripts/bench (DESIGN.md §7). They run only with
// MYNAGATE_BENCH=1 and print "BENCH name value unit note" lines:
//
//	MYNAGATE_BENCH=1 go test -count=1 -run '^TestBench' -v ./sync/uplink ./sync/lists ./hub | grep '^BENCH'
func benchOnly(t *testing.T) {
	t.Helper()
	if os.Getenv("MYNAGATE_BENCH") != "1" {
		t.Skip("benchmark; set MYNAGATE_BENCH=1")
	}
}

// TestBenchOutboxDrain measures outbox_drain_events_per_s: a backlog published to
// mosquitto at QoS 1 and removed from the outbox on the receipts of a stand-in
// hub that keeps ids in memory (the uplink's own pace; the hub's store is
// measured by drain_to_hub_store_events_per_s in the hub package).
func TestBenchOutboxDrain(t *testing.T) {
	benchOnly(t)
	const n = 20000
	b := mqtttest.Start(t)
	mqtttest.StartReceipter(t, b.Addr(), DefaultPrefix)
	ob := newOutbox(t)
	for i := 1; i <= n; i += 1000 {
		errs := make(chan error, 1000)
		for j := i; j < i+1000; j++ {
			go func() { errs <- ob.Append(context.Background(), testEvent(j)) }()
		}
		for range 1000 {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
	}
	start := time.Now()
	run(t, Config{Broker: b.Addr(), Site: "stadium", Gate: "g1"}, ob)
	for {
		if k, _ := ob.Backlog(); k == 0 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	el := time.Since(start)
	fmt.Printf("BENCH outbox_drain_events_per_s %.0f events/s backlog=%d QoS1 mosquitto loopback, receipted by an in-memory stand-in hub, including connect\n", float64(n)/el.Seconds(), n)
}

// TestBenchTapToSubscriber measures tap_to_subscriber_ms_p95: Append (fsync'd)
// until a subscriber on the loopback broker has the event, one tap at a time.
func TestBenchTapToSubscriber(t *testing.T) {
	benchOnly(t)
	const n = 500
	b := mqtttest.Start(t)
	sub := mqtttest.Subscribe(t, b.Addr(), "mynagate/v1/stadium/g1/events")
	mqtttest.StartReceipter(t, b.Addr(), DefaultPrefix)
	ob := newOutbox(t)
	up := run(t, Config{Broker: b.Addr(), Site: "stadium", Gate: "g1"}, ob)
	for !up.Online() {
		time.Sleep(time.Millisecond)
	}
	lat := make([]float64, 0, n)
	for i := 1; i <= n; i++ {
		e := testEvent(i)
		e.At = time.Now()
		start := time.Now()
		if err := ob.Append(context.Background(), e); err != nil {
			t.Fatal(err)
		}
		sub.WaitN(i, 10*time.Second)
		lat = append(lat, float64(time.Since(start).Microseconds())/1000)
		time.Sleep(2 * time.Millisecond) // taps are seconds apart in life
	}
	slices.Sort(lat)
	p := func(q float64) float64 { return lat[int(q*float64(len(lat)-1))] }
	fmt.Printf("BENCH tap_to_subscriber_ms_p50 %.2f ms taps=%d fsync'd append to subscriber, mosquitto loopback\n", p(0.50), n)
	fmt.Printf("BENCH tap_to_subscriber_ms_p95 %.2f ms taps=%d fsync'd append to subscriber, mosquitto loopback\n", p(0.95), n)
}
