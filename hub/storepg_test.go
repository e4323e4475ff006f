package hub

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/mynagate/mynagate/event"
	"github.com/mynagate/mynagate/internal/pgtest"
)

// backends are the two stores every store test here runs on: bbolt and
// PostgreSQL (a fresh database of pgtest's server).
var backends = []struct {
	name string
	open func(t *testing.T) *Store
}{
	{"bbolt", openTestStore},
	{"postgres", openPGTestStore},
}

func openPGTestStore(t *testing.T) *Store {
	t.Helper()
	return openPGStoreAt(t, pgtest.URL(t))
}

func openPGStoreAt(t *testing.T, url string) *Store {
	t.Helper()
	st, err := OpenPGStore(context.Background(), url, "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// fillStore gives st a bit of everything a hub keeps: a venue's entries and
// denials (each sent twice), a passback conflict, a shelter's check-ins with a
// move and an office amendment, a kiosk's identification, gate statuses and
// list infos.
func fillStore(t *testing.T, st *Store) {
	t.Helper()
	ctx := context.Background()
	recv := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	var evs []*event.Event
	for i := range 40 {
		at := t0.Add(time.Duration(i) * time.Minute)
		e := &event.Event{ID: fixedULID(at, i), Seq: uint64(i/2 + 1), At: at, Site: "stadium",
			Gate: []string{"north", "south"}[i%2], Kind: event.KindEntry, Decision: event.Admit, Reason: event.ReasonAdmit,
			ServiceID: fmt.Sprintf("T-%d", i%30), Assurance: "pinless", Offline: i%9 == 0}
		if i%5 == 0 {
			e.Decision, e.Reason = event.Deny, event.ReasonNotListed
		}
		evs = append(evs, e)
	}
	evs = append(evs,
		stap(1, "es2-a", "es2", event.KindCheckin, "s:R-1", 0),
		stap(2, "es2-a", "es2", event.KindCheckin, "c:unlisted", 1),
		stap(1, "ms1-a", "ms1", event.KindCheckin, "s:R-1", 20),
		&event.Event{ID: fixedULID(t0, 99), Seq: 1, At: t0, Site: "ward", Gate: "kiosk1",
			Kind: event.KindIdentify, Decision: event.Admit, Reason: event.ReasonAdmit, ServiceID: "W-1", Assurance: "pin"},
		// A kiosk enrolment the list box has not applied yet.
		&event.Event{ID: fixedULID(t0, 98), Seq: 2, At: t0, Site: "ward", Gate: "kiosk1", Kind: event.KindEnrol,
			Decision: event.Admit, Reason: event.ReasonAdmit, Card: key(7).String(), ServiceID: "W-2", Seat: "3",
			Grant: &event.Grant{Kind: "resident"}, Assurance: "pin"},
	)
	for i, e := range evs[40:43] {
		e.ID = fixedULID(e.At, 50+i)
	}
	for round := range 2 {
		for _, e := range evs {
			b, err := json.Marshal(e)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := st.Ingest(ctx, e.Site, e.Gate, b, recv.Add(time.Duration(round)*time.Hour)); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, g := range []string{"north", "south", "west"} {
		if err := st.PutStatus("stadium", g, []byte(`{"online":true,"gate":"`+g+`"}`), recv); err != nil {
			t.Fatal(err)
		}
	}
	for v := uint64(3); v >= 1; v-- {
		li := ListInfo{Site: "stadium", List: "whitelist", Version: v, Kind: "delta", Created: t0, Published: recv}
		if err := st.PutList(li); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.AmendCheckin("city", evs[41].ID, Amend{ServiceID: "R-9", Note: "confirmed by phone", At: recv}); err != nil {
		t.Fatal(err)
	}
}

// fixedULID is a ULID of time at whose entropy is n: the same each run.
func fixedULID(at time.Time, n int) string {
	return ulid.MustNew(ulid.Timestamp(at), bytes.NewReader(bytes.Repeat([]byte{byte(n)}, 16))).String()
}

// served is what a store serves, as the dashboard and the API give it: the
// overview, every event record, and the shelter view.
func served(t *testing.T, st *Store) string {
	t.Helper()
	v, err := st.View()
	if err != nil {
		t.Fatal(err)
	}
	v.At = time.Time{}
	var out strings.Builder
	enc := json.NewEncoder(&out)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	_, err = QueryEvents(st, EventQuery{}, func(string) *time.Location { return time.UTC }, func(r EventRecord) error { return enc.Encode(r) })
	if err != nil {
		t.Fatal(err)
	}
	sh, err := st.Shelters("city")
	if err != nil {
		t.Fatal(err)
	}
	if err := enc.Encode(struct {
		*Shelters
		Stays []Stay
	}{sh, sh.Stays}); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

// TestStoreBackendsServeTheSame: the same events, statuses, lists and
// amendment into bbolt and into PostgreSQL serve the same overview, records
// and shelter view.
func TestStoreBackendsServeTheSame(t *testing.T) {
	want := ""
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			st := b.open(t)
			fillStore(t, st)
			got := served(t, st)
			if !strings.Contains(got, `"duplicates":20`) || !strings.Contains(got, `"conflicts":`) || !strings.Contains(got, "confirmed by phone") {
				t.Fatalf("the filled store serves no duplicates, conflicts or amendment:\n%s", got)
			}
			if want == "" {
				want = got
				return
			}
			if got != want {
				t.Fatalf("%s serves\n%s\nbbolt serves\n%s", b.name, got, want)
			}
		})
	}
}

// TestMigrateStoreServedUnchanged: a bbolt hub store moved into PostgreSQL
// by MigrateStore serves what it served before; a second migration into the
// same database is refused.
func TestMigrateStoreServedUnchanged(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hub.db")
	st, err := OpenStore(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	fillStore(t, st)
	want := served(t, st)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	url := pgtest.URL(t)
	m, err := MigrateStore(context.Background(), path, url, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if m.Events != 45 || m.Gates != 5 || m.Statuses != 3 || m.Lists != 1 || m.Amends != 1 || m.Conflicts == 0 || m.Inside == 0 || m.Enrolments != 1 {
		t.Fatalf("migrated %+v", m)
	}
	pg := openPGStoreAt(t, url)
	if got := served(t, pg); got != want {
		t.Fatalf("migrated store serves\n%s\nthe bbolt store served\n%s", got, want)
	}
	if pe, err := pg.db.enrolments(10); err != nil || len(pe) != 1 || pe[0].Site != "ward" {
		t.Fatalf("pending enrolments after the migration: %+v %v", pe, err)
	}
	if _, err := MigrateStore(context.Background(), path, url, nil, nil); err == nil || !strings.Contains(err.Error(), ErrTargetNotEmpty.Error()) {
		t.Fatalf("second migration: %v, want %v", err, ErrTargetNotEmpty)
	}
}

// TestStoreConcurrentDuplicates: 64 writers at once, a tenth of the events
// sent twice (often in the same commit): each id is counted once and each
// repeat as a duplicate.
func TestStoreConcurrentDuplicates(t *testing.T) {
	const n = 4000
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			st := b.open(t)
			payloads := make([][]byte, n)
			for i := range payloads {
				e := tap(i%(n-n/10), "g1", event.KindEntry, t0)
				e.Seq = uint64(i%(n-n/10) + 1)
				payloads[i], _ = json.Marshal(e)
			}
			dups := make(chan bool, n)
			done := make(chan struct{})
			for w := range 64 {
				go func() {
					defer func() { done <- struct{}{} }()
					for i := w; i < n; i += 64 {
						dup, err := st.Ingest(context.Background(), "stadium", "g1", payloads[i], t0.Add(time.Hour))
						if err != nil {
							t.Error(err)
							return
						}
						dups <- dup
					}
				}()
			}
			for range 64 {
				<-done
			}
			close(dups)
			said := 0
			for d := range dups {
				if d {
					said++
				}
			}
			g := GateView{}
			v, err := st.View()
			if err != nil {
				t.Fatal(err)
			}
			if len(v.Gates) == 1 {
				g = v.Gates[0]
			}
			if g.Events != n-n/10 || g.Duplicates != n/10 || said != n/10 || g.MaxSeq != n-n/10 {
				t.Fatalf("gate %+v, %d answered duplicate; want %d events and %d duplicates", g.GateStats, said, n-n/10, n/10)
			}
		})
	}
}

// TestSheltersSeeOtherInstances: a hub instance's shelter view and change
// counter follow check-ins another instance stored in the shared database.
func TestSheltersSeeOtherInstances(t *testing.T) {
	url := pgtest.URL(t)
	a, b := openPGStoreAt(t, url), openPGStoreAt(t, url)
	ingestAll(t, a, stap(1, "es2-a", "es2", event.KindCheckin, "s:R-1", 0))
	v, err := a.Shelters("city")
	if err != nil {
		t.Fatal(err)
	}
	if v.Total != 1 {
		t.Fatalf("inside %d, want 1", v.Total)
	}
	changes := a.changes.Load()
	ingestAll(t, b, stap(1, "ms1-a", "ms1", event.KindCheckin, "s:R-2", 1))
	waitFor(t, "instance a to see b's check-in", func() bool {
		v, err := a.Shelters("city")
		if err != nil {
			t.Fatal(err)
		}
		return v.Total == 2
	})
	if a.changes.Load() == changes {
		t.Fatal("instance a's change counter did not move for b's commit: its live pages would not redraw")
	}
	if sites, err := a.ShelterSites(); err != nil || len(sites) != 1 || sites[0] != "city" {
		t.Fatalf("shelter sites %v, %v", sites, err)
	}
}

// TestStoreRefusesNUL: an event with a NUL character in a field the stores
// key by is refused as invalid, in both stores, and the store goes on.
func TestStoreRefusesNUL(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			st := b.open(t)
			for _, mod := range []func(*event.Event){
				func(e *event.Event) { e.ID += "\x00" },
				func(e *event.Event) { e.Place = "p\x00" },
				func(e *event.Event) { e.ServiceID = "T\x001" },
			} {
				e := tap(1, "g1", event.KindCheckin, t0)
				e.Seq = 1
				mod(e)
				p, _ := json.Marshal(e)
				if _, err := st.Ingest(context.Background(), "stadium", "g1", p, t0); !errors.Is(err, ErrInvalidEvent) {
					t.Fatalf("%q: %v, want %v", p, err, ErrInvalidEvent)
				}
			}
			ok := tap(2, "g1", event.KindEntry, t0)
			ok.Seq = 2
			ingestAll(t, st, ok)
			if _, found, err := st.Event(ok.ID); err != nil || !found {
				t.Fatalf("the valid event after them: %v %v", found, err)
			}
		})
	}
}
