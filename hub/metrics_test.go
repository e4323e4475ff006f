package hub

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/mynagate/mynagate/event"
	"github.com/mynagate/mynagate/metrics"
	"github.com/mynagate/mynagate/sync/uplink"
)

// TestMetricsGolden pins the hub's series for a fixed overview and runs the
// Prometheus linter over them.
func TestMetricsGolden(t *testing.T) {
	at := time.Date(2026, 12, 1, 18, 0, 0, 0, time.UTC)
	st, _ := json.Marshal(uplink.Status{Site: "渋谷", Gate: "g\"1", Online: true, Backlog: 3, OldestUnsentS: 1.5, AwaitingBroker: 1, AwaitingHub: 2})
	v := View{
		Gates: []GateView{{GateStats: GateStats{Site: "渋谷", Gate: "g\"1", Events: 10, Admits: 7, Denies: 3, Duplicates: 2, Offline: 1, Conflicts: 1,
			ByReason: map[string]uint64{"admit/admit": 7, "deny/not_listed": 2, "deny/revoked": 1}},
			Status: &GateStatus{Status: st, ReceivedAt: at}},
			{GateStats: GateStats{Site: "渋谷", Gate: "old", Events: 4, Admits: 3, Denies: 1}}},
		Sites: []SiteView{{Site: "渋谷", Inside: 4, Events: 14}},
		Lists: []ListInfo{{Site: "渋谷", List: "whitelist", Version: 7}},
		At:    at,
	}
	r := metrics.NewBare()
	declareMetrics(r, func() (View, error) { return v, nil }, slog.New(slog.DiscardHandler))
	var got bytes.Buffer
	if err := r.WriteText(&got); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "metrics.golden.txt")
	if os.Getenv("UPDATE_GOLDEN") == "1" {
		os.WriteFile(path, got.Bytes(), 0o644)
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (UPDATE_GOLDEN=1 creates it)", err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Fatalf("metrics changed:\n%s\nwant:\n%s", got.Bytes(), want)
	}
	problems, err := promlint.New(bytes.NewReader(got.Bytes())).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}

// TestMetricsEndpointLints scrapes a running hub's /metrics, standard
// collectors included, through the Prometheus linter.
func TestMetricsEndpointLints(t *testing.T) {
	cfg := testConfig(t)
	h := startHub(t, cfg)
	st := h.Store()
	e := tap(1, "g1", event.KindEntry, time.Now())
	e.Seq = 1
	b, _ := json.Marshal(e)
	if _, err := st.Ingest(context.Background(), "stadium", "g1", b, time.Now()); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`mynagate_hub_events_total{decision="admit",gate="g1",reason="admit",site="stadium"} 1`, `mynagate_hub_refused_total{reason="login"} 0`, "go_build_info", "process_cpu_seconds_total"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s:\n%s", want, body)
		}
	}
	problems, err := promlint.New(bytes.NewReader(body)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}

// FuzzIngest feeds arbitrary payloads to the store: nothing invalid is stored,
// nothing panics.
func FuzzIngest(f *testing.F) {
	e := tap(1, "g1", event.KindEntry, time.Date(2026, 12, 1, 18, 0, 0, 0, time.UTC))
	e.Seq = 1
	b, _ := json.Marshal(e)
	f.Add(b)
	f.Add([]byte(`{"id":"x","seq":1,"at":"2026-01-01T00:00:00Z","decision":"deny","kind":"annul","ref":"y"}`))
	st, err := OpenStore(filepath.Join(f.TempDir(), "hub.db"), nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	f.Fuzz(func(t *testing.T, payload []byte) {
		_, err := st.Ingest(context.Background(), "s", "g", payload, time.Now())
		if _, derr := event.Decode(payload); (derr == nil) != (err == nil) {
			t.Fatalf("ingest error %v, decode error %v", err, derr)
		}
	})
}
