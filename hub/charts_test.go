package hub

import (
	"strings"
	"testing"
	"time"

	"github.com/mynagate/mynagate/event"
)

func TestCollectRecent(t *testing.T) {
	st, evs := recordStore(t)
	now := t0.Add(time.Hour) // the window is the hour of minutes up to now's: t0+1m .. t0+61m
	r, err := collectRecent(st, now, map[string]int{"stadium": 40, "shelter-1": 1}, EventQuery{Decision: event.Deny}, tokyo)
	if err != nil {
		t.Fatal(err)
	}
	if !r.From.Equal(t0.Add(time.Minute)) {
		t.Fatalf("from %s", r.From)
	}
	// In the window: taps i = 1..30 (t0+2m .. t0+60m).
	var want struct{ taps, denied, in int }
	for i, e := range evs[:60] {
		if i < 1 || i > 30 {
			continue
		}
		want.taps++
		switch {
		case e.Decision == event.Deny:
			want.denied++
		case e.Kind == event.KindEntry:
			want.in++
		default:
			want.in--
		}
	}
	want.in-- // the annulled entry at t0+4m10s
	var taps, denied int
	for _, g := range r.Gates {
		taps += g.Total
		denied += g.Denied
	}
	if taps != want.taps || denied != want.denied || len(r.Reasons) != 1 || r.Reasons[0].N != want.denied {
		t.Fatalf("taps %d denied %d reasons %v; want %d, %d", taps, denied, r.Reasons, want.taps, want.denied)
	}
	// The stadium's inside count is unwound from 40 now: at the end of the
	// first minute (whose taps are in it), 40 less every later change.
	var stadium siteSeries
	for _, s := range r.Inside {
		if s.Site == "stadium" {
			stadium = s
		}
	}
	if last := stadium.Inside[len(stadium.Inside)-1]; last != 40 {
		t.Fatalf("inside at the end %d, want the count now", last)
	}
	if first := stadium.Inside[0]; first != 40-want.in {
		t.Fatalf("inside at the start %d, want %d", first, 40-want.in)
	}
	if len(r.Table) != want.denied || r.Table[0].At.Before(r.Table[len(r.Table)-1].At) {
		t.Fatalf("table of denials: %d rows, newest first?", len(r.Table))
	}
	svg := string(svgTaps(r.Gates[0], "t"))
	if !strings.HasPrefix(svg, `<svg id="taps-stadium-north"`) || strings.Count(svg, `class="deny"`) == 0 {
		t.Fatalf("svg %s", svg)
	}
}
