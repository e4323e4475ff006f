package hub

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

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
	st, err := whitelist.Open(filepath.Join(t.TempDir(), "wl.db"), whitelist.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	recv, err := lists.NewReceiver(lists.ReceiverConfig{Prefix: "p", Site: "s",
		Keys: []ed25519.PublicKey{signKey.Public().(ed25519.PublicKey)}, Lists: map[string]lists.Applier{"whitelist": st}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- recv.Run(ctx) }()
	for topic, p := range r.retained {
		recv.Handle(topic, p)
	}
	// Run applies asynchronously; wait for the newest retained version.
	want := uint64(0)
	for _, p := range r.retained {
		if m, err := lists.ParseManifest(p, []ed25519.PublicKey{signKey.Public().(ed25519.PublicKey)}); err == nil && m.Version > want {
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
