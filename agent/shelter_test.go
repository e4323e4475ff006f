package agent_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mynagate/mynagate/agent"
	"github.com/mynagate/mynagate/event"
	"github.com/mynagate/mynagate/hw/receipt"
	"github.com/mynagate/mynagate/hw/signal"
	"github.com/mynagate/mynagate/offline/cardkey"
	"github.com/mynagate/mynagate/offline/policy"
	"github.com/mynagate/mynagate/offline/whitelist"
	"github.com/mynagate/mynagate/sync/peers"
	"github.com/mynagate/mynagate/vcard"
)

// shelterUnit is a shelter station at place "es2" with a real inside set.
func shelterUnit(t *testing.T) (*unit, *peers.Set) {
	t.Helper()
	u := newUnit(t)
	set, err := peers.Open(filepath.Join(t.TempDir(), "peers.db"), peers.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { set.Close() })
	u.agent.Peers, u.agent.Place = set, "es2"
	u.agent.Shelter = agent.Shelter{On: true, CheckoutToggle: true}
	return u, set
}

// TestShelterNobodyTurnedAway: every card a check-in lane can read through is
// checked in; the ones the gate would deny are flagged to reconcile with the
// real reason and assurance kept.
func TestShelterNobodyTurnedAway(t *testing.T) {
	u, set := shelterUnit(t)
	now := time.Date(2026, 11, 25, 14, 0, 0, 0, time.UTC)
	lane := agent.Lane{Name: "entrance", Kind: event.KindCheckin}
	resident := whitelist.Entry{ServiceID: "R-1", Kind: whitelist.KindResident}
	for i, tc := range []struct {
		name      string
		profile   string
		listed    bool
		revoked   bool
		decision  event.Decision
		reason    event.Reason
		reconcile bool
		counted   bool
	}{
		{"listed resident", "card-001.json", true, false, event.Admit, event.ReasonAdmit, false, true},
		{"not listed", "card-001.json", false, false, event.Admit, event.ReasonNotListed, true, true},
		{"revoked", "card-001.json", true, true, event.Admit, event.ReasonRevoked, true, true},
		{"wrong root", "wrong-root.json", false, false, event.Admit, event.ReasonUnknownRoot, true, true},
		{"expired certificate", "expired.json", false, false, event.Admit, event.ReasonCertExpired, true, true},
		{"not a My Number card", "transit.json", false, false, event.Admit, event.ReasonNotMyNumberCard, true, true},
		{"pulled: tap again", "pulled.json", false, false, event.Deny, event.ReasonCardRemoved, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, key := u.card(t, tc.profile)
			var puts []whitelist.Record
			if tc.listed {
				puts = append(puts, whitelist.Record{Key: key, Entry: resident})
			}
			var revoke []cardkey.Key
			if tc.revoked {
				revoke = append(revoke, key)
			}
			if err := u.list.Apply(uint64(i+1), true, puts, nil, revoke, nil); err != nil {
				t.Fatal(err)
			}
			before := set.CountAt("es2")
			e := u.tap(t, p, lane, now.Add(time.Duration(i)*time.Minute))
			if e.Decision != tc.decision || e.Reason != tc.reason || e.Reconcile != tc.reconcile {
				t.Fatalf("got %s/%s reconcile=%v, want %s/%s reconcile=%v", e.Decision, e.Reason, e.Reconcile, tc.decision, tc.reason, tc.reconcile)
			}
			if e.Kind != event.KindCheckin || e.Place != "es2" || e.Seq == 0 || e.Assurance == "" {
				t.Fatalf("check-in not recorded with its place and assurance: %+v", e)
			}
			if got := set.CountAt("es2") - before; (got == 1) != tc.counted {
				t.Fatalf("count changed by %d, counted=%v", got, tc.counted)
			}
			// Check the holder out again so the next case starts outside.
			if tc.counted {
				if k := peers.HolderKey(&e); strings.HasPrefix(k, "e:") {
					return // no card key: staff check them out
				}
				if out := u.tap(t, p, lane, now.Add(time.Duration(i)*time.Minute+time.Second)); out.Kind != event.KindCheckout || out.Decision != event.Admit {
					t.Fatalf("second tap: %s %s, want an admitted checkout", out.Kind, out.Decision)
				}
			}
		})
	}
}

