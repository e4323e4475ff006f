package gate

import (
	"context"
	"crypto/ed25519"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mynagate/mynagate/config"
	"github.com/mynagate/mynagate/offline/whitelist"
	"github.com/mynagate/mynagate/sync/gateconfig"
	"github.com/mynagate/mynagate/sync/lists"
)

// TestListHealth: the status says when the list in force expires, that it
// expired (still in force), what was refused, and that the hub's emergency
// lapsed.
func TestListHealth(t *testing.T) {
	dir := t.TempDir()
	wl, err := whitelist.Open(filepath.Join(dir, "wl.db"), whitelist.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer wl.Close()
	hubcfg, err := gateconfig.Open(filepath.Join(dir, "hubconfig.json"), gateconfig.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, key, _ := ed25519.GenerateKey(nil)
	recv, err := lists.NewReceiver(lists.ReceiverConfig{Prefix: "p", Site: "s", Keys: []ed25519.PublicKey{key.Public().(ed25519.PublicKey)},
		Lists: map[string]lists.Applier{"whitelist": wl}, Raw: map[string]lists.RawApplier{gateconfig.List: hubcfg},
		MinVersions: map[string]uint64{"whitelist": 2}})
	if err != nil {
		t.Fatal(err)
	}
	g := &Gate{cfg: &config.Config{ClockSkew: config.Duration(5 * time.Minute)}, lists: recv, hubcfg: hubcfg}
	now := time.Now().UTC()
	h := map[string]string{}
	g.listHealth(h, now)
	if len(h) != 0 {
		t.Fatalf("nothing in force yet: %v", h)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go recv.Run(ctx)
	deliver := func(version uint64) {
		s, err := lists.Build(key, lists.Manifest{Site: "s", List: "whitelist", Kind: lists.Snapshot, Version: version, Created: now, Expires: now.Add(time.Hour)},
			lists.EncodePayload(&lists.Change{}), 0)
		if err != nil {
			t.Fatal(err)
		}
		recv.Handle(lists.ChunkTopic("p", "s", "whitelist", lists.Snapshot, 0, 0), s.Chunks[0])
		recv.Handle(lists.ManifestTopic("p", "s", "whitelist", lists.Snapshot, 0), s.Envelope)
	}
	deliver(1) // below the minimum of 2: refused
	deliver(2)
	deadline := time.Now().Add(30 * time.Second)
	for wl.Version() != 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if err := hubcfg.ApplyRaw(1, []byte(`{"emergency":true,"emergency_until":"`+now.Add(-time.Minute).Format(time.RFC3339)+`"}`)); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name string
		at   time.Time
		want map[string]string
	}{
		{"in force", now, map[string]string{"list_whitelist": "ok, v2 expires ", "lists_refused": "0 expired, 1 below the minimum version", "hub_emergency": "lapsed at "}},
		{"within the skew", now.Add(time.Hour + 4*time.Minute), map[string]string{"list_whitelist": "ok, v2 expires "}},
		{"expired", now.Add(2 * time.Hour), map[string]string{"list_whitelist": "v2: EXPIRED at "}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := map[string]string{}
			g.listHealth(h, tc.at)
			for k, want := range tc.want {
				if !strings.Contains(h[k], want) {
					t.Errorf("%s = %q, want %q in it (all: %v)", k, h[k], want, h)
				}
			}
		})
	}
}
