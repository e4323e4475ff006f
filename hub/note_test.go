package hub

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

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
// and never reaches the site's other gates, through the embedded broker or
// through Mosquitto with the ACL file gatehub gate add writes. The other gate
// subscribes to everything it may read ('#', which each broker narrows to its
// rights, and the desk's private topic by name) and hears the check-in
// without its note.
func TestStaffNoteStaysAtTheHub(t *testing.T) {
	for _, broker := range []string{"embedded", "mosquitto"} {
		t.Run(broker, func(t *testing.T) {
			cfg := testConfig(t)
			if broker == "mosquitto" {
				cfg.InsecurePlainTCPOnLoopback = false
				cfg.MosquittoDir = t.TempDir()
				cfg.Broker = "ssl://127.0.0.1:1" // an external broker; the port is known once it runs
			}
			desk := gateAccount(t, cfg, "city", "desk")
			peerAcct := gateAccount(t, cfg, "city", "station-b")
			if broker == "mosquitto" {
				startMosquitto(t, cfg)
				desk, peerAcct = withBroker(t, cfg, desk), withBroker(t, cfg, peerAcct)
			}
			staffNoteStaysAtTheHub(t, startHub(t, cfg), cfg.Prefix, desk, peerAcct)
		})
	}
}

func staffNoteStaysAtTheHub(t *testing.T, h *Hub, prefix string, desk, peerAcct uplink.Config) {
	var mu sync.Mutex
	var heard []paho.Message
	peer := hubtest.Connect(t, peerAcct)
	for _, f := range []string{"#", prefix + "/city/desk/private", prefix + "/city/+/events"} {
		// A refused subscription is what it should be; only what arrives
		// counts.
		peer.Subscribe(f, 1, func(_ paho.Client, m paho.Message) {
			mu.Lock()
			heard = append(heard, m)
			mu.Unlock()
		}).WaitTimeout(10 * time.Second)
	}
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
	checkin := prefix + "/city/desk/events"
	waitFor(t, "the other gate to hear of the staff check-in", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, m := range heard {
			if m.Topic() == checkin {
				return true
			}
		}
		return false
	})
	// The outbox empties once the hub has receipted the check-in.
	waitFor(t, "the hub's receipt", func() bool {
		evs, err := ob.Pending(0, 1)
		return err == nil && len(evs) == 0
	})
	mu.Lock()
	for _, m := range heard {
		if m.Topic() != checkin {
			continue
		}
		if got, err := event.Decode(m.Payload()); err != nil || got.Slip != "S-17" || got.Note != "" {
			t.Errorf("the other gate got %+v (%v), want the check-in without its note", got, err)
		}
	}
	for _, m := range heard {
		if strings.Contains(string(m.Payload()), "fever") {
			t.Errorf("the note reached another gate on %s", m.Topic())
		}
	}
	mu.Unlock()
	rec, ok, err := h.Store().Event(e.ID)
	if err != nil || !ok || !strings.Contains(string(rec.Event), note) {
		t.Fatalf("the hub's record %s (%v, %v) lacks the note", rec.Event, ok, err)
	}
	if n := gateStats(t, h, "desk").Events; n != 1 {
		t.Fatalf("the hub holds %d events of the desk, want the check-in once", n)
	}
}