// TestShelterToggleAndMove: a second tap checks out, a third checks in again,
// and a check-in at another place moves the holder, so a tap back at the
// first place is a check-in there, not a check-out.
func TestShelterToggleAndMove(t *testing.T) {
	u, set := shelterUnit(t)
	p, key := u.card(t, "card-001.json")
	u.listCard(t, p, key, 1)
	lane := agent.Lane{Name: "entrance", Kind: event.KindCheckin}
	now := time.Date(2026, 11, 25, 14, 0, 0, 0, time.UTC)
	want := []event.Kind{event.KindCheckin, event.KindCheckout, event.KindCheckin}
	for i, k := range want {
		if e := u.tap(t, p, lane, now.Add(time.Duration(i)*time.Minute)); e.Kind != k || e.Decision != event.Admit {
			t.Fatalf("tap %d: %s %s, want admitted %s", i+1, e.Kind, e.Decision, k)
		}
	}
	moved := event.Event{ID: "01JPEERPLACEMOVE000000000A", Seq: 1, At: now.Add(5 * time.Minute), Site: "s", Gate: "ms1", Place: "ms",
		Kind: event.KindCheckin, Decision: event.Admit, Reason: event.ReasonAdmit, ServiceID: "T-77"}
	set.Observe(&moved)
	if set.CountAt("es2") != 0 || set.CountAt("ms") != 1 {
		t.Fatalf("after the move: es2=%d ms=%d", set.CountAt("es2"), set.CountAt("ms"))
	}
	if e := u.tap(t, p, lane, now.Add(9*time.Minute)); e.Kind != event.KindCheckin {
		t.Fatalf("back at es2: %s, want checkin", e.Kind)
	}
	if set.CountAt("es2") != 1 || set.CountAt("ms") != 0 {
		t.Fatalf("after coming back: es2=%d ms=%d", set.CountAt("es2"), set.CountAt("ms"))
	}
	// A check-out lane lets out even a card no longer on the list.
	if err := u.list.Apply(2, true, nil, nil, nil, nil); err != nil {
		t.Fatal(err)
	}
	exit := agent.Lane{Name: "exit", Kind: event.KindCheckout}
	if e := u.tap(t, p, exit, now.Add(12*time.Minute)); e.Kind != event.KindCheckout || e.Decision != event.Admit || e.Reason != event.ReasonNotListed || !e.Reconcile {
		t.Fatalf("check-out lane: %s %s %s reconcile=%v", e.Kind, e.Decision, e.Reason, e.Reconcile)
	}
}

