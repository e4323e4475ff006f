package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/mynagate/mynagate/event"
	"github.com/mynagate/mynagate/hub"
	"github.com/mynagate/mynagate/hub/hubtest"
)

// TestEventsCommand asks for the records while the hub runs (through its
// dashboard API, as hub.db is the running hub's) and after it stopped (from
// hub.db): the same answers.
func TestEventsCommand(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "hub")
	ctx := context.Background()
	res := initHub(t, ctx, dir, true)
	cfg, err := hub.LoadConfig(res.Config)
	if err != nil {
		t.Fatal(err)
	}
	listen := cfg.Listen
	stop := startRun(t, ctx, res.Config)
	defer stop()

	waitListening(t, listen)
	north := provision(t, ctx, res.Config, "stadium", "north")
	at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC) // 18:00 in Tokyo
	for i, d := range []event.Decision{event.Admit, event.Deny, event.Admit} {
		e := event.Event{ID: ulid.MustNew(ulid.Timestamp(at.Add(time.Duration(i)*time.Minute)), ulid.DefaultEntropy()).String(), Seq: uint64(i + 1),
			At: at.Add(time.Duration(i) * time.Minute), Site: "stadium", Gate: "north", Lane: "1", Kind: event.KindEntry,
			Decision: d, Reason: event.ReasonAdmit, ServiceID: fmt.Sprintf("T-%d", i), Assurance: "pinless"}
		if d == event.Deny {
			e.Reason = event.ReasonNotListed
		}
		b, _ := json.Marshal(e)
		hubtest.Publish(t, north, "mynagate/v1/stadium/north/events", b, false)
	}
	ask := func(args ...string) string {
		t.Helper()
		out, stderr, code := runCmd(t, ctx, append([]string{"events", "--config", res.Config}, args...)...)
		if code != 0 {
			t.Fatalf("events %v: %d %s", args, code, stderr)
		}
		return out
	}
	deadline := time.Now().Add(30 * time.Second)
	// The dashboard may still be starting: until it answers, the command
	// finds hub.db held by the hub and says so.
	for {
		out, _, code := runCmd(t, ctx, "events", "--config", res.Config, "--json")
		if code == 0 && strings.Count(out, "\n") == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the hub never had the three events")
		}
		time.Sleep(50 * time.Millisecond)
	}
	answers := func() map[string]string {
		return map[string]string{
			"json":   ask("--json"),
			"denied": ask("--json", "--decision", "deny"),
			"since":  ask("--json", "--since", "2026-12-01T18:01"),
			"csv":    ask("--csv"),
			"table":  ask(),
			"counts": ask("--counts", "--interval", "1h", "--json"),
		}
	}
	running := answers()
	stop()
	offline := answers()
	for k, v := range running {
		if offline[k] != v {
			t.Errorf("%s differs between the running hub's API and hub.db:\n%s\n%s", k, v, offline[k])
		}
	}
	if n := strings.Count(running["denied"], "\n"); n != 1 || !strings.Contains(running["denied"], "not_listed") {
		t.Errorf("--decision deny: %s", running["denied"])
	}
	if n := strings.Count(running["since"], "\n"); n != 2 {
		t.Errorf("--since 18:01 local: %s", running["since"])
	}
	recs, err := hub.ParseEventCSV(bytes.NewReader([]byte(running["csv"])))
	if err != nil || len(recs) != 3 || recs[0].At.Format(time.RFC3339) != "2026-12-01T18:00:00+09:00" {
		t.Errorf("--csv: %v %+v", err, recs)
	}
	if !strings.Contains(running["table"], "2026-12-01 18:00:00 JST") {
		t.Errorf("table not in Tokyo time:\n%s", running["table"])
	}
	var c hub.GateCount
	if err := json.Unmarshal([]byte(running["counts"]), &c); err != nil || c.Entries != 2 || c.Denied != 1 || c.From.Hour() != 18 {
		t.Errorf("--counts: %v %s", err, running["counts"])
	}
}
