package metrics_test

import (
	"os"

	"github.com/mynagate/mynagate/metrics"
)

func ExampleRegistry() {
	r := metrics.NewBare()
	r.Counter("mynagate_taps_total", "Decided taps.", "decision", "reason")
	r.Add("mynagate_taps_total", 1, "admit", "admit")
	r.Gauge("mynagate_backlog_events", "Events waiting for the broker.", metrics.Value(func() float64 { return 3 }))
	r.WriteText(os.Stdout)
	// Output:
	// # HELP mynagate_backlog_events Events waiting for the broker.
	// # TYPE mynagate_backlog_events gauge
	// mynagate_backlog_events 3
	// # HELP mynagate_taps_total Decided taps.
	// # TYPE mynagate_taps_total counter
	// mynagate_taps_total{decision="admit",reason="admit"} 1
}