// TestStaffRecords: a staff check-in by slip number counts like a tap and its
// check-out takes the person out; an open at a venue gate is recorded and
// opens the turnstile once; requests that do not fit the gate are refused.
func TestStaffRecords(t *testing.T) {
	u, set := shelterUnit(t)
	ctx := context.Background()
	now := time.Date(2026, 11, 25, 14, 0, 0, 0, time.UTC)
	e, err := u.agent.Staff(ctx, agent.StaffRequest{Action: agent.StaffCheckin, Slip: "0042", Note: "child with parent"}, now)
	if err != nil {
		t.Fatal(err)
	}
	if e.Kind != event.KindCheckin || e.Reason != event.ReasonStaff || e.Staff != agent.StaffNoCard || e.Slip != "0042" ||
		e.Note != "child with parent" || e.Place != "es2" || e.Seq == 0 || e.Assurance != agent.AssuranceStaff {
		t.Fatalf("staff check-in: %+v", e)
	}
	if set.CountAt("es2") != 1 {
		t.Fatalf("staff check-in not counted: %d", set.CountAt("es2"))
	}
	if _, err := u.agent.Staff(ctx, agent.StaffRequest{Action: agent.StaffCheckout, Slip: "0042"}, now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if set.CountAt("es2") != 0 {
		t.Fatalf("staff check-out not counted: %d", set.CountAt("es2"))
	}
	if _, err := u.agent.Staff(ctx, agent.StaffRequest{Action: agent.StaffOpen, Reason: agent.StaffForgottenCard}, now); !errors.Is(err, agent.ErrStaffRefused) {
		t.Fatalf("open at a shelter without a turnstile: %v", err)
	}

	venue, venueSet := shelterUnit(t)
	venue.agent.Shelter, venue.agent.Place = agent.Shelter{}, ""
	ts := &countingTurnstile{}
	venue.agent.Turnstile = ts
	venue.agent.Lanes = []agent.Lane{{Name: "north-3-in", Kind: event.KindEntry}}
	o, err := venue.agent.Staff(ctx, agent.StaffRequest{Action: agent.StaffOpen, Reason: agent.StaffPaperTicket}, now)
	if err != nil {
		t.Fatal(err)
	}
	if o.Kind != event.KindEntry || o.Decision != event.Admit || o.Staff != agent.StaffPaperTicket || o.Lane != "north-3-in" || ts.opens != 1 {
		t.Fatalf("override: %+v, opens %d", o, ts.opens)
	}
	if _, in := venueSet.Inside(peers.HolderKey(&o)); !in || venueSet.Count() != 1 {
		t.Fatalf("the person the override let in is not counted inside: %d inside", venueSet.Count())
	}
	if _, err := venue.agent.Staff(ctx, agent.StaffRequest{Action: agent.StaffCheckin, Slip: "1"}, now); !errors.Is(err, agent.ErrStaffRefused) {
		t.Fatalf("check-in at a venue gate: %v", err)
	}
}

type countingTurnstile struct{ opens int }

func (c *countingTurnstile) Open(context.Context, string) error { c.opens++; return nil }

func TestParseStaffRequest(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{`{"action":"checkin","slip":"0042"}`, true},
		{`{"action":"checkin","slip":"0042","note":"子ども・保護者同伴"}`, true},
		{`{"action":"checkout","slip":"A-7"}`, true},
		{`{"action":"open","reason":"forgotten_card"}`, true},
		{`{"action":"checkin"}`, false},
		{`{"action":"checkin","slip":"00 42"}`, false},
		{`{"action":"checkin","slip":"00000000000000000"}`, false},
		{`{"action":"checkin","slip":"1","reason":"other"}`, false},
		{`{"action":"open","reason":"vip"}`, false},
		{`{"action":"open","reason":"other","slip":"1"}`, false},
		{`{"action":"open","reason":"other","note":"two\nlines"}`, false},
		{`{"action":"delete"}`, false},
		{`[`, false},
	} {
		if _, err := agent.ParseStaffRequest([]byte(tc.in)); (err == nil) != tc.ok {
			t.Errorf("%s: err %v, want ok=%v", tc.in, err, tc.ok)
		}
	}
}

