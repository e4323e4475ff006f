package agent

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/mynagate/mynagate/event"
	"github.com/mynagate/mynagate/hw/signal"
	"github.com/mynagate/mynagate/sync/peers"
)

// Shelter is how a shelter station treats its check-in lanes.
type Shelter struct {
	// On admits every tap at a check-in or check-out lane: a card the gate
	// would deny is counted in (or out) all the same, recorded with its real
	// reason and flagged to reconcile. Nobody is turned away or kept in.
	On bool
	// CheckoutToggle makes a tap of a holder already inside at this place a
	// check-out.
	CheckoutToggle bool
}

// retryReasons are denials that say nothing about the person but that the
// card was not read through: they ask for another tap rather than record a
// check-in that the next tap would count a second time.
var retryReasons = []event.Reason{event.ReasonCardRemoved, event.ReasonCardError, event.ReasonInternalError}

// place is the named place in events: Place, else the gate.
func (a *Agent) place() string {
	if a.Place != "" {
		return a.Place
	}
	return a.Gate
}

// shelterTap turns a check-in or check-out lane's decision into a shelter's:
// at a check-in lane a holder already inside at this place checks out (with
// CheckoutToggle) and anyone else is checked in; at either lane a card the gate
// would deny is admitted all the same, flagged to reconcile with the reason
// kept. A tap whose card was not read through stays denied (tap again).
func (a *Agent) shelterTap(e *event.Event) {
	if slices.Contains(retryReasons, e.Reason) {
		return
	}
	if e.Kind == event.KindCheckin && a.Shelter.CheckoutToggle && a.Peers != nil {
		if p, ok := a.Peers.Lookup(peers.HolderKey(e)); ok && p.Inside && p.Place == e.Place {
			e.Kind = event.KindCheckout
		}
	}
	if e.Decision != event.Admit {
		e.Decision, e.Reconcile = event.Admit, true
	}
}

// Staff actions (StaffRequest.Action).
const (
	StaffCheckin  = "checkin"
	StaffCheckout = "checkout"
	StaffOpen     = "open"
)

// Staff reasons (event.Event.Staff): why staff made a record without a card.
const (
	StaffNoCard        = "no_card"
	StaffForgottenCard = "forgotten_card"
	StaffPaperTicket   = "paper_ticket"
	StaffOther         = "other"
)

// ErrStaffRefused is wrapped when a staff request does not fit this gate.
var ErrStaffRefused = errors.New("staff request refused")

// Staff records what staff did without a card: at a shelter a check-in or
// check-out by slip number, counted like a tap; at a venue gate an override
// that opens the turnstile once. The record is journaled before the gate acts,
// like a tap, and carries the note to the hub (gates ignore notes).
func (a *Agent) Staff(ctx context.Context, r StaffRequest, at time.Time) (event.Event, error) {
	if err := r.Validate(); err != nil {
		return event.Event{}, err
	}
	e := event.Event{
		ID: ulid.MustNew(ulid.Timestamp(at), ulid.DefaultEntropy()).String(), At: at,
		Site: a.Site, Gate: a.Gate, Place: a.place(), Decision: event.Admit, Reason: event.ReasonStaff,
		Assurance: AssuranceStaff, ListVersion: a.List.Version(), Note: r.Note,
	}
	if a.Link != nil {
		e.Offline = !a.Link.Online()
	}
	switch r.Action {
	case StaffCheckin, StaffCheckout:
		if !a.Shelter.On {
			return event.Event{}, fmt.Errorf("agent: staff %s: %w: this gate is not a shelter station (mode shelter)", r.Action, ErrStaffRefused)
		}
		e.Kind, e.Staff, e.Slip = event.KindCheckin, StaffNoCard, r.Slip
		if r.Action == StaffCheckout {
			e.Kind = event.KindCheckout
		}
	case StaffOpen:
		lane, ok := a.firstLane(event.KindEntry)
		if a.Turnstile == nil || !ok {
			return event.Event{}, fmt.Errorf("agent: staff open: %w: this gate has no entry lane with a turnstile", ErrStaffRefused)
		}
		e.Kind, e.Lane, e.Staff = event.KindEntry, lane.Name, r.Reason
	}
	if err := a.Journal.Append(ctx, &e); err != nil {
		return event.Event{}, fmt.Errorf("agent: staff %s: journal: %w; nothing was done, check free disk space", r.Action, err)
	}
	if a.Peers != nil {
		a.Peers.Observe(&e)
	}
	a.log().Info("staff record", "action", r.Action, "seq", e.Seq, "id", e.ID, "kind", e.Kind, "staff", e.Staff, "offline", e.Offline)
	a.signal(ctx, signal.Admit)
	if r.Action == StaffOpen {
		if err := a.Turnstile.Open(ctx, e.ID); err != nil {
			return e, fmt.Errorf("agent: staff open: turnstile: %w; the override is recorded, check the relay wiring", err)
		}
	}
	if a.OnDecision != nil {
		a.OnDecision(e)
	}
	return e, nil
}

// AssuranceStaff is the assurance of a staff record: staff vouched, no card.
const AssuranceStaff = "staff"

func (a *Agent) firstLane(k event.Kind) (Lane, bool) {
	for _, l := range a.Lanes {
		if l.Kind == k {
			return l, true
		}
	}
	return Lane{}, false
}
