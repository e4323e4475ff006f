package lists

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

// memRaw is a RawApplier in memory; it refuses payloads starting with "bad".
type memRaw struct {
	mu      sync.Mutex
	version uint64
	payload []byte
	applied int
}

func (m *memRaw) Version() uint64 { m.mu.Lock(); defer m.mu.Unlock(); return m.version }

func (m *memRaw) ApplyRaw(version uint64, payload []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if version <= m.version {
		return fmt.Errorf("version %d not above %d", version, m.version)
	}
	if bytes.HasPrefix(payload, []byte("bad")) {
		return errors.New("bad document")
	}
	m.version, m.payload = version, payload
	m.applied++
	return nil
}

func buildRaw(t testing.TB, priv ed25519.PrivateKey, m Manifest, payload string) *Signed {
	t.Helper()
	if m.Site == "" {
		m.Site = "stadium"
	}
	m.List, m.Created, m.Expires = "config", created, expires
	s, err := Build(priv, m, []byte(payload), MinChunkSize)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

type rawHarness struct {
	harness
	raw *memRaw
}

func newRawHarness(t *testing.T) *rawHarness {
	h := &rawHarness{harness: harness{app: newMem(), logs: &bytes.Buffer{}}, raw: &memRaw{}}
	r, err := NewReceiver(ReceiverConfig{
		Prefix: "mynagate/v1", Site: "stadium",
		Keys:   []ed25519.PublicKey{hubKey.Public().(ed25519.PublicKey)},
		Lists:  map[string]Applier{"whitelist": h.app},
		Raw:    map[string]RawApplier{"config": h.raw},
		Clock:  testClock(),
		Logger: slog.New(slog.NewTextHandler(h.logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	h.r = r
	return h
}

func TestReceiverRawApplies(t *testing.T) {
	for _, chunksFirst := range []bool{false, true} {
		t.Run(fmt.Sprint("chunksFirst=", chunksFirst), func(t *testing.T) {
			h := newRawHarness(t)
			big := strings.Repeat("x", 3*MinChunkSize+5) // several chunks
			h.deliver(buildRaw(t, hubKey, Manifest{Kind: Snapshot, Version: 4}, big), chunksFirst)
			if h.raw.Version() != 4 || string(h.raw.payload) != big {
				t.Fatalf("raw list: version %d, %d bytes", h.raw.Version(), len(h.raw.payload))
			}
			// The whitelist beside it is untouched and still works.
			h.deliver(build(t, hubKey, Snapshot, 2, 0, snapshotChange(3), 0), chunksFirst)
			v := h.r.Versions()
			if v["config"].Version != 4 || v["whitelist"].Version != 2 || v["config"].AppliedAt.IsZero() {
				t.Fatalf("Versions() = %+v", v)
			}
		})
	}
}

func TestReceiverRawRefusals(t *testing.T) {
	good := buildRaw(t, hubKey, Manifest{Kind: Snapshot, Version: 5}, strings.Repeat("y", 2*MinChunkSize))
	tampered := *good
	tampered.Chunks = append([][]byte{}, good.Chunks...)
	bad := append([]byte{}, tampered.Chunks[1]...)
	bad[len(bad)-1] ^= 1
	tampered.Chunks[1] = bad
	tests := []struct {
		name    string
		s       *Signed
		wantLog string
	}{
		{"tampered chunk", &tampered, "does not match its signed hash"},
		{"wrong signature", buildRaw(t, otherKey, Manifest{Kind: Snapshot, Version: 5}, "new"), "signature does not verify"},
		{"older version", buildRaw(t, hubKey, Manifest{Kind: Snapshot, Version: 2}, "old"), "not above the one in force"},
		{"replayed version", buildRaw(t, hubKey, Manifest{Kind: Snapshot, Version: 3}, "replay"), ""},
		{"other site", buildRaw(t, hubKey, Manifest{Site: "arena", Kind: Snapshot, Version: 9}, "new"), "signed for another place"},
		{"delta", buildRaw(t, hubKey, Manifest{Kind: Delta, Version: 6, Base: 3}, "new"), "refused a delta of a snapshot-only list"},
		{"record counts", buildRaw(t, hubKey, Manifest{Kind: Snapshot, Version: 6, Puts: 1}, "new"), "counts whitelist records"},
		{"store refuses", buildRaw(t, hubKey, Manifest{Kind: Snapshot, Version: 6}, "bad doc"), "apply failed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newRawHarness(t)
			h.deliver(buildRaw(t, hubKey, Manifest{Kind: Snapshot, Version: 3}, "in force"), false)
			h.deliver(tc.s, false)
			if tc.wantLog != "" {
				h.wantLog(t, tc.wantLog)
			}
			if h.raw.Version() != 3 || string(h.raw.payload) != "in force" || h.raw.applied != 1 {
				t.Fatalf("previous version not in force: version %d, payload %q, %d applies", h.raw.Version(), h.raw.payload, h.raw.applied)
			}
		})
	}
}

func TestNewReceiverRawConfig(t *testing.T) {
	keys := []ed25519.PublicKey{hubKey.Public().(ed25519.PublicKey)}
	tests := []struct {
		name    string
		cfg     ReceiverConfig
		wantErr string
	}{
		{"raw only", ReceiverConfig{Site: "s", Keys: keys, Raw: map[string]RawApplier{"config": &memRaw{}}}, ""},
		{"name in both", ReceiverConfig{Site: "s", Keys: keys, Lists: map[string]Applier{"config": newMem()},
			Raw: map[string]RawApplier{"config": &memRaw{}}}, "both in Lists and in Raw"},
		{"bad raw name", ReceiverConfig{Site: "s", Keys: keys, Raw: map[string]RawApplier{"a/b": &memRaw{}}}, "must not contain"},
		{"no stores", ReceiverConfig{Site: "s", Keys: keys}, "no list stores"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewReceiver(tc.cfg)
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("got %v, want %q", err, tc.wantErr)
			}
		})
	}
}

// A raw list's chunks wait for their manifest like a whitelist's; the store
// sees nothing until the whole version verified.
func TestReceiverRawNothingBeforeVerified(t *testing.T) {
	h := newRawHarness(t)
	s := buildRaw(t, hubKey, Manifest{Kind: Snapshot, Version: 7}, strings.Repeat("z", 2*MinChunkSize+1))
	for i, c := range s.Chunks {
		h.r.Handle(ChunkTopic("mynagate/v1", "stadium", "config", Snapshot, 7, i), c)
	}
	h.r.applyAll(context.Background())
	if h.raw.applied != 0 {
		t.Fatal("applied before the manifest arrived")
	}
	h.r.Handle(ManifestTopic("mynagate/v1", "stadium", "config", Snapshot, 7), s.Envelope)
	h.r.applyAll(context.Background())
	if h.raw.Version() != 7 {
		t.Fatalf("version %d after the manifest", h.raw.Version())
	}
}
