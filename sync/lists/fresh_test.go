package lists

import (
	"bytes"
	"crypto/ed25519"
	"log/slog"
	"testing"
	"time"

	"github.com/mynagate/mynagate/hw/clock/clocktest"
)

// newFreshHarness is newHarness with the freshness settings given.
func newFreshHarness(t *testing.T, clk *clocktest.Clock, set func(*ReceiverConfig)) *harness {
	t.Helper()
	h := &harness{app: newMem(), logs: &bytes.Buffer{}}
	cfg := ReceiverConfig{
		Prefix: "mynagate/v1", Site: "stadium",
		Keys:   []ed25519.PublicKey{hubKey.Public().(ed25519.PublicKey)},
		Lists:  map[string]Applier{"whitelist": h.app},
		Clock:  clk,
		Skew:   5 * time.Minute,
		Logger: slog.New(slog.NewTextHandler(h.logs, nil)),
	}
	if set != nil {
		set(&cfg)
	}
	r, err := NewReceiver(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.r = r
	return h
}

// withExpiry re-signs s's manifest with another expiry (what the hub's
// renewal does, or an attacker cannot).
func withExpiry(t *testing.T, key ed25519.PrivateKey, s *Signed, exp time.Time) *Signed {
	t.Helper()
	m := *s.Manifest
	m.Expires = exp
	env, err := Sign(key, &m)
	if err != nil {
		t.Fatal(err)
	}
	return &Signed{Manifest: &m, Envelope: env, Chunks: s.Chunks}
}

// TestReceiverFreshness tries the replays and stale versions a fresh or reset
// gate must refuse, each signed by the real hub key.
func TestReceiverFreshness(t *testing.T) {
	snap := func(v uint64) *Signed { return build(t, hubKey, Snapshot, v, 0, snapshotChange(20), MinChunkSize) }
	tests := []struct {
		name        string
		now         time.Time
		set         func(*ReceiverConfig)
		s           *Signed
		wantVersion uint64
		wantRefused string
		wantLog     string
	}{
		{"within validity", created.Add(time.Hour), nil, snap(5), 5, "", "lists: applied"},
		{"old version replayed to a fresh gate", created.Add(time.Hour), func(c *ReceiverConfig) { c.MinVersions = map[string]uint64{"whitelist": 6} },
			snap(5), 0, RefusedBelowMinimum, "below the minimum this gate was provisioned with"},
		{"the minimum itself", created.Add(time.Hour), func(c *ReceiverConfig) { c.MinVersions = map[string]uint64{"whitelist": 5} },
			snap(5), 5, "", "lists: applied"},
		{"expired", expires.Add(time.Hour), nil, snap(5), 0, RefusedExpired, "its signed expiry has passed"},
		{"expired but within the clock skew", expires.Add(4 * time.Minute), nil, snap(5), 5, "", "lists: applied"},
		{"no expiry from an older hub", created.Add(time.Hour), nil, withExpiry(t, hubKey, snap(5), time.Time{}), 0, RefusedNoExpiry, "carries no expiry"},
		{"no expiry accepted by config", created.Add(time.Hour), func(c *ReceiverConfig) { c.AcceptUnexpiring = true },
			withExpiry(t, hubKey, snap(5), time.Time{}), 5, "", "lists: applied"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newFreshHarness(t, clocktest.New(tc.now), tc.set)
			h.deliver(tc.s, false)
			if got := h.app.Version(); got != tc.wantVersion {
				t.Fatalf("version in force %d, want %d", got, tc.wantVersion)
			}
			h.wantLog(t, tc.wantLog)
			refused := h.r.Refused()
			if tc.wantRefused != "" && refused[tc.wantRefused] != 1 {
				t.Fatalf("Refused() = %v, want one %s", refused, tc.wantRefused)
			}
			if tc.wantRefused == "" && len(refused) != 0 {
				t.Fatalf("Refused() = %v, want none", refused)
			}
		})
	}
}

