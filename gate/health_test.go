package gate

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mynagate/mynagate/offline/crl"
	"github.com/mynagate/mynagate/offline/whitelist"
)

// TestCRLHealth: the status names the earliest next update of the CRLs a gate
// applied, and calls it STALE once that has passed.
func TestCRLHealth(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name  string
		next  []time.Time
		want  string
		empty bool
	}{
		{name: "none applied", empty: true},
		{name: "current", next: []time.Time{now.Add(20 * time.Hour)}, want: "ok: 1 CRL(s), next update 2026-12-02T08:00:00Z"},
		{name: "earliest of two", next: []time.Time{now.Add(20 * time.Hour), now.Add(2 * time.Hour)}, want: "ok: 2 CRL(s), next update 2026-12-01T14:00:00Z"},
		{name: "one stale", next: []time.Time{now.Add(20 * time.Hour), now.Add(-time.Hour)}, want: "STALE since 2026-12-01T11:00:00Z"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := whitelist.Open(filepath.Join(t.TempDir(), "whitelist.db"), whitelist.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			for i, next := range tc.next {
				info := crl.Info{Issuer: "CN=test CA", IssuerKeyID: []byte{byte(i + 1)}, ThisUpdate: next.Add(-24 * time.Hour), NextUpdate: next}
				if _, err := s.ApplyCRL(info, nil); err != nil {
					t.Fatal(err)
				}
			}
			got := (&Gate{list: s}).crlHealth(now)
			if tc.empty != (got == "") || !strings.HasPrefix(got, tc.want) {
				t.Fatalf("crlHealth = %q, want %q", got, tc.want)
			}
		})
	}
}
