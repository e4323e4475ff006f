package gate

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mynagate/mynagate/config"
	"github.com/mynagate/mynagate/event"
	"github.com/mynagate/mynagate/internal/mqtttest"
)

// TestPeerEventsDatedAheadAreCounted runs a gate from its config against
// Mosquitto, with peers.max_ahead set to 1m: a peer's entry dated 2099 and
// one 5 minutes ahead are ignored and counted in
// mynagate_peer_events_ignored_total{reason="dated_ahead"}, an entry 30 s
// ahead is applied.
func TestPeerEventsDatedAheadAreCounted(t *testing.T) {
	b := mqtttest.Start(t)
	dir := t.TempDir()
	secret := filepath.Join(dir, "cardkey.secret")
	if err := os.WriteFile(secret, []byte(hex.EncodeToString(make([]byte, 32))), 0o600); err != nil {
		t.Fatal(err)
	}
	root, err := filepath.Abs(filepath.Join("..", "vcard", "testdata", "pki", "root.pem"))
	if err != nil {
		t.Fatal(err)
	}
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", mqtttest.FreePort(t))
	doc, _ := json.Marshal(map[string]any{
		"site": "stadium", "gate": "g1", "data_dir": filepath.Join(dir, "data"),
		"lanes":          []map[string]string{{"reader": "no reader in this test"}},
		"roots":          []string{root},
		"card_key":       map[string]string{"secret_file": secret},
		"mqtt":           map[string]string{"broker": b.Addr()},
		"metrics_listen": metricsAddr,
		"peers":          map[string]string{"max_ahead": "1m"},
	})
	cfg, err := config.Parse(doc)
	if err != nil {
		t.Fatal(err)
	}
	g, err := Open(cfg, NewLogger(io.Discard, "error"), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); g.Run(ctx) }()
	defer func() { cancel(); <-done }()

	n := 0
	entry := func(ticket string, at time.Time) []byte {
		n++
		p, _ := json.Marshal(event.Event{ID: fmt.Sprintf("01JPEER%019d", n), Seq: uint64(n), At: at, Site: "stadium", Gate: "g2",
			Kind: event.KindEntry, Decision: event.Admit, Reason: event.ReasonAdmit, ServiceID: ticket})
		return p
	}
	peerTopic := "mynagate/v1/stadium/g2/events"
	// Until the gate has subscribed, a peer event can pass it by: send a
	// current entry until the gate counts its holder inside.
	waitUntil(t, "the gate to take a peer's entry", func() bool {
		mqtttest.Publish(t, b.Addr(), peerTopic, entry("T-now", time.Now()), false)
		return g.peers.Count() == 1
	})
	mqtttest.Publish(t, b.Addr(), peerTopic, entry("T-2099", time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)), false)
	mqtttest.Publish(t, b.Addr(), peerTopic, entry("T-5min", time.Now().Add(5*time.Minute)), false)
	mqtttest.Publish(t, b.Addr(), peerTopic, entry("T-30s", time.Now().Add(30*time.Second)), false)
	// The gate handles each message in a goroutine of its own: wait for all
	// three to be handled.
	metric := func() string {
		resp, err := http.Get("http://" + metricsAddr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return string(body)
	}
	const want = `mynagate_peer_events_ignored_total{reason="dated_ahead"} 2`
	waitUntil(t, "two peer events counted as dated ahead", func() bool { return strings.Contains(metric(), want) })
	waitUntil(t, "the entry 30 s ahead", func() bool { _, in := g.peers.Inside("s:T-30s"); return in })
	if g.peers.Count() != 2 {
		t.Fatalf("%d inside, want the current entry and the one 30 s ahead", g.peers.Count())
	}
}

// waitUntil polls cond for up to a minute.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
