package hub

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mynagate/mynagate/hub/hubtest"
	hwclock "github.com/mynagate/mynagate/hw/clock"
	"github.com/mynagate/mynagate/hw/clock/clocktest"
	"github.com/mynagate/mynagate/offline/cardkey"
	"github.com/mynagate/mynagate/offline/whitelist"
	"github.com/mynagate/mynagate/sync/lists"
)

// retainer keeps retained messages as a broker does and can fail after a
// number of publishes, to stand for a broker that goes away mid-publish.
type retainer struct {
	retained map[string][]byte
	failIn   int
}

func (r *retainer) Publish(topic string, payload []byte, retained bool) error {
	if r.failIn > 0 {
		r.failIn--
		if r.failIn == 0 {
			return errors.New("connection lost")
		}
	}
	if !retained {
		return nil
	}
	if len(payload) == 0 {
		delete(r.retained, topic)
	} else {
		r.retained[topic] = payload
	}
	return nil
}

// replay delivers every retained message to a fresh gate, as a subscription
// would, and returns the version it reaches.
func (r *retainer) replay(t *testing.T) uint64 {
	t.Helper()
	return r.replayAt(t, nil)
}

// replayAt is replay by a gate whose clock is clk (nil: the system clock).
func (r *retainer) replayAt(t *testing.T, clk hwclock.Clock) uint64 {
	t.Helper()
	st, err := whitelist.Open(filepath.Join(t.TempDir(), "wl.db"), whitelist.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	recv, err := lists.NewReceiver(lists.ReceiverConfig{Prefix: "p", Site: "s",
		Keys: []ed25519.PublicKey{signKey.Public().(ed25519.PublicKey)}, Lists: map[string]lists.Applier{"whitelist": st}, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- recv.Run(ctx) }()
	for topic, p := range r.retained {
		recv.Handle(topic, p)
	}
	// Run applies asynchronously; wait for the newest retained version
	// still valid at the gate's clock.
	now := time.Now()
	if clk != nil {
		now = clk.Now()
	}
	want := uint64(0)
	for _, p := range r.retained {
		if m, err := lists.ParseManifest(p, []ed25519.PublicKey{signKey.Public().(ed25519.PublicKey)}); err == nil && m.Version > want && m.Expires.After(now) {
			want = m.Version
		}
	}
	waitFor(t, fmt.Sprintf("gate at v%d", want), func() bool { return st.Version() == want })
	cancel()
	<-done
	return st.Version()
}

func rec(i int) whitelist.Record {
	return whitelist.Record{Key: key(i), Entry: whitelist.Entry{ServiceID: fmt.Sprintf("T-%d", i), Kind: whitelist.KindTicket}}
}

func TestPublishKindsAndRetained(t *testing.T) {
	m, err := OpenMaster(filepath.Join(t.TempDir(), "lists.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	r := &retainer{retained: map[string][]byte{}}
	ctx := context.Background()
	opt := PublishOptions{Prefix: "p", ChunkSize: lists.MinChunkSize}
	publish := func() *lists.Manifest {
		t.Helper()
		man, err := m.Publish(ctx, r, signKey, "s", "whitelist", opt)
		if err != nil {
			t.Fatal(err)
		}
		return man
	}
	var recs []whitelist.Record
	for i := range 100 {
		recs = append(recs, rec(i))
	}
	m.Enrol("s", "whitelist", recs, false)
	if man := publish(); man.Kind != lists.Snapshot || man.Version != 1 || man.Puts != 100 {
		t.Fatalf("first: %+v", man)
	}
	m.Enrol("s", "whitelist", []whitelist.Record{rec(100)}, false)
	m.Revoke("s", "whitelist", []cardkey.Key{key(5)}, false)
	if man := publish(); man.Kind != lists.Delta || man.Base != 1 || man.Puts != 1 || man.Revoke != 1 {
		t.Fatalf("delta: %+v", man)
	}
	if v := r.replay(t); v != 2 {
		t.Fatalf("a new gate reached v%d from the retained messages, want 2", v)
	}

	// A publish that fails midway forces the next one to be a snapshot, and
	// the failed version's number is not reused.
	m.Enrol("s", "whitelist", []whitelist.Record{rec(101)}, false)
	r.failIn = 2
	if _, err := m.Publish(ctx, r, signKey, "s", "whitelist", opt); err == nil {
		t.Fatal("publish through a failing broker succeeded")
	}
	man := publish()
	if man.Kind != lists.Snapshot || man.Version != 4 || man.Puts != 102 || man.Revoke != 1 {
		t.Fatalf("after failure: %+v", man)
	}
	// The snapshot cleared the retained delta.
	for topic := range r.retained {
		if strings.HasPrefix(topic, "p/s/lists/whitelist/delta") {
			t.Fatalf("retained delta %s left after a snapshot", topic)
		}
	}
	if v := r.replay(t); v != 4 {
		t.Fatalf("a new gate reached v%d, want 4", v)
	}
	st, err := m.State("s", "whitelist")
	if err != nil || st.Entries != 102 || st.Revoked != 1 || st.Pending != 0 || st.Version != 4 || st.SnapshotVersion != 4 {
		t.Fatalf("state %+v %v", st, err)
	}
	// Replace mode removes what the file does not list.
	res, err := m.Enrol("s", "whitelist", []whitelist.Record{rec(1)}, true)
	if err != nil || res.Removed != 101 || res.Unchanged != 1 {
		t.Fatalf("replace: %+v %v", res, err)
	}
}

// TestRenewKeepsRetainedListsValid: the hub re-signs the retained snapshot and
// deltas with a later expiry once half the validity passed, so that a gate
// joining after the first expiry still reaches the latest version; without
// the renewal it is refused whole.
func TestRenewKeepsRetainedListsValid(t *testing.T) {
	m, err := OpenMaster(filepath.Join(t.TempDir(), "lists.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	r := &retainer{retained: map[string][]byte{}}
	ctx := context.Background()
	const week = 7 * 24 * time.Hour
	opt := PublishOptions{Prefix: "p", ChunkSize: lists.MinChunkSize, Validity: week}
	m.Enrol("s", "whitelist", []whitelist.Record{rec(1), rec(2), rec(3)}, false)
	first, err := m.Publish(ctx, r, signKey, "s", "whitelist", opt)
	if err != nil {
		t.Fatal(err)
	}
	if d := first.Expires.Sub(first.Created); d != week {
		t.Fatalf("published with expiry %s after creation, want %s", d, week)
	}
	if st, err := m.State("s", "whitelist"); err != nil || !st.Expires.Equal(first.Expires) {
		t.Fatalf("state %+v %v, want expiry %s", st, err, first.Expires)
	}
	m.Revoke("s", "whitelist", []cardkey.Key{key(2)}, false)
	if _, err := m.Publish(ctx, r, signKey, "s", "whitelist", opt); err != nil {
		t.Fatal(err)
	}
	before := maps.Clone(r.retained)
	start := first.Created

	if got, err := m.Renew(ctx, r, signKey, "p", start.Add(2*24*time.Hour), week, false); err != nil || len(got) != 0 {
		t.Fatalf("renew with five days left: %+v %v, want nothing", got, err)
	}
	if v := (&retainer{retained: before}).replayAt(t, clocktest.New(start.Add(8*24*time.Hour))); v != 0 {
		t.Fatalf("a gate past the expiry applied v%d of the unrenewed lists", v)
	}
	got, err := m.Renew(ctx, r, signKey, "p", start.Add(4*24*time.Hour), week, false)
	if err != nil || len(got) != 1 || !slices.Equal(got[0].Versions, []uint64{1, 2}) {
		t.Fatalf("renew with three days left: %+v %v, want snapshot v1 and delta v2", got, err)
	}
	if v := r.replayAt(t, clocktest.New(start.Add(8*24*time.Hour))); v != 2 {
		t.Fatalf("a gate after the first expiry reached v%d of the renewed lists, want 2", v)
	}
	// The chunks are the same; only the manifests were signed again.
	for topic, p := range r.retained {
		if strings.HasSuffix(topic, "/snapshot") || strings.HasSuffix(topic, "/delta/2") {
			continue
		}
		if !bytes.Equal(p, before[topic]) {
			t.Fatalf("renewal changed %s", topic)
		}
	}
	if again, err := m.Renew(ctx, r, signKey, "p", start.Add(5*24*time.Hour), week, false); err != nil || len(again) != 0 {
		t.Fatalf("renew just after a renewal: %+v %v, want nothing", again, err)
	}
}

// TestRunRenewsLists: gatehub run renews, once connected, a retained list
// whose expiry is less than half its validity away.
func TestRunRenewsLists(t *testing.T) {
	cfg := testConfig(t)
	cfg.ListValidity = "5h"
	if err := cfg.check(); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	m, err := OpenMaster(filepath.Join(cfg.DataDir, "lists.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	m.Enrol("s", "whitelist", []whitelist.Record{rec(1)}, false)
	// Published two hours ago for three: an hour left, under half of 5h.
	first, err := m.Publish(context.Background(), &retainer{retained: map[string][]byte{}}, signKey, "s", "whitelist",
		PublishOptions{Prefix: cfg.Prefix, Validity: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	m.Close()
	startHub(t, cfg)
	// Retained: the renewal is received whether it came before or after.
	sub := hubtest.Subscribe(t, hubAccount(t, cfg), lists.ManifestTopic(cfg.Prefix, "s", "whitelist", lists.Snapshot, 0))
	msgs, ok := sub.Wait(1, 30*time.Second)
	if !ok {
		t.Fatal("gatehub run published no renewed manifest")
	}
	man, err := lists.ParseManifest(msgs[0].Payload, []ed25519.PublicKey{signKey.Public().(ed25519.PublicKey)})
	if err != nil {
		t.Fatal(err)
	}
	if man.Version != first.Version || man.Expires.Sub(first.Expires) < 3*time.Hour {
		t.Fatalf("renewed v%d until %s; published v%d until %s, want the same version valid 5h from now", man.Version, man.Expires, first.Version, first.Expires)
	}
}
