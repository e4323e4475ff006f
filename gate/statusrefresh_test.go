package gate

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mynagate/mynagate/config"
	"github.com/mynagate/mynagate/internal/mqtttest"
	"github.com/mynagate/mynagate/internal/taptest"
	"github.com/mynagate/mynagate/internal/testenv"
	"github.com/mynagate/mynagate/offline/cardkey"
	"github.com/mynagate/mynagate/offline/whitelist"
	"github.com/mynagate/mynagate/sync/gateconfig"
	"github.com/mynagate/mynagate/sync/lists"
	"github.com/mynagate/mynagate/sync/uplink"
)

// TestStatusOnApply runs a gate as gateagent does (Open, Run) against a real
// broker with its periodic status an hour apart: the hub's whitelist, and then
// its site config, each reach the gate, and a status carrying the new version
// follows without waiting for the hour, so the dashboard's list version is
// not left stale. Speed is measured by scripts/bench (tap_to_dashboard_ms);
// the deadline here only bounds a test that would otherwise hang.
func TestStatusOnApply(t *testing.T) {
	defer func(d time.Duration) { statusInterval = d }(statusInterval)
	statusInterval = time.Hour

	broker := mqtttest.Start(t)
	dir := t.TempDir()
	pub, signKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM, err := lists.MarshalPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	secret := make([]byte, 32)
	rand.Read(secret)
	for name, b := range map[string][]byte{"hub.pub": pubPEM, "cardkey.secret": []byte(hex.EncodeToString(secret) + "\n")} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfgJSON, err := json.Marshal(map[string]any{
		"site": "stadium", "gate": "g1", "mode": config.ModeVenue, "data_dir": filepath.Join(dir, "data"),
		"lanes":    []map[string]string{{"name": "lane-1", "reader": "no such reader", "kind": "entry"}},
		"roots":    []string{filepath.Join(taptest.PKI(t), "root.pem")},
		"card_key": map[string]string{"secret_file": filepath.Join(dir, "cardkey.secret")},
		"policy":   map[string]any{"accept": []string{"cert"}},
		"mqtt":     map[string]string{"broker": broker.Addr()},
		"hub_keys": []string{filepath.Join(dir, "hub.pub")},
	})
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "gateagent.json")
	if err := os.WriteFile(cfgPath, cfgJSON, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	var logs testenv.Buffer
	defer func() {
		if t.Failed() {
			t.Logf("gate log:\n%s", logs.String())
		}
	}()
	g, err := Open(cfg, slog.New(slog.NewTextHandler(&logs, nil)), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()

	prefix := uplink.DefaultPrefix
	status := mqtttest.Subscribe(t, broker.Addr(), prefix+"/stadium/g1/status")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	defer func() { cancel(); <-done }()

	// version waits for a status with list at version v; the deadline is
	// generous (a loaded CI machine), and far short of the hour.
	version := func(what, list string, v uint64) {
		t.Helper()
		_, ok := status.WaitFor(20*time.Second, func(msgs []mqtttest.Message) bool {
			for _, m := range msgs {
				var st uplink.Status
				if json.Unmarshal(m.Payload, &st) == nil && st.Online && st.Lists[list].Version == v {
					return true
				}
			}
			return false
		})
		if !ok {
			var last string
			if msgs := status.Messages(); len(msgs) > 0 {
				last = string(msgs[len(msgs)-1].Payload)
			}
			t.Fatalf("%s: no status with %s v%d; last status %s", what, list, v, last)
		}
	}
	// The status on connecting, before the hub publishes anything.
	version("status on connect", "whitelist", 0)

	publish := func(m lists.Manifest, payload []byte, topicVersion uint64) {
		t.Helper()
		now := time.Now()
		m.Site, m.Kind, m.Created, m.Expires = "stadium", lists.Snapshot, now, now.Add(24*time.Hour)
		signed, err := lists.Build(signKey, m, payload, 0)
		if err != nil {
			t.Fatal(err)
		}
		for i, c := range signed.Chunks {
			mqtttest.Publish(t, broker.Addr(), lists.ChunkTopic(prefix, "stadium", m.List, lists.Snapshot, topicVersion, i), c, true)
		}
		mqtttest.Publish(t, broker.Addr(), lists.ManifestTopic(prefix, "stadium", m.List, lists.Snapshot, topicVersion), signed.Envelope, true)
	}

	change := &lists.Change{Puts: []whitelist.Record{{Key: cardkey.Key{1}, Entry: whitelist.Entry{ServiceID: "T-1", Kind: whitelist.KindTicket}}}}
	publish(lists.Manifest{List: "whitelist", Version: 1, Puts: len(change.Puts)}, lists.EncodePayload(change), 1)
	version("whitelist applied", "whitelist", 1)
	if v := g.Whitelist().Version(); v != 1 {
		t.Fatalf("gate whitelist v%d after its status said v1", v)
	}

	no := false
	doc, err := gateconfig.Doc{AntiPassback: &no, Note: "test: status on apply"}.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	publish(lists.Manifest{List: gateconfig.List, Version: 1}, doc, 0)
	version("site config applied", gateconfig.List, 1)
	if d, v := g.hubcfg.Current(); v != 1 || d.AntiPassback == nil || *d.AntiPassback {
		t.Fatalf("gate hub config v%d %+v after its status said v1", v, d)
	}
}
