package lists

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"testing"
)

func FuzzParseManifest(f *testing.F) {
	s, err := Build(hubKey, Manifest{Site: "stadium", List: "whitelist", Kind: Delta, Version: 3, Base: 2, Created: created, Expires: expires}, EncodePayload(snapshotChange(3)), MinChunkSize)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(s.Envelope)
	f.Add(withCRLs(f, snapshotChange(1)).Envelope)
	f.Add([]byte(`{"manifest":{"format":"mynagate-list/1"},"signature":""}`))
	keys := []ed25519.PublicKey{hubKey.Public().(ed25519.PublicKey)}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseManifest(b, keys)
		if err != nil {
			return
		}
		// Whatever verifies must be self-consistent.
		if m.check() != nil || int64(len(m.Chunks)) != chunkCount(m.Size, m.ChunkSize) {
			t.Fatalf("accepted inconsistent manifest %+v", m)
		}
	})
}

func FuzzParseChunk(f *testing.F) {
	f.Add(encodeChunk(Snapshot, 7, 3, []byte("data")))
	f.Add([]byte("MGLCx"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseChunk(b)
		if err != nil {
			return
		}
		if !bytes.Equal(encodeChunk(c.Kind, c.Version, c.Index, c.Data), b) {
			t.Fatal("chunk does not re-encode to its input")
		}
	})
}

func FuzzDecodePayload(f *testing.F) {
	f.Add(EncodePayload(snapshotChange(3)))
	f.Add(EncodePayload(&Change{}))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := DecodePayload(b)
		if err != nil {
			return
		}
		if _, err := DecodePayload(EncodePayload(c)); err != nil {
			t.Fatalf("decoded payload does not re-encode: %v", err)
		}
	})
}

// FuzzReceiverHandle feeds arbitrary messages to a receiver: it must neither
// panic nor apply anything unsigned.
func FuzzReceiverHandle(f *testing.F) {
	s, err := Build(hubKey, Manifest{Site: "stadium", List: "whitelist", Kind: Snapshot, Version: 3, Created: created, Expires: expires}, EncodePayload(snapshotChange(3)), MinChunkSize)
	if err != nil {
		f.Fatal(err)
	}
	f.Add("mynagate/v1/stadium/lists/whitelist/snapshot", s.Envelope)
	f.Add("mynagate/v1/stadium/lists/whitelist/snapshot/0", s.Chunks[0])
	f.Add("mynagate/v1/stadium/lists/whitelist/delta/9/99", []byte("MGLCd\x00\x00\x00\x00\x00\x00\x00\x09\x00\x00\x00\x63x"))
	raw, err := Build(hubKey, Manifest{Site: "stadium", List: "config", Kind: Snapshot, Version: 3, Created: created, Expires: expires}, []byte(`{"emergency":false}`), MinChunkSize)
	if err != nil {
		f.Fatal(err)
	}
	f.Add("mynagate/v1/stadium/lists/config/snapshot", raw.Envelope)
	f.Add("mynagate/v1/stadium/lists/config/snapshot/0", raw.Chunks[0])
	f.Fuzz(func(t *testing.T, topic string, payload []byte) {
		app, cfg := newMem(), &memRaw{}
		r, err := NewReceiver(ReceiverConfig{Prefix: "mynagate/v1", Site: "stadium",
			Keys:  []ed25519.PublicKey{otherKey.Public().(ed25519.PublicKey)},
			Lists: map[string]Applier{"whitelist": app}, Raw: map[string]RawApplier{"config": cfg}})
		if err != nil {
			t.Fatal(err)
		}
		r.Handle(topic, payload)
		r.applyAll(context.Background())
		if app.Version() != 0 || cfg.Version() != 0 {
			t.Fatal("applied a version not signed by the pinned key")
		}
	})
}
