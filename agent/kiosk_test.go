package agent_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/mynagate/mynagate/agent"
	"github.com/mynagate/mynagate/event"
	"github.com/mynagate/mynagate/offline/cardkey"
	"github.com/mynagate/mynagate/offline/policy"
	"github.com/mynagate/mynagate/offline/whitelist"
	"github.com/mynagate/mynagate/reader/jpki"
	"github.com/mynagate/mynagate/vcard"
)

// pad is a scripted PIN pad: it answers each prompt with the next PIN (nil:
// the holder gives up), remembers what it was asked and keeps the slices it
// handed out, so the test sees that the agent zeroed them.
type pad struct {
	pins   [][]byte
	asked  []int
	handed [][]byte
}

func (p *pad) PIN(_ context.Context, lane string, triesLeft int) ([]byte, error) {
	p.asked = append(p.asked, triesLeft)
	if len(p.pins) == 0 || p.pins[0] == nil {
		return nil, agent.ErrNoPIN
	}
	pin := p.pins[0]
	p.pins = p.pins[1:]
	p.handed = append(p.handed, pin)
	return pin, nil
}

// pending is a kiosk screen with one binding set, or none.
type pending struct {
	en *agent.Enrolment
}

func (p pending) Pending(string) (agent.Enrolment, bool) {
	if p.en == nil {
		return agent.Enrolment{}, false
	}
	return *p.en, true
}

// TestKioskLanes drives enrol and identify lanes at the pin level: what is
// decided, what the holder is asked, and that the PIN is zeroed after use.
func TestKioskLanes(t *testing.T) {
	now := time.Date(2026, 11, 25, 14, 0, 0, 0, time.UTC)
	bound := &agent.Enrolment{ServiceID: "ORD-77", Seat: "A-2", Grant: event.Grant{Kind: whitelist.KindTicket, Group: "ORD-77"}}
	enrol := agent.Lane{Name: "counter", Reader: "r", Kind: event.KindEnrol}
	identify := agent.Lane{Name: "desk", Reader: "r", Kind: event.KindIdentify}
	tests := []struct {
		name      string
		lane      agent.Lane
		listed    bool
		revoked   bool
		binding   *agent.Enrolment
		tries     int
		pins      []string
		want      event.Reason
		asked     []int
		seat      string
		wantGrant bool
	}{
		{name: "enrol bound card", lane: enrol, binding: bound, pins: []string{"1234"}, want: event.ReasonAdmit, asked: []int{3}, seat: "A-2", wantGrant: true},
		{name: "enrol with nothing bound asks no PIN", lane: enrol, pins: []string{"1234"}, want: event.ReasonNotBound},
		{name: "enrol revoked card", lane: enrol, binding: bound, revoked: true, pins: []string{"1234"}, want: event.ReasonRevoked, asked: []int{3}},
		{name: "enrol wrong PIN", lane: enrol, binding: bound, pins: []string{"9999"}, want: event.ReasonPINWrong, asked: []int{3}},
		{name: "last try warns and blocks", lane: enrol, binding: bound, tries: 1, pins: []string{"9999"}, want: event.ReasonPINBlocked, asked: []int{1}},
		{name: "blocked PIN asks nothing", lane: enrol, binding: bound, tries: -1, pins: []string{"1234"}, want: event.ReasonPINBlocked},
		{name: "holder gives up", lane: enrol, binding: bound, pins: []string{""}, want: event.ReasonPINNotEntered, asked: []int{3}},
		{name: "identify listed", lane: identify, listed: true, pins: []string{"1234"}, want: event.ReasonAdmit, asked: []int{3}},
		{name: "identify unlisted", lane: identify, pins: []string{"1234"}, want: event.ReasonNotListed, asked: []int{3}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := newUnit(t)
			p, key := u.card(t, "card-003.json")
			if tc.listed {
				if err := u.list.Apply(1, true, []whitelist.Record{{Key: key, Entry: whitelist.Entry{ServiceID: "R-0003", Kind: whitelist.KindResident}}}, nil, nil, nil); err != nil {
					t.Fatal(err)
				}
			}
			if tc.revoked {
				if err := u.list.Apply(1, true, nil, nil, []cardkey.Key{key}, nil); err != nil {
					t.Fatal(err)
				}
			}
			if tc.tries > 0 {
				p.PINTries = tc.tries
			}
			c := vcard.NewCard(p)
			if tc.tries < 0 {
				blockPIN(t, c)
			}
			pp := &pad{}
			for _, s := range tc.pins {
				if s == "" {
					pp.pins = append(pp.pins, nil)
				} else {
					pp.pins = append(pp.pins, []byte(s))
				}
			}
			u.agent.Policy = policy.Policy{Accept: []string{policy.AssurancePIN}}
			u.agent.PIN, u.agent.Enrolments = pp, pending{tc.binding}
			e := u.agent.Decide(context.Background(), tc.lane, &direct{c: c}, nil, now)
			if e.Reason != tc.want {
				t.Fatalf("reason %s, want %s", e.Reason, tc.want)
			}
			if !slices.Equal(pp.asked, tc.asked) {
				t.Errorf("asked with tries left %v, want %v", pp.asked, tc.asked)
			}
			for _, h := range pp.handed {
				for _, b := range h {
					if b != 0 {
						t.Errorf("PIN %q not zeroed after use", h)
					}
				}
			}
			if e.Seat != tc.seat || (e.Grant != nil) != tc.wantGrant {
				t.Errorf("seat %q grant %+v", e.Seat, e.Grant)
			}
			if tc.wantGrant && (e.ServiceID != "ORD-77" || e.Grant.Group != "ORD-77" || e.Assurance != policy.AssurancePIN || e.Kind != event.KindEnrol) {
				t.Errorf("enrol event %+v", e)
			}
			if tc.lane.Kind == event.KindIdentify && tc.listed && e.ServiceID != "R-0003" {
				t.Errorf("identified as %q", e.ServiceID)
			}
		})
	}
}

// blockPIN spends every try of the card's PIN with wrong ones, as a holder
// who forgot it would.
func blockPIN(t *testing.T, c *vcard.Card) {
	t.Helper()
	card := jpki.New(&direct{c: c}, nil)
	if err := card.SelectAP(); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		card.VerifyPIN([]byte("0000"))
	}
	if n, err := card.PINTriesLeft(); n != 0 && !errors.Is(err, jpki.ErrPINBlocked) {
		t.Fatalf("PIN not blocked: %d tries left, %v", n, err)
	}
}