func TestNewReceiverMinVersionOfUnknownList(t *testing.T) {
	_, err := NewReceiver(ReceiverConfig{Site: "stadium", Keys: []ed25519.PublicKey{hubKey.Public().(ed25519.PublicKey)},
		Lists: map[string]Applier{"whitelist": newMem()}, MinVersions: map[string]uint64{"whitelis": 3}})
	if err == nil {
		t.Fatal("a minimum for a list the gate does not use was accepted")
	}
}

// TestReceiverExpiryRenewal: the list in force expires at its manifest's
// expiry; a renewal (the same version re-signed with a later expiry) extends
// it without applying again, and a replayed earlier renewal does not shorten
// it.
func TestReceiverExpiryRenewal(t *testing.T) {
	clk := clocktest.New(created.Add(time.Hour))
	h := newFreshHarness(t, clk, nil)
	s := build(t, hubKey, Snapshot, 5, 0, snapshotChange(20), MinChunkSize)
	h.deliver(s, false)
	info := h.r.Versions()["whitelist"]
	if !info.ExpiryKnown || !info.Expires.Equal(expires) || info.Expired(clk.Now(), 5*time.Minute) {
		t.Fatalf("after apply: %+v", info)
	}
	clk.Advance(expires.Sub(clk.Now()) + time.Hour)
	if !h.r.Versions()["whitelist"].Expired(clk.Now(), 5*time.Minute) {
		t.Fatal("list in force not reported expired past its expiry")
	}
	later := expires.Add(7 * 24 * time.Hour)
	h.r.Handle(ManifestTopic("mynagate/v1", "stadium", "whitelist", Snapshot, 0), withExpiry(t, hubKey, s, later).Envelope)
	h.r.Handle(ManifestTopic("mynagate/v1", "stadium", "whitelist", Snapshot, 0), s.Envelope) // the first signing, replayed
	info = h.r.Versions()["whitelist"]
	if !info.Expires.Equal(later) || info.Expired(clk.Now(), 5*time.Minute) {
		t.Fatalf("after renewal: %+v", info)
	}
	if h.app.applied != 1 {
		t.Fatalf("renewal applied the list again: %d applies", h.app.applied)
	}
	// A renewal signed by another key changes nothing.
	h.r.Handle(ManifestTopic("mynagate/v1", "stadium", "whitelist", Snapshot, 0), withExpiry(t, otherKey, s, later.Add(time.Hour)).Envelope)
	if !h.r.Versions()["whitelist"].Expires.Equal(later) {
		t.Fatal("a renewal signed by an unpinned key was taken")
	}
}

// TestReceiverKeyRotation: gates pin the old and the new hub key during a
// rotation; versions signed by either apply; once the old key is dropped
// from the pins, a version signed with it is refused.
func TestReceiverKeyRotation(t *testing.T) {
	oldKey, newKey := hubKey, otherKey
	pins := func(keys ...ed25519.PrivateKey) func(*ReceiverConfig) {
		return func(c *ReceiverConfig) {
			c.Keys = nil
			for _, k := range keys {
				c.Keys = append(c.Keys, k.Public().(ed25519.PublicKey))
			}
		}
	}
	both := newFreshHarness(t, testClock(), pins(oldKey, newKey))
	both.deliver(build(t, oldKey, Snapshot, 5, 0, snapshotChange(20), MinChunkSize), false)
	both.deliver(build(t, newKey, Delta, 6, 5, snapshotChange(1), 0), false)
	if both.app.Version() != 6 {
		t.Fatalf("during the rotation: version %d, want 6", both.app.Version())
	}
	after := newFreshHarness(t, testClock(), pins(newKey))
	after.deliver(build(t, oldKey, Snapshot, 7, 0, snapshotChange(20), MinChunkSize), false)
	if after.app.Version() != 0 {
		t.Fatal("a version signed with the dropped key was applied")
	}
	after.wantLog(t, "does not verify")
	after.deliver(build(t, newKey, Snapshot, 7, 0, snapshotChange(20), MinChunkSize), false)
	if after.app.Version() != 7 {
		t.Fatalf("after the rotation: version %d, want 7", after.app.Version())
	}
}
