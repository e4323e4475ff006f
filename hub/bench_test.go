package hub

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mynagate/mynagate/event"
	"github.com/mynagate/mynagate/hub/hubtest"
	"github.com/mynagate/mynagate/internal/browsertest"
	"github.com/mynagate/mynagate/internal/mqtttest"
	"github.com/mynagate/mynagate/internal/testenv"
	"github.com/mynagate/mynagate/offline/cardkey"
	"github.com/mynagate/mynagate/sync/outbox"
	"github.com/mynagate/mynagate/sync/uplink"
)

// Benchmarks for scripts/bench (DESIGN.md §7); they run only with
// MYNAGATE_BENCH=1 and print "BENCH name value unit note" lines.

// TestBenchHubIngest measures hub_ingest_events_per_s end to end (a gate's
// backlog through the embedded broker into the hub's store, deduplicated) and
// hub_store_ingest_events_per_s (the store alone, from many goroutines, a tenth
// of them duplicates).
func TestBenchHubIngest(t *testing.T) {
	if os.Getenv("MYNAGATE_BENCH") != "1" {
		t.Skip("benchmark; set MYNAGATE_BENCH=1")
	}
	const n = 20000
	now := time.Now()

	st, err := OpenStore(filepath.Join(t.TempDir(), "hub.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("BENCH hub_store_ingest_events_per_s %.0f events/s events=%d duplicates=%d 64 concurrent writers, bbolt fsync\n",
		storeIngestRate(t, st, n, now), n, n/10)
	st.Close()

	for _, mode := range []string{"embedded", "mosquitto"} {
		cfg := testConfig(t)
		note := "embedded mochi broker, fsync before PUBACK, receipts"
		name := "hub_ingest_events_per_s"
		if mode == "mosquitto" {
			b := mqtttest.StartDefault(t)
			cfg.Listen, cfg.Broker = "", b.Addr()
			note = "mosquitto on its default settings, end-to-end receipts"
			name = "drain_to_hub_store_events_per_s"
		}
		rate := drainGates(t, cfg, n, now)
		fmt.Printf("BENCH %s %.0f events/s events=%d gates=4 gate backlogs -> %s -> hub store, until every gate's outbox is empty, loopback\n", name, rate, n, note)
	}
}

// TestBenchTapToHubStore measures tap_to_hub_store_ms_p50 and _p95: from a
// decided tap handed to the gate's journal (before Append, so the gate's fsync
// counts) to the event in the hub's store, one
// tap at a time, online, loopback, through Mosquitto on its default settings
// (and, as tap_to_hub_store_embedded_ms_*, the embedded broker).
func TestBenchTapToHubStore(t *testing.T) {
	if os.Getenv("MYNAGATE_BENCH") != "1" {
		t.Skip("benchmark; set MYNAGATE_BENCH=1")
	}
	const taps = 300
	for _, mode := range []string{"mosquitto", "embedded"} {
		cfg := testConfig(t)
		name := "tap_to_hub_store_embedded_ms"
		if mode == "mosquitto" {
			b := mqtttest.StartDefault(t)
			cfg.Listen, cfg.Broker = "", b.Addr()
			name = "tap_to_hub_store_ms"
		}
		// Provisioned before the hub starts, so that the first tap is not
		// refused as coming from an unknown gate.
		account := gateAccount(t, cfg, "stadium", "g1")
		// The warm-up tap may reach Mosquitto before the hub's SUBSCRIBE:
		// sent again after ConfirmTimeout, short so as to be within waitFor.
		account.ConfirmTimeout = 2 * time.Second
		h := startHub(t, cfg)
		ob, err := outbox.Open(filepath.Join(t.TempDir(), "outbox.db"), outbox.Options{})
		if err != nil {
			t.Fatal(err)
		}
		up, err := uplink.New(account, ob, nil)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { up.Run(ctx); close(done) }()
		stored := func(id string) bool {
			_, ok, err := h.Store().Event(id)
			if err != nil {
				t.Fatal(err)
			}
			return ok
		}
		// Warm up: the first tap waits for the hub's subscription.
		warm := tap(-1, "g1", event.KindEntry, time.Now())
		if err := ob.Append(ctx, warm); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the first tap at the hub", func() bool { return stored(warm.ID) })
		lat := make([]time.Duration, 0, taps)
		for i := range taps {
			start := time.Now()
			e := tap(i, "g1", event.KindEntry, start)
			if err := ob.Append(ctx, e); err != nil {
				t.Fatal(err)
			}
			for !stored(e.ID) {
				time.Sleep(200 * time.Microsecond)
			}
			lat = append(lat, time.Since(start))
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
		<-done
		ob.Close()
		slices.Sort(lat)
		for _, q := range []struct {
			name string
			at   float64
		}{{"p50", 0.50}, {"p95", 0.95}} {
			d := lat[int(q.at*float64(len(lat)-1))]
			fmt.Printf("BENCH %s_%s %.1f ms taps=%d one tap at a time, journaled on the gate -> in the hub's store, %s, loopback\n",
				name, q.name, float64(d.Microseconds())/1000, taps, mode)
		}
	}
}

// drainGates fills four gates' outboxes with n events in all, starts their
// uplinks at once and returns the rate at which the hub stored them. The
// embedded broker stores each event before acknowledging it, one gate's events
// one after the other, so the hub's group commit gains from gates in parallel.
func drainGates(t *testing.T, cfg *Config, n int, now time.Time) float64 {
	const gates = 4
	h := startHub(t, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var ups []*uplink.Uplink
	var obs []*outbox.Outbox
	for g := range gates {
		gate := fmt.Sprintf("g%d", g)
		ob, err := outbox.Open(filepath.Join(t.TempDir(), "outbox.db"), outbox.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer ob.Close()
		for i := 0; i < n/gates; i += 500 {
			var wg sync.WaitGroup
			for j := i; j < i+500; j++ {
				wg.Go(func() {
					if err := ob.Append(ctx, tap(j, gate, event.KindEntry, now)); err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
		}
		up, err := uplink.New(gateAccount(t, cfg, "stadium", gate), ob, nil)
		if err != nil {
			t.Fatal(err)
		}
		ups, obs = append(ups, up), append(obs, ob)
	}
	// With an external broker the hub's subscription must exist before the
	// gates publish: wait for its session by watching a probe status.
	probe := gateAccount(t, cfg, "stadium", "probe")
	waitFor(t, "hub subscribed", func() bool {
		hubtest.Publish(t, probe, cfg.Prefix+"/stadium/probe/status", []byte(`{"site":"stadium","gate":"probe"}`), false)
		return gateStats(t, h, "probe").Status != nil
	})
	start := time.Now()
	for _, up := range ups {
		go up.Run(ctx)
	}
	// Drained means receipted: every gate's outbox is empty, so every
	// event is in the hub's store and the gate knows it.
	for {
		left := 0
		for _, ob := range obs {
			k, _ := ob.Backlog()
			left += k
		}
		if left == 0 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	elapsed := time.Since(start)
	v, err := h.Store().View()
	if err != nil {
		t.Fatal(err)
	}
	var total uint64
	for _, g := range v.Gates {
		total += g.Events
	}
	if total != uint64(n) {
		t.Fatalf("drained gates, but the store holds %d of %d events", total, n)
	}
	return float64(n) / elapsed.Seconds()
}

// TestBenchEnrolImport measures hub_enrol_import_1m_s: a 1,000,000-row
// enrolment CSV (by issuer key id and serial, so every row is keyed with the
// card-key secret) read, checked and imported into a list of 1,000,000
// entries of which it changes a tenth, as gatehub enroll import does.
func TestBenchEnrolImport(t *testing.T) {
	if os.Getenv("MYNAGATE_BENCH") != "1" {
		t.Skip("benchmark; set MYNAGATE_BENCH=1")
	}
	const n = 1_000_000
	dir := t.TempDir()
	keyer := cardkey.NewSoftware([]byte("0123456789abcdef0123456789abcdef"))
	write := func(name, prefix string, changed int) string {
		var b bytes.Buffer
		b.WriteString("issuer_key_id,serial,service_id,kind,valid_from,valid_until,zones,seat,group\n")
		for i := range n {
			p := "T-"
			if i < changed {
				p = prefix
			}
			fmt.Fprintf(&b, "8c4d2a1f0b7e6d5c4b3a29180706050403020100,%X,%s%07d,ticket,2026-12-01T17:00:00+09:00,2026-12-01T23:00:00+09:00,north;east,1階 A列 %d番,G-%d\n",
				i+1, p, i, i%50+1, i/4)
		}
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	lists := filepath.Join(dir, "lists.db")
	run := func(path string) time.Duration {
		start := time.Now()
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		e, err := ParseEnrolCSV(context.Background(), f, keyer, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ImportEnrolment(context.Background(), lists, "stadium", "whitelist", e, ImportOptions{Replace: true}); err != nil {
			t.Fatal(err)
		}
		return time.Since(start)
	}
	first := run(write("first.csv", "T-", 0))
	again := run(write("again.csv", "U-", n/10))
	fmt.Printf("BENCH hub_enrol_import_1m_s %.1f s rows=%d by issuer_key_id+serial into an empty list, cpus=%d\n", first.Seconds(), n, runtime.NumCPU())
	fmt.Printf("BENCH hub_enrol_reimport_1m_s %.1f s rows=%d over a 1M list, a tenth changed\n", again.Seconds(), n)
}

// TestBenchTapToDashboard measures tap_to_dashboard_ms_p50 and _p95: a tap
// recorded in a gate's outbox until the dashboard open in headless Chromium
// shows it (count and chart), through the embedded broker and the hub's
// store, pushed by /api/live.
func TestBenchTapToDashboard(t *testing.T) {
	if os.Getenv("MYNAGATE_BENCH") != "1" {
		t.Skip("benchmark; set MYNAGATE_BENCH=1")
	}
	chromium := testenv.LookPath(t, "chromium", "chromium")
	cfg := testConfig(t)
	cfg.HTTP = fmt.Sprintf("127.0.0.1:%d", mqtttest.FreePort(t))
	h := startHub(t, cfg)
	g1 := startBrowserGate(t, cfg, "g1", false, map[string]string{"journal": "ok"})
	g1.tap(t, "g1", event.Admit, false)
	waitFor(t, "the first tap at the hub", func() bool { return gateStats(t, h, "g1").Events == 1 })
	b := browsertest.Open(t, chromium, "http://"+cfg.HTTP+"/?lang=en", 1200)
	waitFor(t, "the page", func() bool { return b.Eval(gateCell("g1", 7)) == "1" })
	const n = 30
	var ms []float64
	for i := range n {
		d := event.Admit
		if i%3 == 0 {
			d = event.Deny
		}
		ms = append(ms, float64(dashboardTap(t, b, g1, d).Microseconds())/1000)
	}
	slices.Sort(ms)
	fmt.Printf("BENCH tap_to_dashboard_ms_p50 %.0f ms taps=%d outbox -> embedded broker -> hub store -> /api/live -> open Chromium page redrawn\n", ms[n/2], n)
	fmt.Printf("BENCH tap_to_dashboard_ms_p95 %.0f ms taps=%d same path\n", ms[n*95/100], n)
}

// storeIngestRate ingests n events of one gate into st from 64 concurrent
// writers, the last tenth repeating earlier ids, and returns events/s.
func storeIngestRate(t *testing.T, st *Store, n int, now time.Time) float64 {
	t.Helper()
	payloads := make([][]byte, n)
	for i := range payloads {
		e := tap(i%(n-n/10), "g1", event.KindEntry, now) // the last tenth repeat earlier ids
		e.Seq = uint64(i + 1)
		payloads[i], _ = json.Marshal(e)
	}
	start := time.Now()
	var wg sync.WaitGroup
	for w := range 64 {
		wg.Go(func() {
			for i := w; i < n; i += 64 {
				if _, err := st.Ingest(context.Background(), "stadium", "g1", payloads[i], time.Now()); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	return float64(n) / time.Since(start).Seconds()
}
