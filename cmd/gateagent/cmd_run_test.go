package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/mynagate/mynagate/event"
	"github.com/mynagate/mynagate/internal/mqtttest"
	"github.com/mynagate/mynagate/internal/pcsctest"
	"github.com/mynagate/mynagate/internal/taptest"
	"github.com/mynagate/mynagate/internal/testenv"
	"github.com/mynagate/mynagate/offline/hsm/hsmtest"
)

// syncBuffer is a buffer safe to read while the daemon writes to it.
type syncBuffer = testenv.Buffer

// TestRunAsAService is the daemon as an operator installs it: the card-key
// secret imported into a SoftHSM2 token with `hsm init`, the list imported with
// `whitelist import`, then `run --config` under a systemd-style notify socket,
// taps through pcscd+vpcd, events at a Mosquitto subscriber, a receipt on
// "paper", and a clean stop.
func TestRunAsAService(t *testing.T) {
	slot := pcsctest.Acquire(t, 0)
	broker := mqtttest.Start(t)
	tok := hsmtest.NewToken(t, "gate-run")
	dir := t.TempDir()
	pkiDir := taptest.PKI(t)
	secretFile, _ := writeSecret(t, dir)
	hsmArgs := []string{"--hsm-module", tok.Module, "--hsm-token", tok.TokenLabel, "--hsm-pin-file", tok.PINFile}
	if code, _, errOut := run(t, append([]string{"hsm", "init", "--import-secret", secretFile}, hsmArgs...)...); code != 0 {
		t.Fatalf("hsm init: %s", errOut)
	}
	os.Remove(secretFile) // as the operator is told to: the secret now lives only in the token
	data := filepath.Join(dir, "data")
	os.Mkdir(data, 0o700)
	imp := append([]string{"whitelist", "import", "--db", filepath.Join(data, "whitelist.db")}, hsmArgs...)
	if code, _, errOut := run(t, append(imp, filepath.Join(pkiDir, "whitelist.csv"))...); code != 0 {
		t.Fatalf("whitelist import: %s", errOut)
	}
	cfg := map[string]any{
		"site": "arena", "gate": "north-1", "mode": "venue", "data_dir": data,
		"lanes":          []map[string]string{{"name": "in-1", "reader": slot.Reader, "kind": "entry", "zone": "north"}},
		"roots":          []string{filepath.Join(pkiDir, "root.pem")},
		"hsm":            map[string]any{"module": tok.Module, "token_label": tok.TokenLabel, "pin_file": tok.PINFile},
		"mqtt":           map[string]string{"broker": broker.Addr()},
		"hw":             map[string]any{"printer": map[string]string{"transport": "file", "path": filepath.Join(dir, "paper.escpos")}},
		"receipt":        map[string]string{"event": "冬の公演", "gate_label": "北ゲート1"},
		"metrics_listen": fmt.Sprintf("127.0.0.1:%d", mqtttest.FreePort(t)),
	}
	b, _ := json.Marshal(cfg)
	cfgPath := filepath.Join(dir, "gateagent.json")
	os.WriteFile(cfgPath, b, 0o600)

	notifyPath := filepath.Join(dir, "notify.sock")
	notify, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: notifyPath, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer notify.Close()
	t.Setenv("NOTIFY_SOCKET", notifyPath)
	t.Setenv("WATCHDOG_USEC", "400000") // ping every 200 ms
	t.Setenv("WATCHDOG_PID", "")
	sub := mqtttest.Subscribe(t, broker.Addr(), "mynagate/v1/arena/north-1/events")

	ctx, stop := context.WithCancel(context.Background())
	var stdout, stderr syncBuffer
	exited := make(chan int, 1)
	go func() { exited <- dispatch(ctx, []string{"run", "--config", cfgPath}, &stdout, &stderr) }()
	notify.SetReadDeadline(time.Now().Add(15 * time.Second))
	buf := make([]byte, 256)
	n, err := notify.Read(buf)
	if err != nil || !strings.HasPrefix(string(buf[:n]), "READY=1") {
		stop()
		t.Fatalf("no READY=1 from the daemon (%v): %q\n%s", err, buf[:n], stderr.String())
	}

	// The watchdog is fed while the reader loop runs.
	for {
		n, err := notify.Read(buf)
		if err != nil {
			t.Fatalf("no WATCHDOG=1 within the deadline: %v", err)
		}
		if string(buf[:n]) == "WATCHDOG=1" {
			break
		}
	}

	for _, profile := range []string{"card-001.json", "card-005.json"} {
		remove := taptest.Present(t, slot, taptest.Profile(t, profile))
		sub.WaitN(len(sub.Messages())+1, 10*time.Second)
		remove()
	}
	msgs := sub.Messages()
	var got []string
	for _, m := range msgs {
		e, err := event.Decode(m.Payload)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(e.Reason))
		if e.Site != "arena" || e.Gate != "north-1" || e.Lane != "in-1" {
			t.Errorf("event context %+v", e)
		}
	}
	if strings.Join(got, ",") != "admit,not_listed" {
		t.Errorf("reasons %v, want admit then not_listed", got)
	}
	// The receipt is printed in the background after the admit.
	deadline := time.Now().Add(5 * time.Second)
	for {
		paper, _ := os.ReadFile(filepath.Join(dir, "paper.escpos"))
		if bytes.Contains(paper, []byte("T-0001")) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no seat receipt with the ticket reference on paper: %q", paper)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The retained status tells the hub the list in force and the parts' health.
	status := mqtttest.Subscribe(t, broker.Addr(), "mynagate/v1/arena/north-1/status").WaitN(1, 10*time.Second)
	var st struct {
		Online bool                             `json:"online"`
		Lists  map[string]struct{ Version int } `json:"lists"`
		Health map[string]string                `json:"health"`
	}
	if err := json.Unmarshal(status[0].Payload, &st); err != nil || !st.Online || st.Lists["whitelist"].Version != 1 ||
		st.Health["journal"] != "ok" || !strings.Contains(st.Health["printer"], "status") ||
		st.Health["pcscd"] != "ok" || !strings.HasPrefix(st.Health["readers"], "ok: 1 lane(s)") || st.Health["hsm"] != "ok" {
		t.Errorf("status %s (%v)", status[0].Payload, err)
	}
	checkMetrics(t, "http://"+cfg["metrics_listen"].(string)+"/metrics")
	stop()
	select {
	case code := <-exited:
		if code != 0 {
			t.Fatalf("run exited %d: %s", code, stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("run did not stop within 15 s of SIGTERM")
	}
	if log := stderr.String(); strings.Contains(log, "secret_file") || !strings.Contains(log, "gate ready") {
		t.Errorf("daemon log:\n%s", log)
	}
}

// checkMetrics scrapes the running gate: both taps are counted by lane and
// timed by lane and assurance level, the standard collectors are there, and
// the exposition passes the Prometheus linter.
func checkMetrics(t *testing.T, url string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	text := string(body)
	for _, want := range []string{
		`mynagate_taps_total{decision="admit",lane="in-1",reason="admit"} 1`,
		`mynagate_taps_total{decision="deny",lane="in-1",reason="not_listed"} 1`,
		`mynagate_decision_seconds_count{assurance="cert",lane="in-1"} 2`,
		`go_build_info{`, `process_start_time_seconds`, `go_goroutines`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %s:\n%s", want, text)
		}
	}
	problems, err := promlint.New(strings.NewReader(text)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}
