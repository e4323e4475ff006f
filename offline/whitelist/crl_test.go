package whitelist_test

import (
	"testing"
	"time"

	"github.com/mynagate/mynagate/offline/cardkey"
	"github.com/mynagate/mynagate/offline/crl"
)

func TestApplyCRL(t *testing.T) {
	s := open(t)
	a, b, c := key(t, "aa", "01"), key(t, "aa", "02"), key(t, "aa", "03")
	day := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	info := func(this time.Time, n int) crl.Info {
		return crl.Info{Issuer: "CN=test", IssuerKeyID: []byte{0xAA}, ThisUpdate: this, NextUpdate: this.Add(24 * time.Hour), Entries: n}
	}
	if err := s.AddRevocations(a); err != nil {
		t.Fatal(err)
	}
	applied, err := s.ApplyCRL(info(day, 2), []cardkey.Key{a, b})
	if err != nil {
		t.Fatal(err)
	}
	if applied.Added != 1 {
		t.Errorf("added %d, want 1 (a was revoked already)", applied.Added)
	}
	for k, want := range map[cardkey.Key]bool{a: true, b: true, c: false} {
		if got, err := s.Revoked(k); err != nil || got != want {
			t.Errorf("Revoked(%s) = %v, %v; want %v", k, got, err, want)
		}
	}
	if _, err := s.ApplyCRL(info(day.Add(-time.Hour), 1), []cardkey.Key{c}); err == nil {
		t.Error("an older CRL was applied")
	}
	if _, err := s.ApplyCRL(info(day.Add(24*time.Hour), 3), []cardkey.Key{a, b, c}); err != nil {
		t.Fatal(err)
	}
	got, err := s.CRLs()
	if err != nil || len(got) != 1 || !got[0].NextUpdate.Equal(day.Add(48*time.Hour)) || got[0].Added != 1 || got[0].Entries != 3 {
		t.Fatalf("CRLs() = %+v, %v; want the newer CRL only", got, err)
	}
	st, _ := s.Stats()
	if st.Revoked != 3 || st.Version != 0 {
		t.Errorf("stats %+v: want 3 revoked, version unchanged", st)
	}
	// A snapshot from the hub replaces the revocation set and so the record.
	if err := s.Apply(1, true, nil, nil, []cardkey.Key{c}, nil); err != nil {
		t.Fatal(err)
	}
	if got, err := s.CRLs(); err != nil || len(got) != 0 {
		t.Errorf("after a snapshot CRLs() = %+v, %v; want none", got, err)
	}
	if r, _ := s.Revoked(a); r {
		t.Error("a snapshot kept a CRL revocation it does not carry")
	}
}

// TestApplyWithCRLs: the CRLs a hub's list names are recorded with the
// version; a delta keeps a record applied at the gate that is newer, a
// snapshot replaces every record with those it names.
func TestApplyWithCRLs(t *testing.T) {
	s := open(t)
	day := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	info := func(id byte, this time.Time) crl.Info {
		return crl.Info{Issuer: "CN=test", IssuerKeyID: []byte{id}, Number: this.Format("0102"), ThisUpdate: this, NextUpdate: this.Add(24 * time.Hour), Entries: 1}
	}
	next := func() map[byte]time.Time {
		t.Helper()
		got, err := s.CRLs()
		if err != nil {
			t.Fatal(err)
		}
		out := map[byte]time.Time{}
		for _, c := range got {
			out[c.IssuerKeyID[0]] = c.NextUpdate
		}
		return out
	}
	if err := s.ApplyWithCRLs(1, true, nil, nil, nil, nil, []crl.Info{info(0xAA, day), info(0xBB, day)}); err != nil {
		t.Fatal(err)
	}
	if got := next(); len(got) != 2 || !got[0xAA].Equal(day.Add(24*time.Hour)) {
		t.Fatalf("after the snapshot: %v", got)
	}
	// The gate applies AA's next CRL itself; a delta naming the older one
	// keeps it, and renews BB.
	if _, err := s.ApplyCRL(info(0xAA, day.Add(48*time.Hour)), nil); err != nil {
		t.Fatal(err)
	}
	if err := s.ApplyWithCRLs(2, false, nil, nil, nil, nil, []crl.Info{info(0xAA, day), info(0xBB, day.Add(24*time.Hour))}); err != nil {
		t.Fatal(err)
	}
	if got := next(); !got[0xAA].Equal(day.Add(72*time.Hour)) || !got[0xBB].Equal(day.Add(48*time.Hour)) {
		t.Fatalf("after the delta: %v", got)
	}
	// A snapshot names only BB: AA's record goes with the revocation set.
	if err := s.ApplyWithCRLs(3, true, nil, nil, nil, nil, []crl.Info{info(0xBB, day.Add(24*time.Hour))}); err != nil {
		t.Fatal(err)
	}
	if got := next(); len(got) != 1 || !got[0xBB].Equal(day.Add(48*time.Hour)) {
		t.Fatalf("after the second snapshot: %v", got)
	}
	// A failed apply records nothing.
	if err := s.ApplyWithCRLs(3, false, nil, nil, nil, nil, []crl.Info{info(0xCC, day)}); err == nil {
		t.Fatal("a version not above the current one was applied")
	}
	if got := next(); len(got) != 1 {
		t.Fatalf("after a refused apply: %v", got)
	}
}
