package event

import (
	"flag"
	"os"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// TestWireFormatGolden pins the JSON every gate publishes and the hub ingests.
func TestWireFormatGolden(t *testing.T) {
	e := Event{
		ID: "01JDQ5Z4N5X4Y7V3W2T1S0R9Q8", Seq: 42,
		At:   time.Date(2026, 11, 25, 18, 30, 0, 123456789, time.FixedZone("JST", 9*3600)),
		Site: "arena", Gate: "north-1", Lane: "in-1", Kind: KindEntry,
		Decision: Admit, Reason: ReasonAdmit, Card: strings.Repeat("ab", 32), ServiceID: "T-0001",
		Assurance: "pinless", ListVersion: 7, LatencyMS: 4.2,
	}
	b := golden(t, "testdata/event.golden.json", e)
	back, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if !back.At.Equal(e.At) || back.At.Nanosecond() != 123456789 || back.ID != e.ID || back.Card != e.Card {
		t.Fatalf("round trip lost data: %+v", back)
	}
}

// TestShelterWireFormatGolden pins how a shelter records a check-in it admits
// for reconciliation, and a staff record without a card.
func TestShelterWireFormatGolden(t *testing.T) {
	at := time.Date(2026, 11, 25, 18, 30, 0, 0, time.FixedZone("JST", 9*3600))
	events := []Event{{
		ID: "01JDQ5Z4N5X4Y7V3W2T1S0R9Q9", Seq: 43, At: at,
		Site: "example-city", Gate: "es2-a", Lane: "entrance", Kind: KindCheckin, Place: "elementary-school-2",
		Decision: Admit, Reason: ReasonNotListed, Reconcile: true, Card: strings.Repeat("cd", 32),
		Assurance: "cert", ListVersion: 7,
	}, {
		ID: "01JDQ5Z4N5X4Y7V3W2T1S0R9QA", Seq: 44, At: at,
		Site: "example-city", Gate: "es2-a", Kind: KindCheckin, Place: "elementary-school-2",
		Decision: Admit, Reason: ReasonStaff, Staff: "no_card", Slip: "0042", Note: "child with parent",
		Assurance: "staff", ListVersion: 7,
	}}
	var got []byte
	for _, e := range events {
		b, err := e.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		got = append(append(got, b...), '\n')
		back, err := Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		if back.Place != e.Place || back.Reconcile != e.Reconcile || back.Slip != e.Slip || back.Note != e.Note || back.Staff != e.Staff {
			t.Fatalf("round trip lost shelter fields: %+v", back)
		}
	}
	const golden = "testdata/shelter.golden.jsonl"
	if *update {
		os.WriteFile(golden, got, 0o644)
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Fatalf("shelter wire format changed:\n got %s\nwant %s", got, want)
	}
}

func TestDecodeRejects(t *testing.T) {
	for _, tc := range []struct{ name, in string }{
		{"not json", `{`},
		{"no id", `{"seq":1,"at":"2026-11-25T00:00:00Z","decision":"admit"}`},
		{"no seq", `{"id":"x","at":"2026-11-25T00:00:00Z","decision":"admit"}`},
		{"no time", `{"id":"x","seq":1,"decision":"admit"}`},
		{"bad decision", `{"id":"x","seq":1,"at":"2026-11-25T00:00:00Z","decision":"maybe"}`},
	} {
		if _, err := Decode([]byte(tc.in)); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
}

// FuzzDecode feeds event payloads as they arrive over MQTT: never panic, and an
// accepted event has what every consumer relies on.
func FuzzDecode(f *testing.F) {
	b, _ := os.ReadFile("testdata/event.golden.json")
	f.Add(b)
	f.Add([]byte(`{"id":"a","seq":1,"at":"2026-11-25T00:00:00Z","decision":"deny"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := Decode(b)
		if err == nil && (e.ID == "" || e.Seq == 0 || e.At.IsZero() || (e.Decision != Admit && e.Decision != Deny)) {
			t.Fatalf("accepted an incomplete event: %+v", e)
		}
	})
}

// TestRotationWireFormatGolden pins an event of a gate in a card-key
// rotation: the card under the current secret in card, under the next in
// card_next.
func TestRotationWireFormatGolden(t *testing.T) {
	e := Event{
		ID: "01JDQ5Z4N5X4Y7V3W2T1S0R9QB", Seq: 45,
		At:   time.Date(2026, 11, 25, 18, 31, 0, 0, time.FixedZone("JST", 9*3600)),
		Site: "arena", Gate: "north-1", Lane: "in-1", Kind: KindEntry,
		Decision: Deny, Reason: ReasonRevoked, Card: strings.Repeat("ab", 32), CardNext: strings.Repeat("ef", 32),
		Assurance: "pinless", ListVersion: 8, LatencyMS: 5.1,
	}
	b := golden(t, "testdata/rotation.golden.json", e)
	back, err := Decode(b)
	if err != nil || back.Card != e.Card || back.CardNext != e.CardNext {
		t.Fatalf("round trip lost the keys: %+v %v", back, err)
	}
}

// golden encodes e and compares it with the golden file (go test -update
// rewrites it); it returns the encoding.
func golden(t *testing.T, path string, e Event) []byte {
	t.Helper()
	b, err := e.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		os.WriteFile(path, append(b, '\n'), 0o644)
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(b)+"\n" != string(want) {
		t.Fatalf("wire format changed:\n got %s\nwant %s", b, want)
	}
	return b
}

// TestKioskEnrolGolden pins an enrol event of a kiosk: the seat and the
// entry (grant) the hub adds to the site's list.
func TestKioskEnrolGolden(t *testing.T) {
	e := Event{
		ID: "01JDQ5Z4N5X4Y7V3W2T1S0R9QC", Seq: 12,
		At:   time.Date(2026, 11, 25, 10, 5, 0, 0, time.FixedZone("JST", 9*3600)),
		Site: "arena", Gate: "box-office", Lane: "counter", Kind: KindEnrol,
		Decision: Admit, Reason: ReasonAdmit, Card: strings.Repeat("cd", 32), ServiceID: "ORD-77", Seat: "A-2",
		Grant:     &Grant{Kind: "ticket", Group: "ORD-77", ValidUntil: time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC), Zones: []string{"north"}},
		Assurance: "pin", ListVersion: 3, LatencyMS: 61.5,
	}
	b := golden(t, "testdata/kiosk.golden.json", e)
	back, err := Decode(b)
	if err != nil || back.Seat != "A-2" || back.Grant == nil || back.Grant.Group != "ORD-77" || !back.Grant.ValidUntil.Equal(e.Grant.ValidUntil) || !back.Grant.ValidFrom.IsZero() {
		t.Fatalf("round trip lost the enrolment: %+v %v", back, err)
	}
}
