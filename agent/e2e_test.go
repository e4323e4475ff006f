package agent_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/mynagate/mynagate/agent"
	"github.com/mynagate/mynagate/event"
	"github.com/mynagate/mynagate/hw/signal"
	"github.com/mynagate/mynagate/internal/mqtttest"
	"github.com/mynagate/mynagate/internal/pcsctest"
	"github.com/mynagate/mynagate/internal/taptest"
	"github.com/mynagate/mynagate/offline/cardkey"
	"github.com/mynagate/mynagate/offline/certcheck"
	"github.com/mynagate/mynagate/offline/policy"
	"github.com/mynagate/mynagate/offline/whitelist"
	"github.com/mynagate/mynagate/reader"
	"github.com/mynagate/mynagate/sync/outbox"
	"github.com/mynagate/mynagate/sync/uplink"
)

// gateEnv is a gate assembled from real parts: pcscd with a vpcd slot, bbolt
// stores on disk, the uplink to a real Mosquitto, and a test PKI.
type gateEnv struct {
	slot     pcsctest.Slot
	pkiDir   string
	agent    *agent.Agent
	decided  chan event.Event
	sub      *mqtttest.Sub
	buzzer   *recordingSignal
	cancel   context.CancelFunc
	finished chan struct{}
}

type recordingSignal struct {
	mu       sync.Mutex
	patterns []signal.Pattern
}

func (r *recordingSignal) Signal(_ context.Context, p signal.Pattern) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.patterns = append(r.patterns, p)
	return nil
}

func (r *recordingSignal) all() []signal.Pattern {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]signal.Pattern(nil), r.patterns...)
}

func startGate(t *testing.T) *gateEnv {
	t.Helper()
	slot := pcsctest.Acquire(t, 0)
	broker := mqtttest.Start(t)
	dir := t.TempDir()
	pkiDir := taptest.PKI(t)
	secret := make([]byte, 32)
	rand.Read(secret)
	keyer := cardkey.NewSoftware(secret)
	roots, err := certcheck.LoadRoots(filepath.Join(pkiDir, "root.pem"))
	if err != nil {
		t.Fatal(err)
	}
	list, err := whitelist.Open(filepath.Join(dir, "whitelist.db"), whitelist.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { list.Close() })
	f, err := os.Open(filepath.Join(pkiDir, "whitelist.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := list.ImportCSV(f, keyer, nil); err != nil {
		t.Fatal(err)
	}
	f.Close()
	ob, err := outbox.Open(filepath.Join(dir, "outbox.db"), outbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ob.Close() })
	up, err := uplink.New(uplink.Config{Broker: broker.Addr(), Site: "test-site", Gate: "gate-1"}, ob, nil)
	if err != nil {
		t.Fatal(err)
	}
	env := &gateEnv{
		slot: slot, pkiDir: pkiDir,
		decided:  make(chan event.Event, 16),
		sub:      mqtttest.Subscribe(t, broker.Addr(), "mynagate/v1/test-site/gate-1/events"),
		buzzer:   &recordingSignal{},
		finished: make(chan struct{}),
	}
	env.agent = &agent.Agent{
		Site: "test-site", Gate: "gate-1",
		Lanes:  []agent.Lane{{Name: "north-1", Reader: slot.Reader, Kind: event.KindEntry}},
		Policy: policy.Policy{Accept: []string{policy.AssuranceCert}},
		Roots:  roots, Keyer: keyer, List: list, Journal: ob, Signal: env.buzzer, Link: up,
		OnDecision: func(e event.Event) { env.decided <- e },
	}
	ctx, cancel := context.WithCancel(context.Background())
	env.cancel = cancel
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); up.Run(ctx) }()
	go func() {
		defer wg.Done()
		w := &reader.Watcher{Patterns: []string{slot.Reader}, Poll: 200 * time.Millisecond}
		w.Run(ctx, env.agent.Tap)
	}()
	go func() { wg.Wait(); close(env.finished) }()
	t.Cleanup(func() { cancel(); <-env.finished })
	return env
}

