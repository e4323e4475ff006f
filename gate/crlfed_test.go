package gate

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/mynagate/mynagate/hub"
	"github.com/mynagate/mynagate/internal/mqtttest"
	"github.com/mynagate/mynagate/offline/cardkey"
	"github.com/mynagate/mynagate/offline/crl"
	"github.com/mynagate/mynagate/offline/whitelist"
	"github.com/mynagate/mynagate/sync/lists"
)

// TestHubFedCRL: a CRL imported at the hub reaches a gate fed by the hub
// through a real broker: the gate's receiver records it as ApplyCRL would, so
// the gate's CRL health names its next update, a later import with no new
// card still goes out, and a snapshot keeps the records instead of erasing
// them.
func TestHubFedCRL(t *testing.T) {
	broker := mqtttest.Start(t)
	dir := t.TempDir()
	m, err := hub.OpenMaster(filepath.Join(dir, "lists.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	pub, err := hub.DialPublisher(&hub.Config{Broker: broker.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	signKey := ed25519.NewKeyFromSeed(make([]byte, 32))

	store, err := whitelist.Open(filepath.Join(dir, "gate.db"), whitelist.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	var reported atomic.Int64
	recv, err := lists.NewReceiver(lists.ReceiverConfig{Prefix: "p", Site: "s", Keys: []ed25519.PublicKey{signKey.Public().(ed25519.PublicKey)},
		Lists: map[string]lists.Applier{"whitelist": reportApplied{store: store, applied: func() { reported.Add(1) }}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- recv.Run(ctx) }()
	defer func() { cancel(); <-done }()
	sub := paho.NewClient(paho.NewClientOptions().AddBroker(broker.Addr()).SetClientID("gate-crl-test").SetConnectTimeout(10 * time.Second))
	if tok := sub.Connect(); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		t.Fatalf("gate connect: %v", tok.Error())
	}
	defer sub.Disconnect(250)
	if tok := sub.Subscribe(lists.Filter("p", "s"), 1, func(_ paho.Client, msg paho.Message) { recv.Handle(msg.Topic(), msg.Payload()) }); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		t.Fatalf("gate subscribe: %v", tok.Error())
	}

	publish := func(snapshot bool) uint64 {
		t.Helper()
		man, err := m.Publish(ctx, pub, signKey, "s", "whitelist", hub.PublishOptions{Prefix: "p", Snapshot: snapshot})
		if err != nil || man == nil {
			t.Fatalf("publish: %+v %v", man, err)
		}
		return man.Version
	}
	waitVersion := func(v uint64) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for store.Version() < v {
			if time.Now().After(deadline) {
				t.Fatalf("gate at version %d, want %d", store.Version(), v)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	g := &Gate{list: store}
	if _, err := m.Enrol("s", "whitelist", []whitelist.Record{{Key: testKey(1), Entry: whitelist.Entry{ServiceID: "T-1", Kind: whitelist.KindTicket}}}, false); err != nil {
		t.Fatal(err)
	}
	waitVersion(publish(false))
	if h := g.crlHealth(time.Now()); h != "" {
		t.Fatalf("before any CRL: crl health %q", h)
	}

	now := time.Now().UTC().Truncate(time.Second)
	ca := []byte{0xCA, 0x01}
	info := func(this time.Time) crl.Info {
		return crl.Info{Issuer: "CN=test CA", IssuerKeyID: ca, Number: this.Format("20060102"), ThisUpdate: this, NextUpdate: this.Add(24 * time.Hour), Entries: 1}
	}
	// A CRL whose next update passed four days ago: the gate must know it.
	old := now.Add(-5 * 24 * time.Hour)
	if _, err := m.ImportCRL("s", "whitelist", info(old), []cardkey.Key{testKey(2)}); err != nil {
		t.Fatal(err)
	}
	waitVersion(publish(false))
	if rev, err := store.Revoked(testKey(2)); err != nil || !rev {
		t.Fatalf("revoked by the CRL: %v %v", rev, err)
	}
	want := "STALE since " + old.Add(24*time.Hour).Format(time.RFC3339)
	if h := g.crlHealth(now); !strings.HasPrefix(h, want) {
		t.Fatalf("crl health %q, want %q", h, want)
	}

	// The current CRL adds no card: the hub still publishes, and the gate
	// learns the new next update.
	if _, err := m.ImportCRL("s", "whitelist", info(now), []cardkey.Key{testKey(2)}); err != nil {
		t.Fatal(err)
	}
	waitVersion(publish(false))
	want = fmt.Sprintf("ok: 1 CRL(s), next update %s", now.Add(24*time.Hour).Format(time.RFC3339))
	if h := g.crlHealth(now); !strings.HasPrefix(h, want) {
		t.Fatalf("after the current CRL: crl health %q, want %q", h, want)
	}

	// A snapshot replaces the revocation set and keeps the hub's CRLs.
	waitVersion(publish(true))
	if h := g.crlHealth(now); !strings.HasPrefix(h, want) {
		t.Fatalf("after a snapshot: crl health %q, want %q", h, want)
	}
	crls, err := store.CRLs()
	if err != nil || len(crls) != 1 || string(crls[0].IssuerKeyID) != string(ca) || crls[0].Number != now.Format("20060102") {
		t.Fatalf("gate CRL records %+v %v", crls, err)
	}
	if reported.Load() != 4 {
		t.Fatalf("status refreshed %d times, want once per version (4)", reported.Load())
	}
}

func testKey(i byte) cardkey.Key {
	var k cardkey.Key
	k[0], k[31] = 0x5A, i
	return k
}
