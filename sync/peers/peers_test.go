package peers

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mynagate/mynagate/event"
	"github.com/mynagate/mynagate/internal/mqtttest"
	"github.com/mynagate/mynagate/sync/outbox"
	"github.com/mynagate/mynagate/sync/uplink"
)

// t0 is the tap time of the test events: in the past, as a peer's event
// dated ahead of the clock is ignored, and a presence saved so is dropped.
var t0 = time.Date(2025, 12, 1, 18, 0, 0, 0, time.UTC)

func ev(id string, kind event.Kind, d event.Decision, min int) *event.Event {
	return &event.Event{ID: id, Seq: 1, At: t0.Add(time.Duration(min) * time.Minute), Site: "stadium", Gate: "g1",
		Kind: kind, Decision: d, Reason: event.ReasonAdmit, ServiceID: "T-1", Card: "ab"}
}

func open(t *testing.T, path string) *Set {
	t.Helper()
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestObserveSequences(t *testing.T) {
	annul := ev("a1", event.KindAnnul, event.Admit, 2)
	annul.Ref = "e1"
	wrongAnnul := ev("a2", event.KindAnnul, event.Admit, 2)
	wrongAnnul.Ref = "other"
	tests := []struct {
		name   string
		events []*event.Event
		inside bool
	}{
		{"entry", []*event.Event{ev("e1", event.KindEntry, event.Admit, 0)}, true},
		{"denied entry", []*event.Event{ev("e1", event.KindEntry, event.Deny, 0)}, false},
		{"entry then exit", []*event.Event{ev("e1", event.KindEntry, event.Admit, 0), ev("x1", event.KindExit, event.Admit, 5)}, false},
		{"late entry after exit", []*event.Event{ev("x1", event.KindExit, event.Admit, 5), ev("e1", event.KindEntry, event.Admit, 0)}, false},
		{"re-entry", []*event.Event{ev("e1", event.KindEntry, event.Admit, 0), ev("x1", event.KindExit, event.Admit, 5), ev("e2", event.KindEntry, event.Admit, 9)}, true},
		{"duplicate", []*event.Event{ev("e1", event.KindEntry, event.Admit, 0), ev("e1", event.KindEntry, event.Admit, 0)}, true},
		{"checkin", []*event.Event{ev("c1", event.KindCheckin, event.Admit, 0)}, true},
		{"annulled entry", []*event.Event{ev("e1", event.KindEntry, event.Admit, 0), annul}, false},
		{"annul of another entry", []*event.Event{ev("e1", event.KindEntry, event.Admit, 0), wrongAnnul}, true},
		{"identify ignored", []*event.Event{ev("i1", event.KindIdentify, event.Admit, 0)}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t, filepath.Join(t.TempDir(), "peers.db"))
			for _, e := range tc.events {
				s.Observe(e)
			}
			if _, in := s.Inside("s:T-1"); in != tc.inside {
				t.Fatalf("inside = %v, want %v", in, tc.inside)
			}
		})
	}
}

func TestHolderKey(t *testing.T) {
	if k := HolderKey(&event.Event{ServiceID: "T-1", Card: "ab"}); k != "s:T-1" {
		t.Errorf("with service id: %q", k)
	}
	// Companions on one order are holders of their own, one per seat.
	a, b := HolderKey(&event.Event{ServiceID: "ORD-7", Seat: "A-1"}), HolderKey(&event.Event{ServiceID: "ORD-7", Seat: "A-2"})
	if a == b || a == "s:ORD-7" || strings.ContainsRune(a, 0) {
		t.Errorf("seats A-1 and A-2 of one order: %q, %q", a, b)
	}
	if k := HolderKey(&event.Event{Card: "ab"}); k != "c:ab" {
		t.Errorf("card only: %q", k)
	}
	if k := HolderKey(&event.Event{}); k != "" {
		t.Errorf("neither: %q", k)
	}
}

func TestPersistsAcrossReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "peers.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Observe(ev("e1", event.KindEntry, event.Admit, 0))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, path)
	since, in := s.Inside("s:T-1")
	if !in || !since.Equal(t0) {
		t.Fatalf("after reopen inside=%v since=%v", in, since)
	}
	if s.Count() != 1 {
		t.Fatalf("count %d", s.Count())
	}
}

