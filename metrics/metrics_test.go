package metrics

import (
	"flag"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

func TestWriteTextGolden(t *testing.T) {
	r := NewBare()
	r.Counter("mynagate_taps_total", "Decided taps.", "decision", "reason")
	r.Add("mynagate_taps_total", 1, "deny", "not_listed")
	r.Add("mynagate_taps_total", 2, "admit", "admit")
	r.Add("mynagate_taps_total", 1, "deny", "not_listed")
	r.Gauge("mynagate_backlog_events", "Events waiting to be published.", Value(func() float64 { return 17 }))
	r.Gauge("mynagate_list_version", "List version in force.", func() []Sample {
		return []Sample{{Labels: []string{"list", "whitelist"}, Value: 42}}
	})
	r.Histogram("mynagate_decision_seconds", "Card presented to decision.", []float64{0.1, 0.5}, "lane")
	r.Observe("mynagate_decision_seconds", 0.2, "north-1")
	var b strings.Builder
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	const golden = "testdata/gate.golden"
	if *update {
		os.MkdirAll("testdata", 0o755)
		os.WriteFile(golden, []byte(b.String()), 0o644)
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if b.String() != string(want) {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}
	rec := httptest.NewRecorder()
	r.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Body.String() != string(want) || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/plain; version=0.0.4") {
		t.Fatalf("handler: %q %q", rec.Header(), rec.Body.String())
	}
}

// TestStandardCollectorsLint: a full registry carries build_info, the Go
// runtime and the process, and passes the Prometheus linter.
func TestStandardCollectorsLint(t *testing.T) {
	r := New()
	r.Counter("mynagate_taps_total", "Decided taps.", "lane", "decision", "reason")
	r.Add("mynagate_taps_total", 1, "north-1", "admit", "admit")
	var b strings.Builder
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"go_build_info", "go_goroutines", "process_resident_memory_bytes", "mynagate_taps_total"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("exposition lacks %s", want)
		}
	}
	problems, err := promlint.New(strings.NewReader(b.String())).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}

func TestUndeclaredHistogramPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic")
		}
	}()
	NewBare().Observe("nope", 1)
}

func TestUndeclaredCounterPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic")
		}
	}()
	NewBare().Add("nope", 1)
}
