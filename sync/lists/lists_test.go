package lists

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mynagate/mynagate/hw/clock/clocktest"
	"github.com/mynagate/mynagate/offline/cardkey"
	"github.com/mynagate/mynagate/offline/crl"
	"github.com/mynagate/mynagate/offline/whitelist"
)

var update = flag.Bool("update", false, "rewrite golden files")

// The whitelist store is the Applier a gate wires.
var (
	_ Applier    = (*whitelist.Store)(nil)
	_ CRLApplier = (*whitelist.Store)(nil)
)

var (
	hubKey   = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, 32))
	otherKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{2}, 32))
	created  = time.Date(2026, 11, 25, 6, 0, 0, 0, time.UTC)
	// expires is the expiry test manifests carry: the hub's default week.
	expires = created.Add(7 * 24 * time.Hour)
)

// testClock is a gate clock an hour after the test manifests were made.
func testClock() *clocktest.Clock { return clocktest.New(created.Add(time.Hour)) }

func key(i int) cardkey.Key {
	var k cardkey.Key
	copy(k[:], fmt.Sprintf("card-%027d", i))
	return k
}

func record(i int) whitelist.Record {
	return whitelist.Record{Key: key(i), Entry: whitelist.Entry{
		ServiceID:  fmt.Sprintf("T-%06d", i),
		Kind:       whitelist.KindTicket,
		ValidFrom:  time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC),
		ValidUntil: time.Date(2026, 12, 1, 22, 0, 0, 0, time.UTC),
		Daily:      whitelist.Daily{From: 9 * 60, Until: 22 * 60},
		Zones:      []string{"north", "vip"},
		Seat:       "A-12",
		Group:      "G-1",
	}}
}

func snapshotChange(n int) *Change {
	c := &Change{Revoke: []cardkey.Key{key(-1)}}
	for i := range n {
		c.Puts = append(c.Puts, record(i))
	}
	return c
}

func build(t testing.TB, priv ed25519.PrivateKey, kind Kind, version, base uint64, c *Change, chunk int) *Signed {
	t.Helper()
	s, err := Build(priv, Manifest{Site: "stadium", List: "whitelist", Kind: kind, Version: version, Base: base, Created: created, Expires: expires,
		Puts: len(c.Puts), Deletes: len(c.Deletes), Revoke: len(c.Revoke), Unrevoke: len(c.Unrevoke)}, EncodePayload(c), chunk)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestPayloadRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		c    *Change
	}{
		{"empty", &Change{}},
		{"snapshot", snapshotChange(3)},
		{"delta", &Change{Puts: []whitelist.Record{{Key: key(9), Entry: whitelist.Entry{ServiceID: "R-1", Kind: whitelist.KindResident}}},
			Deletes: []cardkey.Key{key(1)}, Revoke: []cardkey.Key{key(2)}, Unrevoke: []cardkey.Key{key(3)}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodePayload(EncodePayload(tc.c))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.c) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", got, tc.c)
			}
		})
	}
}

func TestDecodePayloadRejects(t *testing.T) {
	good := EncodePayload(snapshotChange(2))
	tests := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"bad magic", append([]byte("XXXX\x01"), good[5:]...)},
		{"truncated", good[:len(good)-3]},
		{"trailing", append(append([]byte{}, good...), 0)},
		{"huge count", append([]byte("MGLP\x01"), 0xff, 0xff, 0xff, 0xff, 0x0f)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := DecodePayload(tc.b); !errors.Is(err, ErrPayload) {
				t.Fatalf("got %v, want ErrPayload", err)
			}
		})
	}
}

