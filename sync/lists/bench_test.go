package lists

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mynagate/mynagate/offline/whitelist"
)

// Benchmarks for scripts/bench (DESIGN.md §7); they run only with
// MYNAGATE_BENCH=1 and print "BENCH name value unit note" lines.

// applyThroughReceiver times a signed version from its first message to the
// store reporting it in force: verify, assemble, decode, Apply.
func applyThroughReceiver(t *testing.T, r *Receiver, st *whitelist.Store, s *Signed) time.Duration {
	t.Helper()
	m := s.Manifest
	start := time.Now()
	r.Handle(ManifestTopic("p", "stadium", m.List, m.Kind, m.Version), s.Envelope)
	for i, c := range s.Chunks {
		r.Handle(ChunkTopic("p", "stadium", m.List, m.Kind, m.Version, i), c)
	}
	r.applyAll(context.Background())
	el := time.Since(start)
	if st.Version() != m.Version {
		t.Fatalf("version %d not applied (store at %d)", m.Version, st.Version())
	}
	return el
}

func benchStore(t *testing.T) (*Receiver, *whitelist.Store) {
	t.Helper()
	st, err := whitelist.Open(filepath.Join(t.TempDir(), "wl.db"), whitelist.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	r, err := NewReceiver(ReceiverConfig{Prefix: "p", Site: "stadium", Clock: testClock(),
		Keys: []ed25519.PublicKey{hubKey.Public().(ed25519.PublicKey)}, Lists: map[string]Applier{"whitelist": st}})
	if err != nil {
		t.Fatal(err)
	}
	return r, st
}

// TestBenchListApply measures snapshot_apply_1m_s (a 1,000,000-entry signed
// snapshot) and delta_apply_100k_s (a 100,000-entry delta on top of it).
func TestBenchListApply(t *testing.T) {
	if os.Getenv("MYNAGATE_BENCH") != "1" {
		t.Skip("benchmark; set MYNAGATE_BENCH=1")
	}
	r, st := benchStore(t)
	snap := build(t, hubKey, Snapshot, 1, 0, snapshotChange(1_000_000), 0)
	el := applyThroughReceiver(t, r, st, snap)
	fmt.Printf("BENCH snapshot_apply_1m_s %.2f s entries=1000000 payload=%dB chunks=%d verify+assemble+whitelist.Apply\n",
		el.Seconds(), snap.Manifest.Size, len(snap.Chunks))
	d := &Change{}
	for i := range 100_000 {
		rec := record(2_000_000 + i)
		d.Puts = append(d.Puts, rec)
	}
	delta := build(t, hubKey, Delta, 2, 1, d, 0)
	el = applyThroughReceiver(t, r, st, delta)
	fmt.Printf("BENCH delta_apply_100k_s %.2f s puts=100000 on 1000000 entries payload=%dB chunks=%d\n",
		el.Seconds(), delta.Manifest.Size, len(delta.Chunks))
}
