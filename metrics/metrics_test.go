package metrics

import (
	"flag"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

func TestWriteTextGolden(t *testing.T) {
	r := New()
	r.Counter("mynagate_taps_total", "Decided taps.", "decision", "reason")
	r.Add("mynagate_taps_total", 1, "deny", "not_listed")
	r.Add("mynagate_taps_total", 2, "admit", "admit")
	r.Add("mynagate_taps_total", 1, "deny", "not_listed")
	r.Gauge("mynagate_backlog_events", "Events waiting to be published.", Value(func() float64 { return 17 }))
	r.Gauge("mynagate_list_version", "List version in force.", func() []Sample {
		return []Sample{{Labels: []string{"list", "whitelist"}, Value: 42}}
	})
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

func TestUndeclaredCounterPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic")
		}
	}()
	New().Add("nope", 1)
}