// tap presents a card profile until the gate decides, then removes it.
func (g *gateEnv) tap(t *testing.T, profile string) event.Event {
	t.Helper()
	remove := taptest.Present(t, g.slot, taptest.Profile(t, profile))
	defer remove()
	select {
	case e := <-g.decided:
		return e
	case <-time.After(10 * time.Second):
		t.Fatalf("tap %s: no decision within 10 s", profile)
	}
	return event.Event{}
}

// TestTapsEndToEnd is the walking skeleton's proof: cards tapped on the vpcd
// reader through pcscd are decided with the right reason, journaled, signalled,
// and reach an MQTT subscriber exactly once with the documented fields.
func TestTapsEndToEnd(t *testing.T) {
	g := startGate(t)
	cases := []struct {
		profile  string
		decision event.Decision
		reason   event.Reason
		listed   bool
		hasCard  bool
	}{
		{"card-001.json", event.Admit, event.ReasonAdmit, true, true},
		{"card-005.json", event.Deny, event.ReasonNotListed, false, true},
		{"wrong-root.json", event.Deny, event.ReasonUnknownRoot, false, true},
		{"expired.json", event.Deny, event.ReasonCertExpired, false, true},
		{"pulled.json", event.Deny, event.ReasonCardRemoved, false, false},
		{"transit.json", event.Deny, event.ReasonNotMyNumberCard, false, false},
		{"juki.json", event.Deny, event.ReasonJukiCard, false, false},
		{"phone.json", event.Deny, event.ReasonPhoneToken, false, false},
	}
	var ids []string
	for _, tc := range cases {
		e := g.tap(t, tc.profile)
		if e.Decision != tc.decision || e.Reason != tc.reason {
			t.Errorf("%s: %s/%s, want %s/%s", tc.profile, e.Decision, e.Reason, tc.decision, tc.reason)
		}
		if (e.Card != "") != tc.hasCard {
			t.Errorf("%s: card key %q, want one: %v", tc.profile, e.Card, tc.hasCard)
		}
		if tc.listed && e.ServiceID == "" {
			t.Errorf("%s: admitted without a service id", tc.profile)
		}
		ids = append(ids, e.ID)
	}
	wantSignals := []signal.Pattern{signal.Admit}
	for range cases[1:] {
		wantSignals = append(wantSignals, signal.Deny)
	}
	if got := g.buzzer.all(); len(got) != len(wantSignals) || got[0] != signal.Admit || got[1] != signal.Deny {
		t.Errorf("signals %v, want %v", got, wantSignals)
	}

	msgs := g.sub.WaitN(len(cases), 10*time.Second)
	time.Sleep(300 * time.Millisecond) // a duplicate would arrive now
	msgs = g.sub.Messages()
	seen := map[string]bool{}
	ulidRE := regexp.MustCompile(`^[0-9A-HJKMNP-TV-Z]{26}$`)
	for i, m := range msgs {
		var raw map[string]any
		if err := json.Unmarshal(m.Payload, &raw); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		for _, k := range []string{"id", "seq", "at", "kind", "decision", "reason", "assurance", "offline", "list_version", "latency_ms"} {
			if _, ok := raw[k]; !ok {
				t.Errorf("message %d lacks %q: %s", i, k, m.Payload)
			}
		}
		e, err := event.Decode(m.Payload)
		if err != nil {
			t.Fatal(err)
		}
		if !ulidRE.MatchString(e.ID) {
			t.Errorf("id %q is not a ULID", e.ID)
		}
		if _, err := time.Parse(time.RFC3339Nano, raw["at"].(string)); err != nil {
			t.Errorf("at %q: %v", raw["at"], err)
		}
		if e.Seq != uint64(i+1) {
			t.Errorf("message %d has seq %d: events must arrive in seq order without gaps", i, e.Seq)
		}
		if seen[e.ID] {
			t.Errorf("event %s arrived twice", e.ID)
		}
		seen[e.ID] = true
	}
	if len(msgs) != len(cases) {
		t.Errorf("%d messages at the subscriber, want exactly %d", len(msgs), len(cases))
	}
	for _, id := range ids {
		if !seen[id] {
			t.Errorf("event %s decided but never published", id)
		}
	}
}
