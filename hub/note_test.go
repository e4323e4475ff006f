package hub

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mynagate/mynagate/event"
	"github.com/mynagate/mynagate/hub/hubtest"
	"github.com/mynagate/mynagate/sync/outbox"
	"github.com/mynagate/mynagate/sync/uplink"
)

func TestWithoutNote(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"no note", `{"id":"a","seq":1}`, `{"id":"a","seq":1}`},
		{"note", `{"id":"a","note":"left arm in a sling","seq":1}`, `{"id":"a","seq":1}`},
		{"note in a value only", `{"id":"a","service_id":"\"note\""}`, `{"id":"a","service_id":"\"note\""}`},
		{"not JSON", `{"note"`, `{"note"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(withoutNote([]byte(tc.in))); got != tc.want {
				t.Fatalf("withoutNote(%s) = %s, want %s", tc.in, got, tc.want)
			}
		})
	}
}

// TestStaffNoteStaysAtTheHub: a staff record's free note is stored at the hub
// and never reaches the site's other gates through the embedded broker.
func TestStaffNoteStaysAtTheHub(t *testing.T) {
	cfg := testConfig(t)
	desk := gateAccount(t, cfg, "city", "desk")
	peerAcct := gateAccount(t, cfg, "city", "station-b")
	h := startHub(t, cfg)
	peer := hubtest.Subscribe(t, peerAcct, cfg.Prefix+"/city/+/events")
	ob, err := outbox.Open(filepath.Join(t.TempDir(), "outbox.db"), outbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close()
	up, err := uplink.New(desk, ob, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { up.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	const note = "child with a fever; mother at school 1"
	e := &event.Event{ID: "01JNOTE00000000000000000001", At: time.Now(), Site: "city", Gate: "desk", Kind: event.KindCheckin,
		Decision: event.Admit, Reason: event.ReasonStaff, Assurance: "staff", Slip: "S-17", Staff: "no_card", Note: note}
	if err := ob.Append(ctx, e); err != nil {
		t.Fatal(err)
	}
	msgs, ok := peer.Wait(1, 30*time.Second)
	if !ok {
		t.Fatal("the other gate never heard of the staff check-in")
	}
	if strings.Contains(string(msgs[0].Payload), "fever") {
		t.Fatalf("the note reached another gate: %s", msgs[0].Payload)
	}
	if got, err := event.Decode(msgs[0].Payload); err != nil || got.Slip != "S-17" {
		t.Fatalf("the other gate got %+v (%v), want the check-in without its note", got, err)
	}
	rec, ok, err := h.Store().Event(e.ID)
	if err != nil || !ok || !strings.Contains(string(rec.Event), note) {
		t.Fatalf("the hub's record %s (%v, %v) lacks the note", rec.Event, ok, err)
	}
}
