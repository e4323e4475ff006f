// Package event defines the tap record that a gate journals, publishes and the hub
// ingests: the wire contract of DESIGN.md §5 and the stable reason codes.
package event

import (
	"encoding/json"
	"fmt"
	"time"
)

// Kind says what a tap meant at its gate.
type Kind string

// Kinds of event. Entry and exit are venue lanes, checkin and checkout shelter
// stations, enrol and identify kiosks; annul cancels an earlier entry whose person
// did not pass.
const (
	KindEntry    Kind = "entry"
	KindExit     Kind = "exit"
	KindCheckin  Kind = "checkin"
	KindCheckout Kind = "checkout"
	KindEnrol    Kind = "enrol"
	KindIdentify Kind = "identify"
	KindAnnul    Kind = "annul"
)

// Decision is what the gate did.
type Decision string

// Decisions.
const (
	Admit Decision = "admit"
	Deny  Decision = "deny"
)

// Event is one decided tap. It is written to the outbox before the gate acts and
// published as one JSON object per MQTT message.
type Event struct {
	// ID is a ULID, unique across all gates: the hub deduplicates by it.
	ID string `json:"id"`
	// Seq is gap-free per gate, assigned when the event is committed to the outbox.
	Seq uint64 `json:"seq"`
	// At is the gate clock when the card was presented.
	At time.Time `json:"at"`
	// Site and Gate name where the tap happened; Lane names the reader's lane.
	Site string `json:"site"`
	Gate string `json:"gate"`
	Lane string `json:"lane,omitempty"`
	Kind Kind   `json:"kind"`

	Decision Decision `json:"decision"`
	Reason   Reason   `json:"reason"`
	// Card is the pseudonymous card key (hex HMAC-SHA256), empty when no
	// certificate was read.
	Card string `json:"card,omitempty"`
	// CardNext is, during a card-key rotation, the same card's key under the
	// next secret, so that the hub can carry its records over to the next
	// secret; empty otherwise.
	CardNext string `json:"card_next,omitempty"`
	// ServiceID is the ticket or resident id from the whitelist, never a name.
	ServiceID string `json:"service_id,omitempty"`
	// Assurance is the level the card was proven at: cert, pin or pinless.
	Assurance string `json:"assurance"`
	// Offline is true when the gate had no broker connection at decision time.
	Offline     bool    `json:"offline"`
	ListVersion uint64  `json:"list_version"`
	LatencyMS   float64 `json:"latency_ms"`
	// Ref is, on an annul event, the id of the entry it cancels.
	Ref string `json:"ref,omitempty"`
	// Place is the named place of the gate within its site: a shelter of a
	// municipality's site. Presence is counted per place.
	Place string `json:"place,omitempty"`
	// Reconcile marks a shelter check-in admitted although the card was not
	// admissible (unlisted, expired, revoked, unproven...): Reason keeps the
	// real reason, and the office attaches a service id afterwards.
	Reconcile bool `json:"reconcile,omitempty"`
	// Slip is the slip number of a staff record made without a card.
	Slip string `json:"slip,omitempty"`
	// Staff is, on a staff record (Reason ReasonStaff), why staff made it:
	// no_card at a shelter; forgotten_card, paper_ticket or other at a venue.
	Staff string `json:"staff,omitempty"`
	// Note is staff's free note on a staff record. The hub keeps it: a gate
	// sends an event with a note to its hub-only {gate}/private topic, and
	// the hub passes the event on to the site's gates without it.
	Note string `json:"note,omitempty"`
	// Seat is the seat of the list entry the card was admitted on (or, on an
	// enrolment, bound to). Companions on one order share its ServiceID and
	// differ by seat, so a site counts each seat inside on its own.
	Seat string `json:"seat,omitempty"`
	// Grant is, on an admitted enrol event, the list entry a kiosk bound the
	// card to: the hub adds it to the site's whitelist under Card, ServiceID
	// and Seat, and the site's gates admit the card once the delta arrives.
	Grant *Grant `json:"grant,omitempty"`
}

// Grant is the list entry an enrolment binds a card to, besides its service
// id and seat (which the event carries).
type Grant struct {
	// Kind is ticket, resident or staff.
	Kind string `json:"kind"`
	// Group ties companions' seats bought on one order together.
	Group string `json:"group,omitempty"`
	// ValidFrom and ValidUntil bound the entry; zero leaves a side open.
	ValidFrom  time.Time `json:"valid_from,omitzero"`
	ValidUntil time.Time `json:"valid_until,omitzero"`
	// Zones lists the zones the entry admits to; empty admits to all.
	Zones []string `json:"zones,omitempty"`
}

// MarshalJSON writes At as RFC 3339 with nanoseconds, as the contract requires.
func (e Event) MarshalJSON() ([]byte, error) {
	type plain Event
	return json.Marshal(struct {
		plain
		At string `json:"at"`
	}{plain(e), e.At.Format(time.RFC3339Nano)})
}

// Decode parses one event as received from the wire and checks the fields every
// consumer relies on.
func Decode(b []byte) (Event, error) {
	var e Event
	if err := json.Unmarshal(b, &e); err != nil {
		return Event{}, fmt.Errorf("event: decode: %w", err)
	}
	if e.ID == "" || e.Seq == 0 || e.At.IsZero() {
		return Event{}, fmt.Errorf("event: decode: id, seq and at are required")
	}
	if e.Decision != Admit && e.Decision != Deny {
		return Event{}, fmt.Errorf("event: decode: decision %q is neither admit nor deny", e.Decision)
	}
	return e, nil
}