// FuzzParseStaffRequest feeds control-socket bodies: never panic, and an
// accepted request passes Validate.
func FuzzParseStaffRequest(f *testing.F) {
	f.Add([]byte(`{"action":"checkin","slip":"0042","note":"x"}`))
	f.Add([]byte(`{"action":"open","reason":"other"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := agent.ParseStaffRequest(b)
		if err == nil && r.Validate() != nil {
			t.Fatalf("accepted an invalid request: %+v", r)
		}
	})
}

// TestShelterCardFailuresReconcile: at a pinless shelter lane, a card without
// the PIN-less protocol and one whose signature does not match its
// certificate are checked in all the same, to reconcile, with the reason
// kept; the station sounds Admit and prints the shelter slip marked to
// reconcile.
func TestShelterCardFailuresReconcile(t *testing.T) {
	u, set := shelterUnit(t)
	u.agent.Policy, u.agent.PINLess = policy.Policy{Accept: []string{policy.AssurancePINLess}}, pinlessAuth(t, "institution.cvc")
	pr := &fakePrinter{ch: make(chan struct{}, 1)}
	sig := &recordingSignal{}
	u.agent.Printer, u.agent.Signal, u.agent.Receipts = pr, sig, agent.Receipts{Shelter: "第二小学校 体育館"}
	copied, _ := u.card(t, "card-001.json")
	other, _ := u.card(t, "card-002.json")
	copied.Certificate = other.Certificate // card-002's certificate on card-001's key
	now := time.Date(2026, 11, 25, 14, 0, 0, 0, time.UTC)
	lane := agent.Lane{Name: "entrance", Kind: event.KindCheckin}
	for i, tc := range []struct {
		name    string
		profile *vcard.Profile
		reason  event.Reason
	}{
		{"card without pinless", mustProfile(t, u, "no-pinless.json"), event.ReasonPINLessUnsupported},
		{"copied certificate", copied, event.ReasonCardSigInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := set.CountAt("es2")
			e := u.tap(t, tc.profile, lane, now.Add(time.Duration(i)*time.Minute))
			if e.Kind != event.KindCheckin || e.Decision != event.Admit || e.Reason != tc.reason || !e.Reconcile {
				t.Fatalf("got %s %s/%s reconcile=%v, want an admitted check-in %s to reconcile", e.Kind, e.Decision, e.Reason, e.Reconcile, tc.reason)
			}
			if set.CountAt("es2") != before+1 {
				t.Fatalf("not counted in: %d, then %d", before, set.CountAt("es2"))
			}
			select {
			case <-pr.ch:
			case <-time.After(30 * time.Second):
				t.Fatal("no slip printed")
			}
			pr.mu.Lock()
			slip, ok := pr.got[len(pr.got)-1].(receipt.Shelter)
			pr.mu.Unlock()
			if !ok || !slip.Reconcile || slip.Shelter != "第二小学校 体育館" {
				t.Fatalf("printed %#v, want the shelter slip marked to reconcile", slip)
			}
			if got := sig.all(); len(got) != i+1 || got[i] != signal.Admit {
				t.Fatalf("signals %v, want Admit for each check-in", got)
			}
		})
	}
}

// TestShelterWithoutCheckoutToggle: with checkout_toggle false, a second tap
// at the check-in lane is another check-in, the person still counted once,
// and only the check-out lane checks them out.
func TestShelterWithoutCheckoutToggle(t *testing.T) {
	u, set := shelterUnit(t)
	u.agent.Shelter.CheckoutToggle = false
	p, key := u.card(t, "card-001.json")
	u.listCard(t, p, key, 1)
	now := time.Date(2026, 11, 25, 14, 0, 0, 0, time.UTC)
	in, out := agent.Lane{Name: "entrance", Kind: event.KindCheckin}, agent.Lane{Name: "exit", Kind: event.KindCheckout}
	for i, tc := range []struct {
		lane   agent.Lane
		kind   event.Kind
		inside int
	}{
		{in, event.KindCheckin, 1},
		{in, event.KindCheckin, 1},
		{out, event.KindCheckout, 0},
		{in, event.KindCheckin, 1},
	} {
		e := u.tap(t, p, tc.lane, now.Add(time.Duration(i)*time.Minute))
		if e.Kind != tc.kind || e.Decision != event.Admit || e.Reconcile {
			t.Fatalf("tap %d at %s: %s %s reconcile=%v, want an admitted %s", i+1, tc.lane.Name, e.Kind, e.Decision, e.Reconcile, tc.kind)
		}
		if got := set.CountAt("es2"); got != tc.inside {
			t.Fatalf("after tap %d: %d inside, want %d", i+1, got, tc.inside)
		}
	}
}