func TestHandleIgnoresGarbage(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "peers.db"))
	s.Handle("mynagate/v1/stadium/g2/events", []byte("{not json"))
	if s.Count() != 0 {
		t.Fatal("garbage changed the set")
	}
}

// TestHandleIgnoresEventsFromTheFuture: a peer whose clock says 2099 does not
// keep a holder inside for ever; a later real exit still counts, and the
// ignored event is counted.
func TestHandleIgnoresEventsFromTheFuture(t *testing.T) {
	var ignored int
	s, err := Open(filepath.Join(t.TempDir(), "peers.db"), Options{OnFuture: func() { ignored++ }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Now()
	tests := []struct {
		name    string
		kind    event.Kind
		at      time.Time
		inside  bool
		ignored int
	}{
		{"entry now", event.KindEntry, now, true, 0},
		{"exit dated 2099", event.KindExit, time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC), true, 1},
		{"exit 5 minutes ahead (within bound)", event.KindExit, now.Add(5 * time.Minute), false, 1},
		{"entry dated 2099", event.KindEntry, time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC), false, 2},
		{"entry 11 minutes ahead", event.KindEntry, now.Add(11 * time.Minute), false, 3},
	}
	for i, tc := range tests {
		e := ev(fmt.Sprintf("f%d", i), tc.kind, event.Admit, 0)
		e.At = tc.at
		b, _ := json.Marshal(e)
		s.Handle("mynagate/v1/stadium/g2/events", b)
		if _, in := s.Inside("s:T-1"); in != tc.inside || ignored != tc.ignored {
			t.Fatalf("%s: inside %v ignored %d, want %v and %d", tc.name, in, ignored, tc.inside, tc.ignored)
		}
	}
}

