package hub

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/mynagate/mynagate/event"
	"github.com/mynagate/mynagate/internal/browsertest"
	"github.com/mynagate/mynagate/internal/mqtttest"
	"github.com/mynagate/mynagate/internal/testenv"
)

// TestBenchTapToOffice measures tap_to_office_ms_p50 and _p95: a shelter
// check-in recorded in a station's outbox until the office page open in
// headless Chromium shows the shelter's new count, through the embedded
// broker and the hub's store, pushed by /api/shelters/live.
func TestBenchTapToOffice(t *testing.T) {
	if os.Getenv("MYNAGATE_BENCH") != "1" {
		t.Skip("benchmark; set MYNAGATE_BENCH=1")
	}
	chromium := testenv.LookPath(t, "chromium", "chromium")
	cfg := testConfig(t)
	cfg.HTTP = fmt.Sprintf("127.0.0.1:%d", mqtttest.FreePort(t))
	h := startHub(t, cfg)
	g := startBrowserGate(t, cfg, "es2-a", false, map[string]string{"journal": "ok"})
	checkin := func() {
		g.seq++
		e := tap(g.seq, "es2-a", event.KindCheckin, time.Now())
		e.Place = "es2"
		if err := g.ob.Append(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	checkin()
	waitFor(t, "the first check-in at the hub", func() bool { return gateStats(t, h, "es2-a").Events == 1 })
	b := browsertest.Open(t, chromium, "http://"+cfg.HTTP+"/office?site=stadium", 1200)
	waitFor(t, "the page", func() bool { return b.Eval(officeInside("es2")) == "1" })
	n := 30
	if os.Getenv("BENCH_QUICK") == "1" {
		n = 10
	}
	var ms []float64
	for i := range n {
		start := time.Now()
		checkin()
		want := fmt.Sprint(i + 2)
		deadline := start.Add(30 * time.Second)
		for b.Eval(officeInside("es2")) != want {
			if time.Now().After(deadline) {
				t.Fatalf("the office page did not show check-in %d within 30 s", i+2)
			}
			time.Sleep(10 * time.Millisecond)
		}
		ms = append(ms, float64(time.Since(start).Microseconds())/1000)
	}
	slices.Sort(ms)
	fmt.Printf("BENCH tap_to_office_ms_p50 %.0f ms checkins=%d outbox -> embedded broker -> hub store -> open Chromium office page redrawn (pushed over /api/shelters/live)\n", ms[n/2], n)
	fmt.Printf("BENCH tap_to_office_ms_p95 %.0f ms checkins=%d same path\n", ms[n*95/100], n)
}

// TestBenchSheltersView measures hub_shelters_view_ms: the office view (counts,
// rosters, series) computed afresh from a municipality's 100 000 shelter
// events after a change, as every redraw after a new record does.
func TestBenchSheltersView(t *testing.T) {
	if os.Getenv("MYNAGATE_BENCH") != "1" {
		t.Skip("benchmark; set MYNAGATE_BENCH=1")
	}
	st := openTestStore(t)
	n := 100_000
	if os.Getenv("BENCH_QUICK") == "1" {
		n = 20_000
	}
	done := make(chan error, n)
	places := []string{"es1", "es2", "ms1", "ms2", "hs1"}
	for i := range n {
		// 20 000 residents checking in, moving and out across five shelters.
		kind := event.KindCheckin
		if i%4 == 3 {
			kind = event.KindCheckout
		}
		e := stap(uint64(i+1), "station", places[(i/7)%len(places)], kind, fmt.Sprintf("s:R-%d", i%20_000), 0,
			func(e *event.Event) { e.At = shelterT0.Add(time.Duration(i) * time.Second) })
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		st.IngestThen("city", "station", b, time.Now(), func(_ Ingested, err error) { done <- err })
	}
	for range n {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	var ms []float64
	for i := range 5 {
		st.changes.Add(1) // as a new record would
		start := time.Now()
		v, err := st.Shelters("city")
		if err != nil {
			t.Fatal(err)
		}
		ms = append(ms, float64(time.Since(start).Microseconds())/1000)
		if i == 0 && v.Events != n {
			t.Fatalf("view of %d events, want %d", v.Events, n)
		}
	}
	slices.Sort(ms)
	fmt.Printf("BENCH hub_shelters_view_ms %.0f ms events=%d median of 5 recomputations after a change (counts, rosters, series)\n", ms[2], n)
}
