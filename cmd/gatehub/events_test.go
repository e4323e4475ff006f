package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/mynagate/mynagate/event"
	"github.com/mynagate/mynagate/hub"
	"github.com/mynagate/mynagate/hub/hubtest"
	"github.com/mynagate/mynagate/internal/mqtttest"
)

// TestEventsCommand asks for the records while the hub runs (through its
// dashboard API, as hub.db is the running hub's) and after it stopped (from
// hub.db): the same answers.
func TestEventsCommand(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "hub")
	ctx := context.Background()
	res := initHub(t, ctx, dir)
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

// TestEventsBehindLogin runs gatehub events against a real gatehub run whose
// dashboard asks for a login (init sets users_file), on loopback over HTTP
// and on all addresses over TLS: the command reads through the local API
// token, which reads only; anyone else is refused.
func TestEventsBehindLogin(t *testing.T) {
	for _, tc := range []struct {
		name, host, scheme string
	}{
		{"loopback", "127.0.0.1", "http"},
		{"all addresses, TLS", "0.0.0.0", "https"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			dir := filepath.Join(t.TempDir(), "hub")
			httpAddr := fmt.Sprintf("%s:%d", tc.host, mqtttest.FreePort(t))
			out, stderr, code := runCmd(t, ctx, "init", "--listen", fmt.Sprintf("127.0.0.1:%d", mqtttest.FreePort(t)), "--http", httpAddr, "--json", dir)
			var res initResult
			if code != 0 || json.Unmarshal([]byte(out), &res) != nil {
				t.Fatalf("init: %d %s %s", code, out, stderr)
			}
			cfg, err := hub.LoadConfig(res.Config)
			if err != nil || cfg.UsersFile == "" {
				t.Fatalf("config: %v, users_file %q", err, cfg.UsersFile)
			}
			startRun(t, ctx, res.Config)
			waitListening(t, cfg.Listen)
			north := provision(t, ctx, res.Config, "stadium", "north")
			at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
			e := event.Event{ID: ulid.MustNew(ulid.Timestamp(at), ulid.DefaultEntropy()).String(), Seq: 1, At: at, Site: "stadium", Gate: "north",
				Lane: "1", Kind: event.KindEntry, Decision: event.Admit, Reason: event.ReasonAdmit, ServiceID: "T-1", Assurance: "pinless"}
			b, _ := json.Marshal(e)
			hubtest.Publish(t, north, "mynagate/v1/stadium/north/events", b, false)

			deadline := time.Now().Add(30 * time.Second)
			for {
				out, stderr, code = runCmd(t, ctx, "events", "--config", res.Config, "--json")
				if code == 0 && strings.Count(out, "\n") == 1 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("events never read the running hub: %d %s %s", code, out, stderr)
				}
				time.Sleep(50 * time.Millisecond)
			}
			if !strings.Contains(out, `"service_id":"T-1"`) {
				t.Fatalf("events: %s", out)
			}

			api, err := hub.NewAPIClient(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(api.Base, tc.scheme+"://") {
				t.Fatalf("the CLI asks %s, want %s", api.Base, tc.scheme)
			}
			tok, err := os.ReadFile(hub.APITokenFile(cfg.DataDir))
			if err != nil {
				t.Fatal(err)
			}
			if fi, _ := os.Stat(hub.APITokenFile(cfg.DataDir)); fi.Mode().Perm() != 0o600 {
				t.Errorf("the local API token is mode %v", fi.Mode().Perm())
			}
			// Chosen credentials, trusting the hub's CA as the CLI does.
			caPEM, err := os.ReadFile(hub.CAFile(cfg.DataDir))
			if err != nil {
				t.Fatal(err)
			}
			pool := x509.NewCertPool()
			pool.AppendCertsFromPEM(caPEM)
			client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}}}
			ask := func(method, path, bearer string) int {
				t.Helper()
				req, _ := http.NewRequest(method, api.Base+path, strings.NewReader("{}"))
				if bearer != "" {
					req.Header.Set("Authorization", "Bearer "+bearer)
				}
				resp, err := client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				return resp.StatusCode
			}
			token := strings.TrimSpace(string(tok))
			for _, r := range []struct {
				method, path, bearer string
				want                 int
			}{
				{"GET", "/api/events", token, http.StatusOK},
				{"GET", "/api/view", token, http.StatusOK},
				{"GET", "/api/events", "", http.StatusUnauthorized},
				{"GET", "/api/events", strings.Repeat("0", len(token)), http.StatusUnauthorized},
				{"POST", "/api/shelters/amend", token, http.StatusForbidden},
			} {
				if got := ask(r.method, r.path, r.bearer); got != r.want {
					t.Errorf("%s %s with token %v: %d, want %d", r.method, r.path, r.bearer == token, got, r.want)
				}
			}
		})
	}
}