// TestWireGolden pins the manifest envelope and payload bytes: the hub and
// every gate in the field must agree on them.
func TestWireGolden(t *testing.T) {
	c := snapshotChange(2)
	s := build(t, hubKey, Snapshot, 7, 0, c, MinChunkSize)
	for _, f := range []struct {
		name string
		got  []byte
	}{
		{"manifest.golden.json", append(s.Envelope, '\n')},
		{"payload.golden.hex", []byte(hex.Dump(EncodePayload(c)))},
		{"manifest_crls.golden.json", append(withCRLs(t, c).Envelope, '\n')},
	} {
		path := filepath.Join("testdata", f.name)
		if *update {
			if err := os.WriteFile(path, f.got, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (go test -update creates it)", err)
		}
		if !bytes.Equal(f.got, want) {
			t.Errorf("%s changed:\n got %s\nwant %s", f.name, f.got, want)
		}
	}
}

// testCRL is the CRL record test manifests carry.
var testCRL = crl.Info{Issuer: "CN=test CA,O=JPKI", IssuerKeyID: []byte{0xCA, 0xFE}, Number: "42",
	ThisUpdate: created.Add(-time.Hour), NextUpdate: created.Add(23 * time.Hour), Entries: 1}

// withCRLs builds the golden snapshot version of c naming testCRL.
func withCRLs(t testing.TB, c *Change) *Signed {
	t.Helper()
	s, err := Build(hubKey, Manifest{Site: "stadium", List: "whitelist", Kind: Snapshot, Version: 7, Created: created, Expires: expires,
		Puts: len(c.Puts), Revoke: len(c.Revoke), CRLs: []crl.Info{testCRL}}, EncodePayload(c), MinChunkSize)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestManifestCRLs: a manifest's CRL records survive signing and parsing, and
// a manifest naming a CRL that cannot be is refused even when signed.
func TestManifestCRLs(t *testing.T) {
	pub := []ed25519.PublicKey{hubKey.Public().(ed25519.PublicKey)}
	m, err := ParseManifest(withCRLs(t, snapshotChange(1)).Envelope, pub)
	if err != nil || len(m.CRLs) != 1 || !reflect.DeepEqual(m.CRLs[0], testCRL) {
		t.Fatalf("parsed %+v, %v; want %+v", m.CRLs, err, testCRL)
	}
	bad := func(f func(*crl.Info)) []crl.Info { c := testCRL; f(&c); return []crl.Info{c} }
	for _, tc := range []struct {
		name string
		crls []crl.Info
	}{
		{"no issuer key id", bad(func(c *crl.Info) { c.IssuerKeyID = nil })},
		{"issuer key id too long", bad(func(c *crl.Info) { c.IssuerKeyID = make([]byte, 65) })},
		{"no next update", bad(func(c *crl.Info) { c.NextUpdate = time.Time{} })},
		{"next update before this update", bad(func(c *crl.Info) { c.NextUpdate = c.ThisUpdate.Add(-time.Second) })},
		{"negative entries", bad(func(c *crl.Info) { c.Entries = -1 })},
		{"two of one CA", []crl.Info{testCRL, testCRL}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw, err := json.Marshal(Manifest{Format: Format, Site: "stadium", List: "whitelist", Kind: Snapshot, Version: 7, Created: created, Expires: expires,
				ChunkSize: MinChunkSize, SHA256: strings.Repeat("0", 64), Chunks: []string{strings.Repeat("0", 64)}, CRLs: tc.crls})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := ParseManifest(signRaw(t, string(raw)), pub); err == nil || !strings.Contains(err.Error(), "CRL") {
				t.Fatalf("accepted or refused for another reason: %v", err)
			}
		})
	}
}

func TestParseManifestRejects(t *testing.T) {
	s := build(t, hubKey, Snapshot, 7, 0, snapshotChange(1), 0)
	pub := []ed25519.PublicKey{hubKey.Public().(ed25519.PublicKey)}
	if _, err := ParseManifest(s.Envelope, pub); err != nil {
		t.Fatalf("good manifest: %v", err)
	}
	tampered := bytes.Replace(s.Envelope, []byte(`"version":7`), []byte(`"version":8`), 1)
	tests := []struct {
		name string
		b    []byte
		keys []ed25519.PublicKey
	}{
		{"other key", s.Envelope, []ed25519.PublicKey{otherKey.Public().(ed25519.PublicKey)}},
		{"tampered", tampered, pub},
		{"not json", []byte("{"), pub},
		{"unknown field", []byte(`{"manifest":{},"signature":"","x":1}`), pub},
		{"tampered expiry", bytes.Replace(s.Envelope, []byte(`"expires":"2026-12-02`), []byte(`"expires":"2027-12-02`), 1), pub},
		{"expires before created", signRaw(t, `{"format":"mynagate-list/1","site":"stadium","list":"whitelist","kind":"snapshot","version":7,"base":0,"created":"2026-11-25T06:00:00Z","expires":"2026-11-25T06:00:00Z","chunk_size":1024,"size":0,"sha256":"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","chunks":["e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"],"puts":0,"deletes":0,"revoke":0,"unrevoke":0}`), pub},
		{"unknown manifest field", signRaw(t, `{"format":"mynagate-list/1","site":"stadium","list":"whitelist","kind":"snapshot","version":7,"base":0,"created":"2026-11-25T06:00:00Z","expires":"2026-12-25T06:00:00Z","valid_for":"ever","chunk_size":1024,"size":0,"sha256":"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","chunks":["e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"],"puts":0,"deletes":0,"revoke":0,"unrevoke":0}`), pub},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ParseManifest(tc.b, tc.keys); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

// signRaw signs manifest JSON as the hub key would, so that a test can show
// that a validly signed but bad manifest is still refused.
func signRaw(t *testing.T, manifest string) []byte {
	t.Helper()
	sig := ed25519.Sign(hubKey, append([]byte(sigDomain), manifest...))
	b, err := json.Marshal(Envelope{Manifest: json.RawMessage(manifest), Signature: base64.StdEncoding.EncodeToString(sig)})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// memApplier is an in-memory store with the whitelist store's version rules.
type memApplier struct {
	mu      sync.Mutex
	version uint64
	entries map[cardkey.Key]whitelist.Entry
	revoked map[cardkey.Key]bool
	applied int
}

func newMem() *memApplier {
	return &memApplier{entries: map[cardkey.Key]whitelist.Entry{}, revoked: map[cardkey.Key]bool{}}
}

func (m *memApplier) Version() uint64 { m.mu.Lock(); defer m.mu.Unlock(); return m.version }

func (m *memApplier) Apply(version uint64, snapshot bool, puts []whitelist.Record, deletes []cardkey.Key, revoke, unrevoke []cardkey.Key) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if version <= m.version {
		return fmt.Errorf("version %d not above %d", version, m.version)
	}
	m.applied++
	if snapshot {
		m.entries, m.revoked = map[cardkey.Key]whitelist.Entry{}, map[cardkey.Key]bool{}
	}
	for _, r := range puts {
		m.entries[r.Key] = r.Entry
	}
	for _, k := range deletes {
		delete(m.entries, k)
	}
	for _, k := range revoke {
		m.revoked[k] = true
	}
	for _, k := range unrevoke {
		delete(m.revoked, k)
	}
	m.version = version
	return nil
}

type harness struct {
	r     *Receiver
	app   *memApplier
	logs  *bytes.Buffer
	asked int
}

func newHarness(t *testing.T) *harness {
	h := &harness{app: newMem(), logs: &bytes.Buffer{}}
	r, err := NewReceiver(ReceiverConfig{
		Prefix: "mynagate/v1", Site: "stadium",
		Keys:            []ed25519.PublicKey{hubKey.Public().(ed25519.PublicKey)},
		Lists:           map[string]Applier{"whitelist": h.app},
		RequestSnapshot: func() { h.asked++ },
		Clock:           testClock(),
		Logger:          slog.New(slog.NewTextHandler(h.logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	h.r = r
	return h
}

// deliver hands a signed version to the receiver, chunks first when
// chunksFirst (the broker does not order across topics), then applies.
func (h *harness) deliver(s *Signed, chunksFirst bool) {
	m := s.Manifest
	if !chunksFirst {
		h.r.Handle(ManifestTopic("mynagate/v1", "stadium", m.List, m.Kind, m.Version), s.Envelope)
	}
	for i, c := range s.Chunks {
		h.r.Handle(ChunkTopic("mynagate/v1", "stadium", m.List, m.Kind, m.Version, i), c)
	}
	if chunksFirst {
		h.r.Handle(ManifestTopic("mynagate/v1", "stadium", m.List, m.Kind, m.Version), s.Envelope)
	}
	h.r.applyAll(context.Background())
}

func (h *harness) wantLog(t *testing.T, substr string) {
	t.Helper()
	if !strings.Contains(h.logs.String(), substr) {
		t.Fatalf("no log line with %q; log:\n%s", substr, h.logs.String())
	}
}

func TestReceiverAppliesSnapshotThenDeltas(t *testing.T) {
	for _, chunksFirst := range []bool{false, true} {
		t.Run(fmt.Sprint("chunksFirst=", chunksFirst), func(t *testing.T) {
			h := newHarness(t)
			h.deliver(build(t, hubKey, Snapshot, 5, 0, snapshotChange(200), MinChunkSize), chunksFirst)
			if h.app.Version() != 5 || len(h.app.entries) != 200 || !h.app.revoked[key(-1)] {
				t.Fatalf("after snapshot: version %d, %d entries", h.app.Version(), len(h.app.entries))
			}
			d := &Change{Puts: []whitelist.Record{record(1000)}, Deletes: []cardkey.Key{key(0)}, Unrevoke: []cardkey.Key{key(-1)}}
			h.deliver(build(t, hubKey, Delta, 6, 5, d, 0), chunksFirst)
			if h.app.Version() != 6 || len(h.app.entries) != 200 || h.app.revoked[key(-1)] {
				t.Fatalf("after delta: version %d, %d entries", h.app.Version(), len(h.app.entries))
			}
			if _, ok := h.app.entries[key(0)]; ok {
				t.Fatal("deleted entry still there")
			}
			if !reflect.DeepEqual(h.r.Versions()["whitelist"].Version, uint64(6)) {
				t.Fatalf("Versions() = %+v", h.r.Versions())
			}
		})
	}
}

func TestReceiverRefusals(t *testing.T) {
	good := build(t, hubKey, Snapshot, 5, 0, snapshotChange(100), MinChunkSize)
	tampered := *good
	tampered.Chunks = append([][]byte{}, good.Chunks...)
	bad := append([]byte{}, tampered.Chunks[1]...)
	bad[len(bad)-1] ^= 1
	tampered.Chunks[1] = bad
	otherSite, err := Build(hubKey, Manifest{Site: "arena", List: "whitelist", Kind: Snapshot, Version: 9, Created: created, Expires: expires}, EncodePayload(&Change{}), 0)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		s       *Signed
		wantLog string
	}{
		{"tampered chunk", &tampered, "does not match its signed hash"},
		{"wrong signature", build(t, otherKey, Snapshot, 5, 0, snapshotChange(100), MinChunkSize), "signature does not verify"},
		{"old version", build(t, hubKey, Snapshot, 2, 0, snapshotChange(1), 0), "not above the one in force"},
		{"other site", otherSite, "signed for another place"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.deliver(build(t, hubKey, Snapshot, 3, 0, snapshotChange(2), 0), false)
			h.deliver(tc.s, false)
			h.wantLog(t, tc.wantLog)
			if h.app.Version() != 3 || len(h.app.entries) != 2 {
				t.Fatalf("previous list not in force: version %d, %d entries", h.app.Version(), len(h.app.entries))
			}
		})
	}
}

func TestReceiverDeltaGap(t *testing.T) {
	h := newHarness(t)
	h.deliver(build(t, hubKey, Snapshot, 3, 0, snapshotChange(2), 0), false)
	// Delta 4 (base 3) was lost; delta 5 (base 4) arrives.
	d5 := &Change{Puts: []whitelist.Record{record(50)}}
	h.deliver(build(t, hubKey, Delta, 5, 4, d5, 0), false)
	if h.app.Version() != 3 {
		t.Fatalf("gapped delta applied: version %d", h.app.Version())
	}
	h.wantLog(t, "delta does not apply on the version in force")
	if h.asked != 1 {
		t.Fatalf("snapshot requested %d times, want 1", h.asked)
	}
	// The latest snapshot (4) arrives; the held delta 5 now connects.
	h.deliver(build(t, hubKey, Snapshot, 4, 0, snapshotChange(10), 0), false)
	if h.app.Version() != 5 || len(h.app.entries) != 11 {
		t.Fatalf("after snapshot: version %d, %d entries; want 5 and 11", h.app.Version(), len(h.app.entries))
	}
}

func TestReceiverOrphanBound(t *testing.T) {
	h := newHarness(t)
	h.r.cfg.MaxOrphanBytes = 2 * MinChunkSize
	s := build(t, hubKey, Snapshot, 5, 0, snapshotChange(200), MinChunkSize)
	for i, c := range s.Chunks {
		h.r.Handle(ChunkTopic("mynagate/v1", "stadium", "whitelist", Snapshot, 0, i), c)
	}
	h.wantLog(t, "orphan buffer full")
	if h.r.orphanBytes > 2*MinChunkSize {
		t.Fatalf("orphan bytes %d over the bound", h.r.orphanBytes)
	}
	// The retained resend after a request completes it.
	h.deliver(s, false)
	if h.app.Version() != 5 {
		t.Fatalf("version %d after a full delivery", h.app.Version())
	}
}

func TestReceiverWithWhitelistStore(t *testing.T) {
	st, err := whitelist.Open(filepath.Join(t.TempDir(), "wl.db"), whitelist.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	r, err := NewReceiver(ReceiverConfig{Prefix: "p", Site: "stadium", Clock: testClock(),
		Keys: []ed25519.PublicKey{hubKey.Public().(ed25519.PublicKey)}, Lists: map[string]Applier{"whitelist": st}})
	if err != nil {
		t.Fatal(err)
	}
	s := build(t, hubKey, Snapshot, 1, 0, snapshotChange(50), MinChunkSize)
	r.Handle(ManifestTopic("p", "stadium", "whitelist", Snapshot, 0), s.Envelope)
	for i, c := range s.Chunks {
		r.Handle(ChunkTopic("p", "stadium", "whitelist", Snapshot, 0, i), c)
	}
	r.applyAll(context.Background())
	e, ok, err := st.Lookup(key(7))
	if err != nil || !ok || e.ServiceID != "T-000007" {
		t.Fatalf("lookup after apply: %+v %v %v", e, ok, err)
	}
	if revoked, _ := st.Revoked(key(-1)); !revoked {
		t.Fatal("snapshot revocation not applied")
	}
}

func TestKeyFilesRoundTrip(t *testing.T) {
	dir := t.TempDir()
	priv, err := MarshalPrivateKey(hubKey)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := MarshalPublicKey(hubKey.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "hub.pem"), priv, 0o600)
	os.WriteFile(filepath.Join(dir, "hub.pub"), pub, 0o644)
	k, err := LoadPrivateKey(filepath.Join(dir, "hub.pem"))
	if err != nil || !k.Equal(hubKey) {
		t.Fatalf("private key round trip: %v", err)
	}
	p, err := LoadPublicKey(filepath.Join(dir, "hub.pub"))
	if err != nil || !p.Equal(hubKey.Public()) {
		t.Fatalf("public key round trip: %v", err)
	}
	if _, err := LoadPublicKey(filepath.Join(dir, "hub.pem")); err == nil {
		t.Fatal("a private key file loaded as a pinned public key")
	}
	for _, mode := range []os.FileMode{0o400, 0o640, 0o644, 0o606} {
		if err := os.Chmod(filepath.Join(dir, "hub.pem"), mode); err != nil {
			t.Fatal(err)
		}
		_, err := LoadPrivateKey(filepath.Join(dir, "hub.pem"))
		if ownerOnly := mode&0o077 == 0; ownerOnly != (err == nil) {
			t.Errorf("signing key at mode %04o: %v", mode, err)
		}
	}
}
