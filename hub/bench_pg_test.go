package hub

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mynagate/mynagate/event"
	"github.com/mynagate/mynagate/hub/hubtest"
	"github.com/mynagate/mynagate/internal/mqtttest"
	"github.com/mynagate/mynagate/internal/pgtest"
	"github.com/mynagate/mynagate/sync/outbox"
	"github.com/mynagate/mynagate/sync/uplink"
)

// TestBenchHubIngestPG measures hub_ingest_pg_events_per_s_1 and _3: four
// gates' backlogs of 5,000 taps each through Mosquitto (shared
// subscriptions) into a PostgreSQL store by one and by three hub instances
// (child processes), until every gate's outbox is empty; and
// hub_store_ingest_pg_events_per_s, the PostgreSQL store alone, as
// hub_store_ingest_events_per_s measures bbolt's.
func TestBenchHubIngestPG(t *testing.T) {
	if os.Getenv("MYNAGATE_BENCH") != "1" {
		t.Skip("benchmark; set MYNAGATE_BENCH=1")
	}
	const gates, each = 4, 5000
	st := openPGTestStore(t)
	const n = 20000
	fmt.Printf("BENCH hub_store_ingest_pg_events_per_s %.0f events/s events=%d duplicates=%d 64 concurrent writers, PostgreSQL on loopback (fsync on)\n",
		storeIngestRate(t, st, n, time.Now()), n, n/10)

	for _, instances := range []int{1, 3} {
		url := pgtest.URL(t)
		r := newRig(t, mqtttest.StartDefault(t))
		r.cfg.DatabaseURL, r.cfg.SharedGroup = url, "hubs"
		ctx, cancel := context.WithCancel(context.Background())
		var ups []*uplink.Uplink
		var obs []*outbox.Outbox
		now := time.Now()
		for g := range gates {
			name := fmt.Sprintf("g%d", g)
			ob, err := outbox.Open(filepath.Join(t.TempDir(), "outbox.db"), outbox.Options{})
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < each; i += 500 {
				var wg sync.WaitGroup
				for j := i; j < i+500; j++ {
					wg.Go(func() {
						if err := ob.Append(ctx, tap(j, name, event.KindEntry, now)); err != nil {
							t.Error(err)
						}
					})
				}
				wg.Wait()
			}
			up, err := uplink.New(r.account(t, name), ob, nil)
			if err != nil {
				t.Fatal(err)
			}
			ups, obs = append(ups, up), append(obs, ob)
		}
		probe := r.account(t, "probe")
		for i := range instances {
			cfg := *r.cfg
			cfg.Instance = fmt.Sprintf("h%d", i+1)
			b, _ := json.Marshal(&cfg)
			rr := *r
			rr.cfgPath = filepath.Join(t.TempDir(), "gatehub.json")
			if err := os.WriteFile(rr.cfgPath, b, 0o600); err != nil {
				t.Fatal(err)
			}
			rr.startHub(t)
		}
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		// Every instance subscribed: each probe status goes to one of
		// them; wait until a run of them was stored.
		seen := 0
		waitFor(t, "the hubs subscribed", func() bool {
			hubtest.Publish(t, probe, r.cfg.Prefix+"/stadium/probe/status", fmt.Appendf(nil, `{"n":%d}`, seen), false)
			var n int
			_ = conn.QueryRow(ctx, "SELECT count(*) FROM gate_status WHERE gate = 'probe'").Scan(&n)
			if n > 0 {
				seen++
			}
			return seen >= 10*instances
		})
		start := time.Now()
		for _, up := range ups {
			go up.Run(ctx)
		}
		for {
			left := 0
			for _, ob := range obs {
				k, _ := ob.Backlog()
				left += k
			}
			if left == 0 {
				break
			}
			if time.Since(start) > 5*time.Minute {
				t.Fatalf("%d events still on the gates after 5 minutes", left)
			}
			time.Sleep(20 * time.Millisecond)
		}
		rate := float64(gates*each) / time.Since(start).Seconds()
		var stored int
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM events").Scan(&stored); err != nil || stored != gates*each {
			t.Fatalf("the store holds %d events (%v), want %d", stored, err, gates*each)
		}
		conn.Close(ctx)
		cancel()
		for _, ob := range obs {
			ob.Close()
		}
		fmt.Printf("BENCH hub_ingest_pg_events_per_s_%d %.0f events/s events=%d gates=%d instances=%d gate backlogs -> mosquitto (shared subscriptions) -> hub instances -> one PostgreSQL (fsync on), until every gate's outbox is empty, loopback\n",
			instances, rate, gates*each, gates, instances)
	}
}
