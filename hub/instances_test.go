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
	"github.com/mynagate/mynagate/sync/uplink"
)

// TestInstancesSharePostgres: three hub instances on one PostgreSQL store
// read four gates' events through Mosquitto's shared subscriptions (with the
// password and ACL files gatehub gate add writes); one
// instance is killed with SIGKILL in the middle of 20,000 taps. Every tap is
// stored once and every gate's backlog drains: what was in flight to the dead
// instance comes again from its gate and another instance stores and
// receipts it.
func TestInstancesSharePostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns child processes")
	}
	url := pgtest.URL(t)
	cfg := testConfig(t)
	cfg.Listen, cfg.Broker, cfg.MosquittoDir = "", "tcp://127.0.0.1:1", t.TempDir()
	cfg.DatabaseURL, cfg.SharedGroup = url, "hubs"
	names := []string{"g1", "g2", "g3", "g4"}
	accounts := map[string]uplink.Config{}
	// provisioned before the hubs start; "probe" finds when every instance
	// takes its share.
	for _, n := range append(names, "probe") {
		_, pw, err := AddGate(cfg.DataDir, "stadium", n, false, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		accounts[n] = uplink.Config{Site: "stadium", Gate: n, Prefix: cfg.Prefix, Username: GateUsername("stadium", n), Password: pw, ClientID: GateClientID("stadium", n)}
	}
	if err := WriteMosquittoFiles(cfg); err != nil {
		t.Fatal(err)
	}
	m := mqtttest.StartDefault(t, func(testing.TB, string) string {
		return "allow_anonymous false\npassword_file " + filepath.Join(cfg.MosquittoDir, MosquittoPasswd) + "\nacl_file " + filepath.Join(cfg.MosquittoDir, MosquittoACL)
	})
	cfg.Broker = m.Addr()
	r := &rig{cfg: cfg, mosquitto: m, accounts: accounts}
	for n, c := range accounts {
		c.Broker = m.Addr()
		accounts[n] = c
	}
	var hubs []*hubProc
	for i := range 3 {
		cfg := *r.cfg
		cfg.Instance = fmt.Sprintf("h%d", i+1)
		b, err := json.Marshal(&cfg)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "gatehub.json")
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		rr := *r
		rr.cfgPath = path
		hubs = append(hubs, rr.startHub(t))
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	storedBy := func() map[string]int {
		rows, err := conn.Query(ctx, "SELECT instance, count(*)::int FROM events WHERE gate <> 'probe' GROUP BY instance")
		if err != nil {
			t.Fatal(err)
		}
		by := map[string]int{}
		var name string
		var n int
		if _, err := pgx.ForEachRow(rows, []any{&name, &n}, func() error { by[name] = n; return nil }); err != nil {
			t.Fatal(err)
		}
		return by
	}
	probes := 0
	waitFor(t, "every instance to store probe events", func() bool {
		probes++
		e := tap(probes, "probe", event.KindEntry, time.Now())
		e.Seq = uint64(probes)
		b, _ := json.Marshal(e)
		hubtest.Publish(t, accounts["probe"], cfg.Prefix+"/stadium/probe/events", b, false)
		var n int
		// Until the first instance made the schema, there is no table.
		err := conn.QueryRow(ctx, "SELECT count(DISTINCT instance)::int FROM events WHERE gate = 'probe'").Scan(&n)
		return err == nil && n == 3
	})
	const each = 5000
	var gates []*testGate
	for _, n := range names {
		gates = append(gates, r.startGate(t, n, filepath.Join(t.TempDir(), n+".db"), nil))
	}
	var wg sync.WaitGroup
	for _, g := range gates {
		wg.Go(func() { g.burst(t, 0, each) })
	}
	waitFor(t, "5,000 taps receipted, each instance storing", func() bool {
		n := 0
		for _, g := range gates {
			n += g.receipted()
		}
		return n >= 5000 && len(storedBy()) == 3
	})
	hubs[1].kill()
	wg.Wait()
	waitDrained(t, 3*time.Minute, gates...)
	hubs[0].stop()
	hubs[2].stop()
	t.Logf("events stored by instance: %v (h2 killed)", storedBy())

	rows, err := conn.Query(ctx, "SELECT id FROM events WHERE gate <> 'probe'")
	if err != nil {
		t.Fatal(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	stored := map[string]bool{}
	for _, id := range ids {
		stored[id] = true
	}
	for _, n := range names {
		for i := range each {
			if id := tap(i, n, event.KindEntry, time.Time{}).ID; !stored[id] {
				t.Fatalf("tap %s is not in the store", id)
			}
		}
	}
	if len(ids) != len(names)*each {
		t.Fatalf("the store holds %d events, want %d", len(ids), len(names)*each)
	}
	st := openPGStoreAt(t, url)
	v, err := st.View()
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Gates) != len(names)+1 {
		t.Fatalf("store knows %d gates, want %d and the probe", len(v.Gates), len(names))
	}
	for _, g := range v.Gates {
		if g.Gate == "probe" {
			continue
		}
		if g.Events != each {
			t.Fatalf("gate %s: the store counts %d distinct events, want %d", g.Gate, g.Events, each)
		}
		t.Logf("gate %s: %d stored, %d duplicates dropped by id", g.Gate, g.Events, g.Duplicates)
	}
}
