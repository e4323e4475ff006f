package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mynagate/mynagate/internal/mqtttest"
)

func runCmd(t *testing.T, ctx context.Context, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := dispatch(ctx, args, &out, &errb)
	return out.String(), errb.String(), code
}

// startRun runs gatehub run --config cfgPath until the returned stop is
// called or the test ends, and fails the test if it exits with an error.
// stop may be called more than once.
func startRun(t *testing.T, ctx context.Context, cfgPath string) (stop func()) {
	t.Helper()
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan int)
	go func() {
		_, _, code := runCmd(t, runCtx, "run", "--config", cfgPath)
		done <- code
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if code := <-done; code != 0 {
				t.Errorf("run exited %d", code)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// initHub runs gatehub init --json into dir with free broker and dashboard
// ports and returns what it made.
func initHub(t *testing.T, ctx context.Context, dir string) initResult {
	t.Helper()
	// Free ports for the broker and the dashboard alike: with init's default
	// dashboard address, a command that asks the running hub (cardkey rekey,
	// events) would reach another test process's hub there.
	out, stderr, code := runCmd(t, ctx, "init", "--listen", fmt.Sprintf("127.0.0.1:%d", mqtttest.FreePort(t)),
		"--http", fmt.Sprintf("127.0.0.1:%d", mqtttest.FreePort(t)), "--json", dir)
	var res initResult
	if code != 0 || json.Unmarshal([]byte(out), &res) != nil {
		t.Fatalf("init: %d %s %s", code, out, stderr)
	}
	return res
}

// TestOperatorFlow drives the commands an operator uses: keygen, run, enroll
// import, publish, lists.
func TestOperatorFlow(t *testing.T) {
	dir := t.TempDir()
	port := mqtttest.FreePort(t)
	cfgPath := filepath.Join(dir, "gatehub.json")
	cfg := fmt.Sprintf(`{"data_dir": "data", "listen": "127.0.0.1:%d", "signing_key": "sign.pem", "demo_file_keys": true, "username": "hub", "password_file": "hub.password"}`, port)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "hub.password"), []byte("pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	out, stderr, code := runCmd(t, ctx, "keygen", "--out", filepath.Join(dir, "sign.pem"))
	if code != 0 || !strings.Contains(out, "BEGIN PUBLIC KEY") {
		t.Fatalf("keygen: %d %s %s", code, out, stderr)
	}
	if _, _, code := runCmd(t, ctx, "keygen", "--out", filepath.Join(dir, "sign.pem")); code == 0 {
		t.Fatal("keygen overwrote an existing key")
	}

	startRun(t, ctx, cfgPath)

	csvPath := filepath.Join(dir, "enrol.csv")
	os.WriteFile(csvPath, []byte("card_key,service_id,kind\n"+strings.Repeat("01", 32)+",T-1,ticket\n"), 0o600)
	out, stderr, code = runCmd(t, ctx, "enroll", "import", "--config", cfgPath, "--site", "stadium", "--json", csvPath)
	if code != 0 || !strings.Contains(out, `"added":1`) {
		t.Fatalf("enroll import: %d %s %s", code, out, stderr)
	}
	// The broker may still be starting.
	deadline := time.Now().Add(20 * time.Second)
	for {
		out, stderr, code = runCmd(t, ctx, "publish", "--config", cfgPath, "--site", "stadium")
		if code == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if code != 0 || !strings.Contains(out, "published snapshot v1") {
		t.Fatalf("publish: %d %s %s", code, out, stderr)
	}
	out, stderr, code = runCmd(t, ctx, "lists", "--config", cfgPath, "--site", "stadium", "--json")
	var st struct {
		Entries int    `json:"entries"`
		Version uint64 `json:"version"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &st) != nil || st.Entries != 1 || st.Version != 1 {
		t.Fatalf("lists: %d %s %s", code, out, stderr)
	}
	if _, stderr, code := runCmd(t, ctx, "publish", "--config", cfgPath); code == 0 || !strings.Contains(stderr, "--site") {
		t.Fatalf("publish without --site: %d %s", code, stderr)
	}
	if _, _, code := runCmd(t, ctx, "frobnicate"); code != 2 {
		t.Fatalf("unknown command exit %d", code)
	}
}
