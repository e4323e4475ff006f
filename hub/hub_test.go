package hub

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mynagate/mynagate/event"
	"github.com/mynagate/mynagate/hub/hubtest"
	"github.com/mynagate/mynagate/internal/mqtttest"
	"github.com/mynagate/mynagate/offline/cardkey"
	"github.com/mynagate/mynagate/offline/whitelist"
	"github.com/mynagate/mynagate/sync/lists"
	"github.com/mynagate/mynagate/sync/outbox"
	"github.com/mynagate/mynagate/sync/uplink"
)

var signKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32))

// testConfig writes a signing key and returns a config for an embedded broker
// on a free port.
func testConfig(t *testing.T) *Config {
	t.Helper()
	dir := t.TempDir()
	pemKey, err := lists.MarshalPrivateKey(signKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "sign.pem"), pemKey, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "hub.password"), []byte("hub-test-password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Plain TCP on loopback keeps the tests' broker simple; TestBroker*
	// check TLS and every right through the real broker.
	return &Config{Prefix: "mynagate/v1", DataDir: filepath.Join(dir, "data"), Listen: fmt.Sprintf("127.0.0.1:%d", mqtttest.FreePort(t)),
		InsecurePlainTCPOnLoopback: true, Username: "hub", PasswordFile: filepath.Join(dir, "hub.password"),
		SigningKey: filepath.Join(dir, "sign.pem"), DemoFileKeys: true, Log: "info"}
}

func startHub(t *testing.T, cfg *Config) *Hub {
	t.Helper()
	h, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return h
}

func tap(i int, gate string, kind event.Kind, at time.Time) *event.Event {
	return &event.Event{ID: fmt.Sprintf("ev-%s-%05d", gate, i), At: at, Site: "stadium", Gate: gate, Kind: kind,
		Decision: event.Admit, Reason: event.ReasonAdmit, ServiceID: fmt.Sprintf("T-%d", i), Assurance: "pinless"}
}

// waitFor polls cond until it holds, failing the test after 90 s: generous,
// as a gate fetching a 30,000-ticket retained list on a loaded 2-core machine
// took over 30 s; a wait that ends early costs nothing.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func gateStats(t *testing.T, h *Hub, gate string) GateView {
	t.Helper()
	v, err := h.Store().View()
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range v.Gates {
		if g.Gate == gate {
			return g
		}
	}
	return GateView{}
}

