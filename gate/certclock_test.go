package gate

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mynagate/mynagate/offline/pinless"
)

func TestCertHealth(t *testing.T) {
	c := &pinless.Certificate{NotAfter: time.Date(2027, 3, 31, 0, 0, 0, 0, time.UTC)}
	for _, tc := range []struct {
		now  time.Time
		want string
	}{
		{time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), "ok: 121 day(s) left, valid through 2027-03-31"},
		{time.Date(2027, 3, 2, 0, 0, 0, 0, time.UTC), "ok: 30 day(s) left, valid through 2027-03-31"},
		{time.Date(2027, 3, 2, 0, 0, 1, 0, time.UTC), "renew now: 29 day(s) left, valid through 2027-03-31"},
		{time.Date(2027, 3, 31, 23, 0, 0, 0, time.UTC), "renew now: 0 day(s) left, valid through 2027-03-31"},
		{time.Date(2027, 4, 2, 0, 0, 0, 0, time.UTC), "expired on 2027-03-31: cards refuse this gate"},
	} {
		if got := certHealth(c, tc.now); got != tc.want {
			t.Errorf("at %s: %q, want %q", tc.now, got, tc.want)
		}
	}
}

func TestClockHealth(t *testing.T) {
	dir := t.TempDir()
	sync := filepath.Join(dir, "timesync", "synchronized")
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	if got := clockHealth(sync, now); got != "unknown: systemd-timesyncd does not run here" {
		t.Errorf("no timesyncd: %q", got)
	}
	os.Mkdir(filepath.Dir(sync), 0o755)
	if got := clockHealth(sync, now); !strings.HasPrefix(got, "not confirmed: no synchronisation since boot") {
		t.Errorf("never synchronised: %q", got)
	}
	os.WriteFile(sync, nil, 0o644)
	for _, tc := range []struct {
		synced time.Time
		want   string
	}{
		{now.Add(-time.Hour), "ok: synchronised 2026-11-29T11:00:00Z"},
		{now.Add(-clockStale), "ok: synchronised 2026-11-28T12:00:00Z"},
		{now.Add(-clockStale - 90*time.Minute), "not confirmed for 25h30m0s: last synchronised 2026-11-28T10:30:00Z"},
	} {
		os.Chtimes(sync, tc.synced, tc.synced)
		if got := clockHealth(sync, now); got != tc.want {
			t.Errorf("synchronised at %s: %q, want %q", tc.synced, got, tc.want)
		}
	}
}
