package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/mynagate/mynagate/event"
	"github.com/mynagate/mynagate/hub"
	"github.com/mynagate/mynagate/hub/hubtest"
	"github.com/mynagate/mynagate/internal/pgtest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.StopAll()
	os.Exit(code)
}

// TestMigrateCommand: a hub's records, asked for from hub.db, then moved by
// gatehub migrate into PostgreSQL and asked for again, from the database with
// the hub stopped and through a hub running on it: the same answers. A second
// migration into the same database is refused.
func TestMigrateCommand(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "hub")
	ctx := context.Background()
	res := initHub(t, ctx, dir)
	cfg, err := hub.LoadConfig(res.Config)
	if err != nil {
		t.Fatal(err)
	}
	stop := startRun(t, ctx, res.Config)
	waitListening(t, cfg.Listen)
	north := provision(t, ctx, res.Config, "stadium", "north")
	at := time.Now().Add(-time.Hour).Truncate(time.Minute)
	for i := range 5 {
		e := event.Event{ID: ulid.MustNew(ulid.Timestamp(at.Add(time.Duration(i)*time.Minute)), ulid.DefaultEntropy()).String(), Seq: uint64(i + 1),
			At: at.Add(time.Duration(i) * time.Minute), Site: "stadium", Gate: "north", Lane: "1", Kind: event.KindEntry,
			Decision: event.Admit, Reason: event.ReasonAdmit, ServiceID: fmt.Sprintf("T-%d", i), Assurance: "pinless"}
		b, _ := json.Marshal(e)
		hubtest.Publish(t, north, "mynagate/v1/stadium/north/events", b, false)
	}
	answers := func() map[string]string {
		t.Helper()
		out := map[string]string{}
		for name, args := range map[string][]string{"json": {"--json"}, "csv": {"--csv"}, "counts": {"--counts", "--interval", "1h", "--json"}} {
			o, stderr, code := runCmd(t, ctx, append([]string{"events", "--config", res.Config}, args...)...)
			if code != 0 {
				t.Fatalf("events %v: %d %s", args, code, stderr)
			}
			out[name] = o
		}
		return out
	}
	deadline := time.Now().Add(30 * time.Second)
	for strings.Count(answers()["json"], "\n") != 5 {
		if time.Now().After(deadline) {
			t.Fatal("the hub never had the five events")
		}
		time.Sleep(50 * time.Millisecond)
	}
	stop()
	before := answers()

	url := pgtest.URL(t)
	out, stderr, code := runCmd(t, ctx, "migrate", "--config", res.Config, "--to", url)
	if code != 0 || !strings.Contains(out, "moved 5 events") {
		t.Fatalf("migrate: %d %s %s", code, out, stderr)
	}
	if _, stderr, code := runCmd(t, ctx, "migrate", "--config", res.Config, "--to", url); code == 0 || !strings.Contains(stderr, "already holds") {
		t.Fatalf("second migrate: %d %s", code, stderr)
	}
	// The config now names the database.
	var raw map[string]any
	b, err := os.ReadFile(res.Config)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	raw["database_url"] = url
	if b, err = json.Marshal(raw); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(res.Config, b, 0o600); err != nil {
		t.Fatal(err)
	}
	compare := func(how string, got map[string]string) {
		t.Helper()
		for k, v := range before {
			if got[k] != v {
				t.Errorf("%s %s differs from hub.db's:\n%s\n%s", how, k, got[k], v)
			}
		}
	}
	compare("PostgreSQL, hub stopped:", answers())
	startRun(t, ctx, res.Config)
	waitListening(t, cfg.Listen)
	deadline = time.Now().Add(30 * time.Second)
	for {
		got := answers()
		if got["json"] == before["json"] || time.Now().After(deadline) {
			compare("a hub running on PostgreSQL:", got)
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitListening waits for the hub's embedded broker at addr.
func waitListening(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the hub's broker never listened: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
