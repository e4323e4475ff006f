package hub

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mynagate/mynagate/event"
	"github.com/mynagate/mynagate/sync/uplink"
)

// TestMetricsGolden pins the Prometheus text output for a fixed view.
func TestMetricsGolden(t *testing.T) {
	at := time.Date(2026, 12, 1, 18, 0, 0, 0, time.UTC)
	st, _ := json.Marshal(uplink.Status{Site: "渋谷", Gate: "g\"1", Online: true, Backlog: 3, OldestUnsentS: 1.5})
	v := View{
		Gates: []GateView{{GateStats: GateStats{Site: "渋谷", Gate: "g\"1", Events: 10, Duplicates: 2, Offline: 1, Conflicts: 1},
			Status: &GateStatus{Status: st, ReceivedAt: at}}},
		Sites: []SiteView{{Site: "渋谷", Inside: 4, Events: 10}},
		Lists: []ListInfo{{Site: "渋谷", List: "whitelist", Version: 7}},
		At:    at,
	}
	var got bytes.Buffer
	WriteMetrics(&got, v)
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
