package hub

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/mynagate/mynagate/event"
)

// t0 is 2026-12-01 17:55 in Tokyo.
var t0 = time.Date(2026, 12, 1, 8, 55, 0, 0, time.UTC)

// recordStore ingests a day's worth of taps at two gates of a stadium and one
// of a shelter: every 2 minutes from t0, alternating gates, every fifth a
// denial, every seventh an exit; one entry annulled.
func recordStore(t *testing.T) (*Store, []*event.Event) {
	t.Helper()
	st, err := OpenStore(filepath.Join(t.TempDir(), "hub.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var evs []*event.Event
	seq := map[string]uint64{}
	add := func(e *event.Event) {
		seq[e.Gate]++
		e.Seq = seq[e.Gate]
		e.ID = ulid.MustNew(ulid.Timestamp(e.At), ulid.DefaultEntropy()).String()
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Ingest(context.Background(), e.Site, e.Gate, b, e.At.Add(1500*time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		evs = append(evs, e)
	}
	for i := range 60 {
		at := t0.Add(time.Duration(i) * 2 * time.Minute)
		e := &event.Event{At: at, Site: "stadium", Gate: []string{"north", "south"}[i%2], Lane: "1", Kind: event.KindEntry,
			Decision: event.Admit, Reason: event.ReasonAdmit, ServiceID: fmt.Sprintf("T-%d", i), Card: strings.Repeat("ab", 32),
			Assurance: "pinless", ListVersion: 3, LatencyMS: 123.5}
		switch {
		case i%5 == 0:
			e.Decision, e.Reason = event.Deny, event.ReasonNotListed
		case i%7 == 0:
			e.Kind = event.KindExit
		}
		add(e)
	}
	add(&event.Event{At: t0.Add(30 * time.Second), Site: "shelter-1", Gate: "desk", Kind: event.KindCheckin, Decision: event.Admit,
		Reason: event.ReasonAdmit, ServiceID: "R-1", Assurance: "cert", Offline: true})
	// The entry at t0+4m (i=2, north) did not pass the turnstile.
	add(&event.Event{At: t0.Add(4*time.Minute + 10*time.Second), Site: "stadium", Gate: "north", Kind: event.KindAnnul,
		Decision: event.Admit, Reason: event.ReasonAnnulled, Ref: evs[2].ID, Assurance: "pinless"})
	return st, evs
}

func tokyo(string) *time.Location {
	z, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		panic(err)
	}
	return z
}

func query(t *testing.T, src EventSource, q EventQuery) ([]EventRecord, string) {
	t.Helper()
	var out []EventRecord
	next, err := QueryEvents(src, q, tokyo, func(r EventRecord) error { out = append(out, r); return nil })
	if err != nil {
		t.Fatal(err)
	}
	return out, next
}

func TestQueryEvents(t *testing.T) {
	st, _ := recordStore(t)
	v := func(s string) url.Values { q, _ := url.ParseQuery(s); return q }
	tests := []struct {
		params string
		want   int
	}{
		{"", 62},
		{"site=stadium", 61},
		{"site=stadium&gate=north", 31},
		{"lane=1", 60},
		{"decision=deny", 12},
		{"reason=not_listed&gate=south", 6},
		{"kind=exit", 7},
		{"since=2026-12-01T18:00&until=2026-12-01T18:10", 5}, // local time: 09:00Z..09:10Z
		{"since=2026-12-01T09:00:00Z&until=2026-12-01T09:10:00Z", 5},
		{"since=2026-12-02", 0},
		{"until=2026-12-01", 0},
	}
	for _, tc := range tests {
		q, err := ParseEventQuery(v(tc.params), tokyo(""))
		if err != nil {
			t.Fatalf("%s: %v", tc.params, err)
		}
		got, next := query(t, st, q)
		if len(got) != tc.want || next != "" {
			t.Errorf("%s: %d events (next %q), want %d", tc.params, len(got), next, tc.want)
		}
		for i := 1; i < len(got); i++ {
			if got[i].ID <= got[i-1].ID {
				t.Fatalf("%s: not in id order", tc.params)
			}
		}
	}
	for _, bad := range []string{"decision=maybe", "since=yesterday", "limit=0", "limit=5000"} {
		if _, err := ParseEventQuery(v(bad), tokyo("")); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
	all, _ := query(t, st, EventQuery{})
	if at := all[0].At; at.Location().String() != "Asia/Tokyo" || at.Hour() != 17 {
		t.Errorf("times not in the site's zone: %s", at)
	}
	// Pages of 25 through the cursor give every event once, in order.
	var paged []EventRecord
	q := EventQuery{Limit: 25}
	for pages := 0; ; pages++ {
		got, next := query(t, st, q)
		paged = append(paged, got...)
		if next == "" {
			if pages != 2 || len(got) != 12 {
				t.Errorf("last page %d has %d events", pages, len(got))
			}
			break
		}
		q.After = next
	}
	if !sameRecords(paged, all) {
		t.Fatal("paging lost or repeated events")
	}
}

func sameRecords(a, b []EventRecord) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}

// TestEventsExportRoundTrip writes the records as CSV and as JSON lines and
// reads them back unchanged.
func TestEventsExportRoundTrip(t *testing.T) {
	st, _ := recordStore(t)
	all, _ := query(t, st, EventQuery{})
	var csvBuf, jsonBuf bytes.Buffer
	w := NewEventCSV(&csvBuf)
	enc := json.NewEncoder(&jsonBuf)
	for _, r := range all {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
		if err := enc.Encode(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	fromCSV, err := ParseEventCSV(&csvBuf)
	if err != nil {
		t.Fatal(err)
	}
	var fromJSON []EventRecord
	dec := json.NewDecoder(&jsonBuf)
	for dec.More() {
		var r EventRecord
		if err := dec.Decode(&r); err != nil {
			t.Fatal(err)
		}
		fromJSON = append(fromJSON, r)
	}
	if len(fromCSV) != 62 || !sameRecords(fromCSV, all) {
		t.Errorf("CSV round trip changed the records:\n got %+v\nwant %+v", fromCSV[:1], all[:1])
	}
	if !sameRecords(fromJSON, all) {
		t.Errorf("JSON round trip changed the records")
	}
	for i := range all {
		if !fromCSV[i].At.Equal(all[i].At) || !fromCSV[i].ReceivedAt.Equal(all[i].ReceivedAt) {
			t.Fatalf("record %d: times changed", i)
		}
	}
}

func FuzzParseEventCSV(f *testing.F) {
	f.Add(strings.Join(eventColumns, ",") + "\n01J,2026-12-01T18:00:00+09:00,2026-12-01T18:00:01+09:00,s,g,1,entry,admit,admit,T-1,ab,pinless,false,3,1.5,1,\n")
	f.Add("id\n")
	f.Fuzz(func(t *testing.T, s string) {
		recs, err := ParseEventCSV(strings.NewReader(s))
		if err != nil {
			return
		}
		var b bytes.Buffer
		w := NewEventCSV(&b)
		for _, r := range recs {
			if err := w.Write(r); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		again, err := ParseEventCSV(&b)
		if err != nil || len(again) != len(recs) {
			t.Fatalf("a parsed file does not parse again: %v", err)
		}
	})
}

func TestCountEvents(t *testing.T) {
	st, _ := recordStore(t)
	counts, err := CountEvents(st, EventQuery{Site: "stadium", Gate: "north"}, 15*time.Minute, tokyo)
	if err != nil {
		t.Fatal(err)
	}
	// North taps at t0 + 0, 4, 8, ... 116 min: 17:55 local is in the
	// 17:45-18:00 interval.
	first := counts[0]
	if first.From.Format("15:04 MST") != "17:45 JST" || first.Until.Format("15:04") != "18:00" {
		t.Fatalf("first interval %s-%s", first.From, first.Until)
	}
	var entries, exits, denied int
	for _, c := range counts {
		entries += c.Entries
		exits += c.Exits
		denied += c.Denied
	}
	// North: i even, 30 taps; denied i%5==0 (6); exits i%7==0 and not
	// denied (i = 14, 28, 42, 56: 4); entries 20, one of them annulled.
	if entries != 19 || exits != 4 || denied != 6 {
		t.Fatalf("entries %d exits %d denied %d", entries, exits, denied)
	}
	if counts[0].Entries != 0 || counts[0].Denied != 1 {
		t.Fatalf("17:45 interval: %+v (i=0 denied; i=1 is south)", counts[0])
	}
	if _, err := CountEvents(st, EventQuery{}, 30*time.Second, tokyo); err == nil {
		t.Fatal("a 30 s interval accepted")
	}
}

func TestEventsAPI(t *testing.T) {
	st, _ := recordStore(t)
	cfg := &Config{DataDir: t.TempDir()}
	if err := cfg.check(); err != nil {
		t.Fatal(err)
	}
	h := &Hub{cfg: cfg, store: st, log: slog.New(slog.DiscardHandler)}
	srv := httptest.NewServer(h.Handler())
	defer srv.Close()
	get := func(path string, v any) int {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
				t.Fatal(err)
			}
		}
		return resp.StatusCode
	}
	var all []EventRecord
	cursor := ""
	for {
		var page EventPage
		if code := get("/api/events?site=stadium&limit=20&cursor="+cursor, &page); code != 200 {
			t.Fatalf("status %d", code)
		}
		all = append(all, page.Events...)
		if cursor = page.Next; cursor == "" {
			break
		}
	}
	want, _ := query(t, st, EventQuery{Site: "stadium"})
	if !sameRecords(all, want) {
		t.Fatalf("API pages: %d events, want %d", len(all), len(want))
	}
	var counts CountsPage
	if code := get("/api/counts?site=stadium&interval=1h", &counts); code != 200 || len(counts.Counts) == 0 || counts.Interval != "1h0m0s" {
		t.Fatalf("counts: %d %+v", code, counts)
	}
	if code := get("/api/events?decision=maybe", nil); code != http.StatusBadRequest {
		t.Fatalf("bad query: status %d", code)
	}
	if code := get("/api/counts?interval=forever", nil); code != http.StatusBadRequest {
		t.Fatalf("bad interval: status %d", code)
	}
}
