// Package policy decides a tap from what the gate knows after the card has
// answered: the whitelist entry, the revocation set, the lane and the level at
// which the card was proven present. It does no I/O and reads no clock: the
// caller passes the gate time, so decisions are reproducible in tests and in
// audits.
package policy

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/mynagate/mynagate/event"
	"github.com/mynagate/mynagate/offline/whitelist"
)

// Assurance levels (DESIGN.md §3).
const (
	AssuranceCert    = "cert"    // certificate read only: a copy passes
	AssurancePIN     = "pin"     // PIN verified and card signed a nonce
	AssurancePINLess = "pinless" // terminal authenticated with the institution key, card signed a nonce
)

// Policy is a gate's decision rules, from its configuration.
type Policy struct {
	// Accept lists the assurance levels admitted in normal operation. Empty
	// accepts none: every tap is denied (fail closed).
	Accept []string
	// Fallback lists further levels admitted only while an emergency is
	// declared (Input.Emergency), typically "cert" at a shelter whose HSM or
	// readers cannot do pinless: speed beats assurance then, and the event
	// still records the weak level.
	Fallback []string
	// Location is the time zone of entries' daily windows (Entry.Daily); nil
	// means the gate's local zone.
	Location *time.Location
	// AntiPassback denies an entry to a holder the site already counts as
	// inside (Input.Inside), so one ticket cannot let two people in. Exits are
	// never held back: nobody is trapped inside by a stale count.
	AntiPassback bool
	// ExitGrace lets an exit or checkout through for this long after the
	// entry's ValidUntil, so a holder whose ticket ended at 22:00 can still
	// tap out at 22:10. Zero: no grace, an expired entry is denied everywhere.
	ExitGrace time.Duration
	// CRLMaxStale is how long past its next update the CRL of a card's CA may
	// be before the card is denied revocation_stale: a card revoked since
	// could be in front of the gate. Zero never denies for it.
	CRLMaxStale time.Duration
}

// Validate checks the policy as loaded from configuration.
func (p Policy) Validate() error {
	if len(p.Accept) == 0 && len(p.Fallback) == 0 {
		return errors.New("policy: no assurance level accepted; set accept to one or more of cert, pin, pinless")
	}
	for _, l := range append(slices.Clone(p.Accept), p.Fallback...) {
		if l != AssuranceCert && l != AssurancePIN && l != AssurancePINLess {
			return fmt.Errorf("policy: assurance level %q is not one of cert, pin, pinless", l)
		}
	}
	if p.ExitGrace < 0 {
		return errors.New("policy: exit grace is negative")
	}
	return nil
}

// Input is everything Decide needs about one tap.
type Input struct {
	// Now is the gate clock at the tap.
	Now time.Time
	// Gate and Zone say where the tap happened; an entry's Zones may name
	// either.
	Gate, Zone string
	// Kind is what the lane records: entry, exit, checkin, checkout, ...
	Kind event.Kind
	// Entry is the whitelist entry; meaningful only when Listed.
	Entry  whitelist.Entry
	Listed bool
	// Revoked is true when the card key is in the revocation set.
	Revoked bool
	// CRLNextUpdate is when the CRL applied for the card's CA was due to be
	// replaced; zero when none is applied for it.
	CRLNextUpdate time.Time
	// Assurance is the level the card was proven at: cert, pin or pinless.
	Assurance string
	// Emergency is true while an operator has declared an emergency, which
	// admits the policy's Fallback levels too.
	Emergency bool
	// Inside is true when the site's gates count the holder as inside.
	Inside bool
}

// Decide returns the decision and its reason. The checks run in this order and
// the first that fails decides: revoked, the card CA's CRL stale for longer
// than CRLMaxStale, not listed, outside the entry's time
// window (dates and time of day), wrong zone, already inside (anti-passback,
// entries only), assurance level not accepted.
// An entry outside its window never gives admit.
func Decide(p Policy, in Input) (event.Decision, event.Reason) {
	switch {
	case in.Revoked:
		return event.Deny, event.ReasonRevoked
	case p.CRLMaxStale > 0 && !in.CRLNextUpdate.IsZero() && in.Now.Sub(in.CRLNextUpdate) > p.CRLMaxStale:
		return event.Deny, event.ReasonRevocationStale
	case !in.Listed:
		return event.Deny, event.ReasonNotListed
	case !p.inWindow(in):
		return event.Deny, event.ReasonOutsideWindow
	case !inZone(in):
		return event.Deny, event.ReasonWrongZone
	case p.AntiPassback && in.Inside && in.Kind == event.KindEntry:
		return event.Deny, event.ReasonAlreadyInside
	case !p.Accepts(in.Assurance, in.Emergency):
		return event.Deny, event.ReasonAssuranceNotAccepted
	}
	return event.Admit, event.ReasonAdmit
}

func (p Policy) inWindow(in Input) bool {
	e := in.Entry
	if !e.ValidFrom.IsZero() && in.Now.Before(e.ValidFrom) {
		return false
	}
	if !e.ValidUntil.IsZero() {
		until := e.ValidUntil
		if in.Kind == event.KindExit || in.Kind == event.KindCheckout {
			until = until.Add(p.ExitGrace)
		}
		if !in.Now.Before(until) {
			return false
		}
	}
	if e.Daily.AllDay() {
		return true
	}
	loc := p.Location
	if loc == nil {
		loc = time.Local
	}
	t := in.Now.In(loc)
	return e.Daily.Contains(t.Hour()*60 + t.Minute())
}

func inZone(in Input) bool {
	if len(in.Entry.Zones) == 0 {
		return true
	}
	for _, z := range in.Entry.Zones {
		if (z == in.Zone && in.Zone != "") || (z == in.Gate && in.Gate != "") {
			return true
		}
	}
	return false
}

// Accepts reports whether a card proven at level may be admitted, now that an
// emergency is or is not declared.
func (p Policy) Accepts(level string, emergency bool) bool {
	return slices.Contains(p.Accept, level) || (emergency && slices.Contains(p.Fallback, level))
}
