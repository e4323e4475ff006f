package hub

import (
	"context"
	"crypto/ed25519"
	"path/filepath"
	"testing"
	"time"

	"github.com/mynagate/mynagate/offline/cardkey"
	"github.com/mynagate/mynagate/offline/crl"
	"github.com/mynagate/mynagate/offline/whitelist"
	"github.com/mynagate/mynagate/sync/lists"
)

// TestImportCRL: a CRL's card keys go out as the revocation part of the next
// delta, only the new ones, and a gate that applies it refuses those cards.
func TestImportCRL(t *testing.T) {
	m, err := OpenMaster(filepath.Join(t.TempDir(), "lists.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	r := &retainer{retained: map[string][]byte{}}
	opt := PublishOptions{Prefix: "p", ChunkSize: lists.MinChunkSize}
	publish := func() *lists.Manifest {
		t.Helper()
		man, err := m.Publish(context.Background(), r, signKey, "s", "whitelist", opt)
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
	publish()
	day := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	info := func(this time.Time, n int) crl.Info {
		return crl.Info{Issuer: "CN=test", IssuerKeyID: []byte{0xAA}, Number: "1", ThisUpdate: this, NextUpdate: this.Add(24 * time.Hour), Entries: n}
	}
	imp, err := m.ImportCRL("s", "whitelist", info(day, 2), []cardkey.Key{key(2), key(9)})
	if err != nil || imp.Added != 2 {
		t.Fatalf("import: %+v %v", imp, err)
	}
	if man := publish(); man.Kind != lists.Delta || man.Revoke != 2 || man.Puts != 0 {
		t.Fatalf("delta after the CRL: %+v", man)
	}
	// The next day's CRL lists one more: only that one is sent.
	if imp, err = m.ImportCRL("s", "whitelist", info(day.Add(24*time.Hour), 3), []cardkey.Key{key(2), key(9), key(1)}); err != nil || imp.Added != 1 {
		t.Fatalf("second import: %+v %v", imp, err)
	}
	if man := publish(); man.Kind != lists.Delta || man.Revoke != 1 || len(man.CRLs) != 1 || !man.CRLs[0].NextUpdate.Equal(day.Add(48*time.Hour)) {
		t.Fatalf("delta after the second CRL: %+v", man)
	}
	if man := publish(); man != nil {
		t.Fatalf("published with nothing changed: %+v", man)
	}
	// The same CRL again adds no card key, yet goes out: the gates learn
	// its dates only from a manifest.
	if imp, err = m.ImportCRL("s", "whitelist", info(day.Add(24*time.Hour), 3), []cardkey.Key{key(2), key(9), key(1)}); err != nil || imp.Added != 0 {
		t.Fatalf("third import: %+v %v", imp, err)
	}
	if man := publish(); man == nil || man.Kind != lists.Delta || man.Revoke != 0 || len(man.CRLs) != 1 {
		t.Fatalf("delta after a CRL adding nothing: %+v", man)
	}
	if _, err := m.ImportCRL("s", "whitelist", info(day, 2), []cardkey.Key{key(2)}); err == nil {
		t.Fatal("an older CRL was imported")
	}
	crls, err := m.CRLs("s", "whitelist")
	if err != nil || len(crls) != 1 || !crls[0].NextUpdate.Equal(day.Add(48*time.Hour)) {
		t.Fatalf("CRLs %+v %v", crls, err)
	}

	st, err := whitelist.Open(filepath.Join(t.TempDir(), "gate.db"), whitelist.Options{})
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
	waitFor(t, "gate at v4", func() bool { return st.Version() == 4 })
	cancel()
	<-done
	for _, k := range []cardkey.Key{key(1), key(2), key(9)} {
		if rev, err := st.Revoked(k); err != nil || !rev {
			t.Errorf("gate: %s revoked = %v, %v; want true", k, rev, err)
		}
	}
	if got, err := st.CRLs(); err != nil || len(got) != 1 || !got[0].NextUpdate.Equal(day.Add(48*time.Hour)) {
		t.Errorf("gate CRL records %+v, %v; want the hub's", got, err)
	}
}
