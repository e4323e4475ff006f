package hub

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/mynagate/mynagate/event"
)

var shelterT0 = time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)

// stap is a shelter event at minute min; who is "s:ID", "c:KEY" or "m:SLIP".
func stap(seq uint64, gate, place string, kind event.Kind, who string, min int, mod ...func(*event.Event)) *event.Event {
	at := shelterT0.Add(time.Duration(min) * time.Minute)
	e := &event.Event{ID: ulid.MustNew(ulid.Timestamp(at), ulid.DefaultEntropy()).String(), Seq: seq, At: at, Site: "city", Gate: gate,
		Place: place, Kind: kind, Decision: event.Admit, Reason: event.ReasonAdmit, Assurance: "pinless"}
	switch kind, v := who[:2], who[2:]; kind {
	case "s:":
		e.ServiceID = v
	case "c:":
		e.Card, e.Reason, e.Reconcile, e.Assurance = v, event.ReasonNotListed, true, "cert"
	case "m:":
		e.Slip, e.Reason, e.Staff, e.Assurance = v, event.ReasonStaff, "no_card", "staff"
	}
	for _, m := range mod {
		m(e)
	}
	return e
}

func ingestAll(t *testing.T, st *Store, events ...*event.Event) {
	t.Helper()
	for _, e := range events {
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Ingest(context.Background(), e.Site, e.Gate, b, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
}

func openTestStore(t *testing.T) *Store {
	t.Helper()
	st, err := OpenStore(filepath.Join(t.TempDir(), "hub.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// TestSheltersCountsAndRosters folds shelter events into per-place counts and
// rosters, whatever order they arrive in (a station's backlog comes late).
func TestSheltersCountsAndRosters(t *testing.T) {
	const es, ms = "es2", "ms1"
	events := []*event.Event{
		stap(1, "es2-a", es, event.KindCheckin, "s:R-1", 0),
		stap(2, "es2-a", es, event.KindCheckin, "s:R-2", 1),
		stap(3, "es2-b", es, event.KindCheckin, "c:unlisted", 2),
		stap(4, "es2-b", es, event.KindCheckin, "m:0042", 3, func(e *event.Event) { e.Note = "child" }),
		stap(1, "ms1-a", ms, event.KindCheckin, "s:R-3", 4),
		stap(5, "es2-a", es, event.KindCheckout, "s:R-2", 10),
		stap(2, "ms1-a", ms, event.KindCheckin, "s:R-1", 20), // R-1 moves to ms1
		stap(6, "es2-a", es, event.KindCheckin, "s:R-2", 30), // R-2 comes back
	}
	for _, order := range []struct {
		name string
		idx  []int
		// look asks for the view after every event, so it is kept up to
		// date from the store's feed rather than read in one scan.
		look bool
	}{
		{"in order", []int{0, 1, 2, 3, 4, 5, 6, 7}, false},
		{"backlog late", []int{4, 6, 0, 1, 2, 3, 5, 7}, false},
		{"reversed", []int{7, 6, 5, 4, 3, 2, 1, 0}, false},
		{"in order, watched", []int{0, 1, 2, 3, 4, 5, 6, 7}, true},
		{"backlog late, watched", []int{4, 6, 0, 1, 2, 3, 5, 7}, true},
		{"reversed, watched", []int{7, 6, 5, 4, 3, 2, 1, 0}, true},
	} {
		t.Run(order.name, func(t *testing.T) {
			st := openTestStore(t)
			for _, i := range order.idx {
				ingestAll(t, st, events[i], events[i]) // a redelivery changes nothing
				if order.look {
					if _, err := st.Shelters("city"); err != nil {
						t.Fatal(err)
					}
				}
			}
			v, err := st.Shelters("city")
			if err != nil {
				t.Fatal(err)
			}
			want := []PlaceCount{{Place: es, Inside: 3, CheckedIn: 5, ToReconcile: 1}, {Place: ms, Inside: 2, CheckedIn: 2}}
			if v.Total != 5 || len(v.Places) != 2 || v.Places[0] != want[0] || v.Places[1] != want[1] {
				t.Fatalf("total %d places %+v, want 5 %+v", v.Total, v.Places, want)
			}
			var rows []string
			for _, s := range v.Roster(es) {
				who := s.ServiceID + s.Slip
				rows = append(rows, strings.Join([]string{who, s.In.Format("15:04"), outAt(s), s.MovedTo, s.Note, boolText(s.Reconcile)}, "|"))
			}
			// who|in|out|moved to|note|reconcile; inside first, by check-in time.
			wantRows := []string{
				"|09:02||||reconcile",
				"0042|09:03|||child|",
				"R-2|09:30||||",
				"R-1|09:00|09:20|ms1||",
				"R-2|09:01|09:10|||",
			}
			if strings.Join(rows, "\n") != strings.Join(wantRows, "\n") {
				t.Fatalf("roster of es2:\n%s\nwant:\n%s", strings.Join(rows, "\n"), strings.Join(wantRows, "\n"))
			}
			// The store's own inside view agrees, per place.
			sv, err := st.View()
			if err != nil {
				t.Fatal(err)
			}
			if len(sv.Sites) != 1 || sv.Sites[0].Places[es] != 3 || sv.Sites[0].Places[ms] != 2 || sv.Conflicts != 0 {
				t.Fatalf("store view %+v", sv.Sites)
			}
		})
	}
}

func outAt(s Stay) string {
	if s.Out.IsZero() {
		return ""
	}
	return s.Out.Format("15:04")
}

func boolText(b bool) string {
	if b {
		return "reconcile"
	}
	return ""
}

// TestOfficeAPI: the office's JSON, CSV and page, and an amendment attaching a
// service id to a check-in to reconcile.
func TestOfficeAPI(t *testing.T) {
	st := openTestStore(t)
	unlisted := stap(1, "es2-a", "es2", event.KindCheckin, "c:unlisted", 0)
	ingestAll(t, st,
		unlisted,
		stap(2, "es2-a", "es2", event.KindCheckin, "s:R-1", 1),
		stap(1, "ms1-a", "ms1", event.KindCheckin, "m:7", 2, func(e *event.Event) { e.Note = "=cmd()" }),
	)
	h := &Hub{cfg: &Config{DataDir: t.TempDir()}, store: st, log: slog.New(slog.DiscardHandler)}
	srv := httptest.NewServer(h.Handler())
	defer srv.Close()
	get := func(path string) (int, string) {
		t.Helper()
		r, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Body.Close()
		b, _ := io.ReadAll(r.Body)
		return r.StatusCode, string(b)
	}
	post := func(body string) int {
		t.Helper()
		r, err := http.Post(srv.URL+"/api/shelters/amend?site=city", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		return r.StatusCode
	}
	if code, body := get("/api/shelters"); code != 200 || !strings.Contains(body, `"total":3`) || !strings.Contains(body, `{"place":"es2","inside":2,"checked_in":2,"to_reconcile":1}`) {
		t.Fatalf("/api/shelters: %d %s", code, body)
	}
	if code, body := get("/api/shelters/occupancy.csv"); code != 200 || body != "site,place,inside,checked_in,to_reconcile\ncity,es2,2,2,1\ncity,ms1,1,1,0\ncity,,3,,\n" {
		t.Fatalf("occupancy.csv: %d %q", code, body)
	}
	if code, body := get("/api/shelters/roster.csv?place=ms1"); code != 200 || !strings.Contains(body, ",7,") || !strings.Contains(body, "'=cmd()") {
		t.Fatalf("roster.csv: %d %q", code, body)
	}
	// Occupancy over time: one row per change at a place, in order, in the
	// site's time zone (Japan by default).
	if code, body := get("/api/shelters/series.csv"); code != 200 ||
		body != "at,place,inside\n2026-11-25T18:00:00+09:00,es2,1\n2026-11-25T18:01:00+09:00,es2,2\n2026-11-25T18:02:00+09:00,ms1,1\n" {
		t.Fatalf("series.csv: %d %q", code, body)
	}
	if code, body := get("/office"); code != 200 || !strings.Contains(body, "避難所の状況") || !strings.Contains(body, `id="total">3<`) || !strings.Contains(body, "カード未確認: not_listed") {
		t.Fatalf("office page: %d %s", code, body)
	}
	if code, body := get("/office?lang=en"); code != 200 || !strings.Contains(body, "Total in shelters") {
		t.Fatalf("office page in English: %d", code)
	}
	for _, tc := range []struct {
		body string
		want int
	}{
		{`{"event":"` + unlisted.ID + `","service_id":"R-9","note":"confirmed at the desk"}`, http.StatusNoContent},
		{`{"event":"no-such-event","service_id":"R-9"}`, http.StatusNotFound},
		{`{"event":"` + unlisted.ID + `"}`, http.StatusBadRequest},
		{`{`, http.StatusBadRequest},
	} {
		if code := post(tc.body); code != tc.want {
			t.Errorf("amend %s: %d, want %d", tc.body, code, tc.want)
		}
	}
	if _, body := get("/api/shelters/roster?place=es2"); !strings.Contains(body, `"service_id":"R-9"`) || !strings.Contains(body, `"reconciled":true`) || !strings.Contains(body, `"office_note":"confirmed at the desk"`) {
		t.Fatalf("roster after the amendment: %s", body)
	}
	if _, body := get("/api/shelters"); !strings.Contains(body, `"to_reconcile":0`) {
		t.Fatalf("still to reconcile after the amendment: %s", body)
	}
}

// TestVenueStaffOverrideCountsInside: a venue staff override (an entry staff
// let through without a card) puts the person it let in inside the site's
// count, next to the card holders, and a second override is a second person.
func TestVenueStaffOverrideCountsInside(t *testing.T) {
	st := openTestStore(t)
	override := func(seq uint64, min int) *event.Event {
		return stap(seq, "north-3", "", event.KindEntry, "s:", min, func(e *event.Event) {
			e.Site, e.Reason, e.Staff, e.Assurance, e.Lane = "arena", event.ReasonStaff, "paper_ticket", "staff", "north-3-in"
		})
	}
	card := stap(1, "north-3", "", event.KindEntry, "s:T-1", 0, func(e *event.Event) { e.Site = "arena" })
	ingestAll(t, st, card, override(2, 1), override(3, 2))
	v, err := st.View()
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Sites) != 1 || v.Sites[0].Inside != 3 || v.Conflicts != 0 {
		t.Fatalf("sites %+v, %d conflicts; want 3 inside (a card holder and two overrides), none", v.Sites, v.Conflicts)
	}
}