// TestEndToEnd runs the hub with its embedded broker, a gate's outbox and
// uplink, and the gate's list receiver: events arrive once each, the gate's
// status is seen, and an enrolled and published list is applied on the gate.
func TestEndToEnd(t *testing.T) {
	cfg := testConfig(t)
	h := startHub(t, cfg)

	ob, err := outbox.Open(filepath.Join(t.TempDir(), "outbox.db"), outbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close()
	wl, err := whitelist.Open(filepath.Join(t.TempDir(), "wl.db"), whitelist.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer wl.Close()
	up, err := uplink.New(withStatusInterval(gateAccount(t, cfg, "stadium", "g1"), time.Second), ob, nil)
	if err != nil {
		t.Fatal(err)
	}
	recv, err := lists.NewReceiver(lists.ReceiverConfig{Prefix: "mynagate/v1", Site: "stadium",
		Keys: []ed25519.PublicKey{signKey.Public().(ed25519.PublicKey)}, Lists: map[string]lists.Applier{"whitelist": wl},
		RequestSnapshot: func() { up.Resubscribe(lists.Filter("mynagate/v1", "stadium")) }})
	if err != nil {
		t.Fatal(err)
	}
	if err := up.Handle(lists.Filter("mynagate/v1", "stadium"), recv.Handle); err != nil {
		t.Fatal(err)
	}
	// Another gate of the site hears the events (anti-passback feed).
	peer := hubtest.Subscribe(t, gateAccount(t, cfg, "stadium", "g9"), "mynagate/v1/stadium/+/events")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go up.Run(ctx)
	go recv.Run(ctx)

	now := time.Now()
	for i := 1; i <= 200; i++ {
		if err := ob.Append(ctx, tap(i, "g1", event.KindEntry, now)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "200 events at the hub", func() bool { return gateStats(t, h, "g1").Events == 200 })
	if n, _ := ob.Backlog(); n != 0 {
		waitFor(t, "the gate's outbox to drain", func() bool { n, _ := ob.Backlog(); return n == 0 })
	}
	msgs, ok := peer.Wait(200, 30*time.Second)
	if !ok {
		t.Fatalf("peer got %d events, want 200", len(msgs))
	}
	for i, m := range msgs[:200] {
		if e, err := event.Decode(m.Payload); err != nil || e.Seq != uint64(i+1) {
			t.Fatalf("peer message %d: seq %d, %v", i, e.Seq, err)
		}
	}
	waitFor(t, "the gate's status", func() bool { return gateStats(t, h, "g1").Status != nil })
	rec, ok, err := h.Store().Event("ev-g1-00007")
	if err != nil || !ok || rec.ReceivedAt.IsZero() {
		t.Fatalf("stored record %+v %v %v", rec, ok, err)
	}
	e, err := event.Decode(rec.Event)
	if err != nil || !e.At.Equal(now) {
		t.Fatalf("stored event %+v, %v: tap time not kept", e, err)
	}

	// Enrol and publish; the gate applies it.
	m, p := enrolTickets(t, cfg, 100, "T-")
	man, err := m.Publish(ctx, p, signKey, "stadium", "whitelist", PublishOptions{Prefix: "mynagate/v1", ChunkSize: lists.MinChunkSize})
	if err != nil || man.Kind != lists.Snapshot || man.Version != 1 {
		t.Fatalf("first publish: %+v %v", man, err)
	}
	waitFor(t, "snapshot v1 on the gate", func() bool { return wl.Version() == 1 })
	if err := m.Revoke("stadium", "whitelist", []cardkey.Key{key(3)}, false); err != nil {
		t.Fatal(err)
	}
	man, err = m.Publish(ctx, p, signKey, "stadium", "whitelist", PublishOptions{Prefix: "mynagate/v1"})
	if err != nil || man.Kind != lists.Delta || man.Version != 2 || man.Revoke != 1 {
		t.Fatalf("second publish: %+v %v", man, err)
	}
	waitFor(t, "delta v2 on the gate", func() bool { return wl.Version() == 2 })
	if revoked, _ := wl.Revoked(key(3)); !revoked {
		t.Fatal("revocation not applied on the gate")
	}
	if man, err := m.Publish(ctx, p, signKey, "stadium", "whitelist", PublishOptions{Prefix: "mynagate/v1"}); man != nil || err != nil {
		t.Fatalf("publish with no change: %+v %v", man, err)
	}
	waitFor(t, "list info at the hub", func() bool {
		v, _ := h.Store().View()
		return len(v.Lists) == 1 && v.Lists[0].Version == 2
	})

	// A late gate joins and reaches v2 from the retained snapshot and delta.
	wl2, err := whitelist.Open(filepath.Join(t.TempDir(), "wl2.db"), whitelist.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer wl2.Close()
	ob2, err := outbox.Open(filepath.Join(t.TempDir(), "outbox2.db"), outbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ob2.Close()
	up2, err := uplink.New(gateAccount(t, cfg, "stadium", "g2"), ob2, nil)
	if err != nil {
		t.Fatal(err)
	}
	recv2, err := lists.NewReceiver(lists.ReceiverConfig{Prefix: "mynagate/v1", Site: "stadium",
		Keys: []ed25519.PublicKey{signKey.Public().(ed25519.PublicKey)}, Lists: map[string]lists.Applier{"whitelist": wl2}})
	if err != nil {
		t.Fatal(err)
	}
	if err := up2.Handle(lists.Filter("mynagate/v1", "stadium"), recv2.Handle); err != nil {
		t.Fatal(err)
	}
	go up2.Run(ctx)
	go recv2.Run(ctx)
	waitFor(t, "late gate at v2", func() bool { return wl2.Version() == 2 })

	// The dashboard shows counts and no personal data.
	srv := httptest.NewServer(h.Handler())
	defer srv.Close()
	for _, path := range []string{"/", "/api/view", "/metrics"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		var body bytes.Buffer
		body.ReadFrom(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || strings.Contains(body.String(), "T-7") {
			t.Fatalf("%s: status %d, body leaks a service id or fails:\n%s", path, resp.StatusCode, body.String())
		}
		if path == "/metrics" && !strings.Contains(body.String(), `mynagate_hub_events_total{decision="admit",gate="g1",reason="admit",site="stadium"} 200`) {
			t.Fatalf("metrics:\n%s", body.String())
		}
	}
}

func key(i int) cardkey.Key {
	var k cardkey.Key
	copy(k[:], fmt.Sprintf("card-%027d", i))
	return k
}

func TestIngestDedupesAndFlagsConflicts(t *testing.T) {
	st, err := OpenStore(filepath.Join(t.TempDir(), "hub.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	t0 := time.Now().Add(-time.Hour)
	ingest := func(gate string, e *event.Event) bool {
		e.Seq = 1
		b, _ := json.Marshal(e)
		dup, err := st.Ingest(context.Background(), "stadium", gate, b, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return dup
	}
	a := tap(1, "g1", event.KindEntry, t0)
	if ingest("g1", a) {
		t.Fatal("first delivery reported as duplicate")
	}
	if !ingest("g1", a) {
		t.Fatal("second delivery not deduplicated")
	}
	// Gate 2 was offline and admitted the same ticket later.
	b := tap(1, "g2", event.KindEntry, t0.Add(time.Minute))
	b.Offline = true
	ingest("g2", b)
	if _, err := st.Ingest(context.Background(), "stadium", "g2", []byte("{"), time.Now()); err == nil {
		t.Fatal("garbage ingested")
	}
	// A gate whose clock says 2099: stored, but nobody is put inside.
	ingest("g2", tap(2, "g2", event.KindEntry, time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)))
	v, err := st.View()
	if err != nil {
		t.Fatal(err)
	}
	if v.Conflicts != 1 || len(v.Sites) != 1 || v.Sites[0].Inside != 1 {
		t.Fatalf("view %+v", v)
	}
	g1, g2 := v.Gates[0], v.Gates[1]
	if g1.Events != 1 || g1.Duplicates != 1 || g2.Events != 2 || g2.Offline != 1 || g2.Conflicts != 1 {
		t.Fatalf("gate stats %+v %+v", g1.GateStats, g2.GateStats)
	}
}

// TestExternalBroker runs the hub against mosquitto: events reach the store
// through the hub's subscription and are acknowledged only once stored.
func TestExternalBroker(t *testing.T) {
	b := mqtttest.Start(t)
	cfg := testConfig(t)
	cfg.Listen, cfg.Broker = "", b.Addr()
	// Provisioned before the hub starts: an event from a gate the hub does
	// not know yet is refused and comes again only after the gate's
	// ConfirmTimeout.
	account := gateAccount(t, cfg, "stadium", "g1")
	// Mosquitto drops what the gate publishes before the hub's SUBSCRIBE;
	// the gate sends it again after ConfirmTimeout, by default as long as
	// waitFor waits.
	account.ConfirmTimeout = 2 * time.Second
	h := startHub(t, cfg)
	ob, err := outbox.Open(filepath.Join(t.TempDir(), "outbox.db"), outbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close()
	up, err := uplink.New(account, ob, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go up.Run(ctx)
	for i := 1; i <= 300; i++ {
		if err := ob.Append(ctx, tap(i, "g1", event.KindEntry, time.Now())); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "300 events at the hub", func() bool { return gateStats(t, h, "g1").Events == 300 })
	waitFor(t, "the gate's status", func() bool { return gateStats(t, h, "g1").Status != nil })
}

// enrolTickets opens the hub's list master, enrols n tickets for the stadium
// site (service ids prefix0, prefix1, ...) and dials a publisher; both are
// closed when the test ends.
func enrolTickets(t *testing.T, cfg *Config, n int, prefix string) (*Master, *MQTTPublisher) {
	t.Helper()
	m, err := OpenMaster(filepath.Join(cfg.DataDir, "lists.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	var recs []whitelist.Record
	for i := range n {
		recs = append(recs, whitelist.Record{Key: key(i), Entry: whitelist.Entry{ServiceID: fmt.Sprintf("%s%d", prefix, i), Kind: whitelist.KindTicket}})
	}
	if _, err := m.Enrol("stadium", "whitelist", recs, false); err != nil {
		t.Fatal(err)
	}
	p, err := DialPublisher(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return m, p
}