// TestOpenDropsPresencesDatedAhead: a presence saved dated beyond MaxAhead
// (by a gate that took a 2099 entry before the bound existed) is forgotten
// at Open, so the holder's next real tap decides again; presences within the
// bound stay.
func TestOpenDropsPresencesDatedAhead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "peers.db")
	// A set that took everything, as one before MaxAhead did.
	s, err := Open(path, Options{MaxAhead: 100 * 365 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for _, tc := range []struct {
		service string
		at      time.Time
	}{
		{"T-2099", time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"T-now", now},
		{"T-5min-ahead", now.Add(5 * time.Minute)},
		{"T-11min-ahead", now.Add(11 * time.Minute)},
	} {
		e := ev("e-"+tc.service, event.KindEntry, event.Admit, 0)
		e.ServiceID, e.At = tc.service, tc.at
		if !s.Observe(e) {
			t.Fatalf("%s not taken", tc.service)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, path)
	for service, known := range map[string]bool{"T-2099": false, "T-now": true, "T-5min-ahead": true, "T-11min-ahead": false} {
		if _, ok := s.Lookup("s:" + service); ok != known {
			t.Errorf("%s known after reopen: %v, want %v", service, ok, known)
		}
	}
	if s.Count() != 2 {
		t.Errorf("%d inside after reopen, want 2", s.Count())
	}
	exit := ev("x-2099", event.KindExit, event.Admit, 0)
	exit.ServiceID, exit.At = "T-2099", now
	s.Observe(exit)
	if _, in := s.Inside("s:T-2099"); in {
		t.Fatal("the holder of the 2099 entry is still inside after a real exit")
	}
}

// TestSharedAcrossGates runs two gates on one broker: an entry at gate 1 is
// known at gate 2, which would refuse a second entry.
func TestSharedAcrossGates(t *testing.T) {
	b := mqtttest.Start(t)
	ob, err := outbox.Open(filepath.Join(t.TempDir(), "g1.db"), outbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close()
	g1, err := uplink.New(uplink.Config{Broker: b.Addr(), Site: "stadium", Gate: "g1"}, ob, nil)
	if err != nil {
		t.Fatal(err)
	}
	ob2, err := outbox.Open(filepath.Join(t.TempDir(), "g2.db"), outbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ob2.Close()
	g2, err := uplink.New(uplink.Config{Broker: b.Addr(), Site: "stadium", Gate: "g2"}, ob2, nil)
	if err != nil {
		t.Fatal(err)
	}
	set2 := open(t, filepath.Join(t.TempDir(), "peers2.db"))
	if err := g2.Handle(Filter(uplink.DefaultPrefix, "stadium"), set2.Handle); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	for _, u := range []*uplink.Uplink{g1, g2} {
		go func() { u.Run(ctx); done <- struct{}{} }()
	}
	defer func() { cancel(); <-done; <-done }()
	// Gate 2 subscribes asynchronously after connecting: probe until it hears.
	probe := ev("p1", event.KindEntry, event.Admit, 0)
	probe.ServiceID = "probe"
	probe.At = time.Now()
	pb, _ := json.Marshal(probe)
	waitInside(t, set2, "s:probe", func() { mqtttest.Publish(t, b.Addr(), "mynagate/v1/stadium/probe/events", pb, false) })
	e := ev("e1", event.KindEntry, event.Admit, 0)
	e.At = time.Now()
	if err := ob.Append(ctx, e); err != nil {
		t.Fatal(err)
	}
	waitInside(t, set2, "s:T-1", func() {})
	if p, _ := set2.Lookup("s:T-1"); p.Gate != "g1" || p.Event != "e1" {
		t.Fatalf("presence %+v", p)
	}
}

// waitInside repeats poke until key is inside.
func waitInside(t *testing.T, s *Set, key string, poke func()) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		poke()
		for range 10 {
			if _, in := s.Inside(key); in {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never became inside", key)
		}
	}
}

// TestMoveBetweenPlaces: a holder who checks in at another shelter is counted
// only there; a late check-in at the first does not move them back.
func TestMoveBetweenPlaces(t *testing.T) {
	at := func(id, place string, min int) *event.Event {
		e := ev(id, event.KindCheckin, event.Admit, min)
		e.Place = place
		return e
	}
	tests := []struct {
		name      string
		events    []*event.Event
		a, b      int
		wantPlace string
	}{
		{"check in at a", []*event.Event{at("c1", "a", 0)}, 1, 0, "a"},
		{"move to b", []*event.Event{at("c1", "a", 0), at("c2", "b", 5)}, 0, 1, "b"},
		{"move arrives first", []*event.Event{at("c2", "b", 5), at("c1", "a", 0)}, 0, 1, "b"},
		{"back to a", []*event.Event{at("c1", "a", 0), at("c2", "b", 5), at("c3", "a", 9)}, 1, 0, "a"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t, filepath.Join(t.TempDir(), "peers.db"))
			for _, e := range tc.events {
				s.Observe(e)
			}
			if a, b := s.CountAt("a"), s.CountAt("b"); a != tc.a || b != tc.b {
				t.Fatalf("inside at a=%d b=%d, want %d %d", a, b, tc.a, tc.b)
			}
			if p, _ := s.Lookup("s:T-1"); p.Place != tc.wantPlace {
				t.Fatalf("place %q, want %q", p.Place, tc.wantPlace)
			}
		})
	}
}

func TestHolderKeyShelterRecords(t *testing.T) {
	tests := []struct {
		name string
		e    event.Event
		want string
	}{
		{"slip at its place", event.Event{ID: "x", Kind: event.KindCheckin, Place: "a", Slip: "0042"}, "m:a/0042"},
		{"card wins over slip", event.Event{ID: "x", Kind: event.KindCheckin, Place: "a", Slip: "0042", Card: "cd"}, "c:cd"},
		{"reconcile without a card", event.Event{ID: "x", Kind: event.KindCheckin, Reconcile: true}, "e:x"},
		{"deny without a card", event.Event{ID: "x", Kind: event.KindCheckin}, ""},
		{"venue staff override", event.Event{ID: "x", Kind: event.KindEntry, Reason: event.ReasonStaff, Staff: "paper_ticket"}, "o:x"},
		{"entry without a card", event.Event{ID: "x", Kind: event.KindEntry}, ""},
	}
	for _, tc := range tests {
		if got := HolderKey(&tc.e); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}
