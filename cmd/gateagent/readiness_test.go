package main

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mynagate/mynagate/internal/mqtttest"
	"github.com/mynagate/mynagate/internal/pcsctest"
	"github.com/mynagate/mynagate/internal/taptest"
)

// notifySocket listens where the daemon's sd_notify messages go, as systemd
// does for a Type=notify service.
func notifySocket(t *testing.T) *net.UnixConn {
	t.Helper()
	p := filepath.Join(t.TempDir(), "notify.sock")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: p, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	t.Setenv("NOTIFY_SOCKET", p)
	t.Setenv("WATCHDOG_USEC", "")
	return c
}

// nextNotify returns the next sd_notify message, failing after a generous wait.
func nextNotify(t *testing.T, c *net.UnixConn) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(60 * time.Second))
	buf := make([]byte, 1024)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("no sd_notify message: %v", err)
	}
	return string(buf[:n])
}

// startGate runs `gateagent run` on a config with the given lanes (demo
// secret, the test PKI's list) until the test ends.
func startGate(t *testing.T, lanes []map[string]string, mqttBroker string) *syncBuffer {
	t.Helper()
	dir := t.TempDir()
	secretFile, _ := writeSecret(t, dir)
	cfg := map[string]any{
		"site": "arena", "gate": "south-2", "data_dir": filepath.Join(dir, "data"), "lanes": lanes,
		"roots":    []string{filepath.Join(taptest.PKI(t), "root.pem")},
		"card_key": map[string]string{"secret_file": secretFile},
	}
	if mqttBroker != "" {
		cfg["mqtt"] = map[string]string{"broker": mqttBroker}
	}
	b, _ := json.Marshal(cfg)
	p := filepath.Join(dir, "gateagent.json")
	os.WriteFile(p, b, 0o600)
	ctx, stop := context.WithCancel(context.Background())
	var stderr syncBuffer
	exited := make(chan int, 1)
	go func() { exited <- dispatch(ctx, []string{"run", "--config", p}, &syncBuffer{}, &stderr) }()
	t.Cleanup(func() {
		stop()
		if code := <-exited; code != 0 {
			t.Errorf("run exited %d:\n%s", code, stderr.String())
		}
	})
	return &stderr
}

// TestReadinessWaitsForReaders: a vpcd slot with no card is a present reader,
// but a lane whose reader pcscd does not list keeps the gate from READY=1,
// with a STATUS= line and a status health entry naming the lane; with pcscd
// down no lane is ready, and READY=1 follows once pcscd and its readers are
// back.
func TestReadinessWaitsForReaders(t *testing.T) {
	slots := pcsctest.AcquireAll(t)
	broker := mqtttest.Start(t)

	t.Run("reader absent", func(t *testing.T) {
		notify := notifySocket(t)
		status := mqtttest.Subscribe(t, broker.Addr(), "mynagate/v1/arena/south-2/status")
		startGate(t, []map[string]string{{"name": "in", "reader": slots[0].Reader}, {"name": "out", "reader": "ACS ACR1252*", "kind": "exit"}}, broker.Addr())
		first := nextNotify(t, notify)
		if !strings.Contains(first, `STATUS=degraded: waiting for the reader of lane out "ACS ACR1252*"; the other lanes decide taps`) || !strings.Contains(first, "EXTEND_TIMEOUT_USEC=") {
			t.Fatalf("first message %q", first)
		}
		// Two more checks of the readers pass without READY=1: each extends
		// the start timeout and nothing else.
		for range 2 {
			if m := nextNotify(t, notify); strings.Contains(m, "READY=1") || !strings.HasPrefix(m, "EXTEND_TIMEOUT_USEC=") {
				t.Fatalf("while a lane lacks its reader: %q", m)
			}
		}
		var st struct{ Health map[string]string }
		msgs := status.WaitN(1, 20*time.Second)
		if err := json.Unmarshal(msgs[0].Payload, &st); err != nil || st.Health["readers"] != `missing: lane out "ACS ACR1252*"` || st.Health["pcscd"] != "ok" {
			t.Errorf("status health %s", msgs[0].Payload)
		}
	})

	t.Run("pcscd back", func(t *testing.T) {
		notify := notifySocket(t)
		pcsctest.StopPCSCD(t)
		log := startGate(t, []map[string]string{{"name": "in", "reader": slots[1].Reader}}, "")
		if m := nextNotify(t, notify); !strings.Contains(m, "STATUS=degraded: cannot reach pcscd") || strings.Contains(m, "READY=1") {
			t.Fatalf("with pcscd down: %q", m)
		}
		pcsctest.EnsurePCSCD(t)
		for {
			m := nextNotify(t, notify)
			if strings.HasPrefix(m, "READY=1\nSTATUS=deciding taps on 1 lane(s)") {
				break
			}
			// pcscd may list its readers a moment after it answers: a
			// "waiting for the reader" line may come first.
			if strings.Contains(m, "READY=1") || !strings.Contains(m, "EXTEND_TIMEOUT_USEC=") {
				t.Fatalf("before READY=1: %q\n%s", m, log.String())
			}
		}
		if !strings.Contains(log.String(), "gate ready") {
			t.Errorf("log lacks gate ready:\n%s", log.String())
		}
	})
}
