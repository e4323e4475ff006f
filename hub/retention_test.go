package hub

import (
	"fmt"
	"testing"
	"time"

	"github.com/mynagate/mynagate/event"
)

// TestRetentionPurgesExactlyPastTheCut: events of each mode just before,
// at and just after their cut; a purge takes exactly those before it (and
// their amendments), and keeps a mode kept for ever.
func TestRetentionPurgesExactlyPastTheCut(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	days := map[string]int{"venue": 10, "shelter": 30, "kiosk": 0}
	type tc struct {
		kind event.Kind
		at   time.Time
		gone bool
	}
	var cases []tc
	for kind, d := range map[event.Kind]int{event.KindEntry: 10, event.KindExit: 10, event.KindCheckin: 30, event.KindIdentify: 0} {
		cut := now.AddDate(0, 0, -d)
		for _, off := range []time.Duration{-time.Hour, -time.Microsecond, -time.Nanosecond, 0, time.Nanosecond, time.Hour} {
			cases = append(cases, tc{kind, cut.Add(off), d > 0 && off < 0})
		}
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			st := b.open(t)
			ids := make([]string, len(cases))
			var amended string
			for i, c := range cases {
				e := &event.Event{ID: fmt.Sprintf("ev-%03d", i), Seq: uint64(i + 1), At: c.at, Site: "s", Gate: "g", Place: "p",
					Kind: c.kind, Decision: event.Admit, Reason: event.ReasonAdmit, ServiceID: fmt.Sprintf("S-%d", i), Assurance: "pin"}
				ids[i] = e.ID
				ingestAll(t, st, e)
				if c.kind == event.KindCheckin && c.gone && amended == "" {
					amended = e.ID
					if err := st.AmendCheckin("s", e.ID, Amend{Note: "n", At: now}); err != nil {
						t.Fatal(err)
					}
				}
			}
			wantGone := 0
			for _, c := range cases {
				if c.gone {
					wantGone++
				}
			}
			n, err := st.Purge(days, now)
			if err != nil {
				t.Fatal(err)
			}
			if n != wantGone {
				t.Errorf("purged %d events, want %d", n, wantGone)
			}
			for i, c := range cases {
				_, ok, err := st.Event(ids[i])
				if err != nil {
					t.Fatal(err)
				}
				if ok == c.gone {
					t.Errorf("%s %s at cut%+v: kept %v, want %v", ids[i], c.kind, c.at.Sub(now.AddDate(0, 0, -days[modeOf(c.kind)])), ok, !c.gone)
				}
			}
			amends, err := st.db.amends()
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := amends[amended]; ok {
				t.Errorf("the amendment of purged check-in %s is kept", amended)
			}
			if n, err := st.Purge(days, now); err != nil || n != 0 {
				t.Errorf("second purge: %d, %v; want nothing left to purge", n, err)
			}
		})
	}
}

// TestRunPurgesPastRetention: gatehub run purges by itself, soon after start,
// the events past their retention and keeps the others.
func TestRunPurgesPastRetention(t *testing.T) {
	cfg := testConfig(t)
	cfg.RetentionDays = map[string]int{"venue": 1}
	h := startHub(t, cfg)
	old, fresh := tap(1, "g1", event.KindEntry, time.Now().Add(-49*time.Hour)), tap(2, "g1", event.KindEntry, time.Now())
	old.Seq, fresh.Seq = 1, 2
	ingestAll(t, h.Store(), old, fresh)
	waitFor(t, "the old event purged", func() bool {
		_, ok, err := h.Store().Event(old.ID)
		if err != nil {
			t.Fatal(err)
		}
		return !ok
	})
	if _, ok, err := h.Store().Event(fresh.ID); err != nil || !ok {
		t.Fatalf("the fresh event is gone (%v)", err)
	}
}
