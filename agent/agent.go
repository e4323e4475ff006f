// Package agent is the tap pipeline of a gate: read the card, verify it offline,
// decide, journal the decision durably, then act (buzzer, relay, LEDs, receipt).
//
// It depends only on small interfaces it owns; cmd/gateagent wires the real
// reader, HSM, bbolt stores, MQTT uplink and hardware into them.
package agent

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/mynagate/mynagate/event"
	"github.com/mynagate/mynagate/hw/escpos"
	"github.com/mynagate/mynagate/hw/receipt"
	"github.com/mynagate/mynagate/hw/signal"
	"github.com/mynagate/mynagate/offline/cardkey"
	"github.com/mynagate/mynagate/offline/certcheck"
	"github.com/mynagate/mynagate/offline/pinless"
	"github.com/mynagate/mynagate/offline/policy"
	"github.com/mynagate/mynagate/offline/whitelist"
	"github.com/mynagate/mynagate/reader"
	"github.com/mynagate/mynagate/reader/jpki"
	"github.com/mynagate/mynagate/sync/peers"
)

// Journal durably records an event before the gate acts on it. Append assigns
// e.Seq and returns only once the event is on disk.
type Journal interface {
	Append(ctx context.Context, e *event.Event) error
}

// Verifier checks a card certificate against the pinned roots at a time.
type Verifier interface {
	Check(cert *x509.Certificate, at time.Time) error
}

// Whitelist answers what the list says about a card, and which list version is
// in force.
type Whitelist interface {
	Lookup(k cardkey.Key) (whitelist.Entry, bool, error)
	Revoked(k cardkey.Key) (bool, error)
	Version() uint64
}

// Signaller gives the person at the reader feedback (buzzer, LEDs).
type Signaller interface {
	Signal(ctx context.Context, p signal.Pattern) error
}

// AssuranceNone is the assurance of a tap denied before the card was proven
// present at any level (not a My Number card, a bad certificate, a pulled card).
const AssuranceNone = "none"

// Presence is the site-wide inside set (sync/peers): whether a holder is
// inside, and the gate's own decisions fed back into it.
type Presence interface {
	Inside(holder string) (since time.Time, inside bool)
	Lookup(holder string) (peers.Presence, bool)
	Observe(e *event.Event) bool
}

// Prover proves a card present without its PIN.
type Prover interface {
	Prove(t pinless.Transport, cardCert *x509.Certificate) (pinless.Proof, error)
}

// Turnstile opens the lane for an admitted entry. With a passage sensor it
// later reports whether the person passed; the wiring calls Annul for those who
// did not.
type Turnstile interface {
	Open(ctx context.Context, entryID string) error
}

// ReceiptPrinter prints a receipt. The agent calls it from its own goroutine
// with a deadline, so a jammed printer never delays the gate.
type ReceiptPrinter interface {
	Print(ctx context.Context, r escpos.Receipt) error
}

// Receipts says what goes on paper. A venue prints a seat receipt for entries
// with a seat; a shelter prints a check-in slip for every check-in.
type Receipts struct {
	// Event is the venue event's name on seat receipts.
	Event string
	// GateLabel is the gate's name as printed ("東ゲート3"); default the gate id.
	GateLabel string
	// Shelter is the shelter's name on check-in slips; empty prints no slips.
	Shelter string
	// Timeout bounds one print; default 5 s.
	Timeout time.Duration
}

// Link says whether the gate is connected to its broker right now.
type Link interface {
	Online() bool
}

// Lane binds readers to what a tap on them means.
type Lane struct {
	// Name is reported in events ("north-1").
	Name string
	// Reader is the PC/SC reader name or a path.Match pattern.
	Reader string
	// Kind is what a tap here records: entry, exit, checkin, checkout, identify.
	Kind event.Kind
	// Zone is the zone this lane admits to; whitelist entries with zones must
	// list it.
	Zone string
}

// Agent decides taps. Set the fields before use; Signal, Turnstile, Printer,
// Link, Log, Now and OnDecision may be nil.
type Agent struct {
	Site, Gate string
	// Place is the named place of this gate within its site (a shelter of a
	// municipality); default Gate.
	Place string
	// Shelter turns nobody away at check-in lanes and lets staff record
	// people without a card (see shelter.go).
	Shelter Shelter
	Lanes   []Lane
	// Policy says which assurance levels this gate accepts and how entries'
	// time windows are read; SetPolicy replaces it at runtime.
	Policy  policy.Policy
	Roots   Verifier
	Keyer   cardkey.Keyer
	List    Whitelist
	Journal Journal
	Signal  Signaller
	// NextKeyer is the next card-key secret during a rotation (nil
	// otherwise): see rotation.go.
	NextKeyer cardkey.Keyer
	// PINLess proves cards present without a PIN with the institution key
	// (docs/pinless.md); nil where the gate has no HSM-held institution key.
	PINLess Prover
	// PIN asks the holder for the PIN for the pin level (a kiosk's screen,
	// `card verify --pin-file`); nil where nobody can type one.
	PIN PINPad
	// Enrolments says what a card at an enrol lane is bound to; nil where
	// no kiosk screen sets it (every enrol tap is then denied not_bound).
	Enrolments Enrolments
	// Emergency is set while an operator has declared an emergency: the
	// policy's fallback levels are accepted then.
	Emergency atomic.Bool
	// Peers is the site's view of who is inside, for anti-passback; nil on a
	// gate without one.
	Peers Presence
	// FailOpen admits a good card even when its tap cannot be journaled (a
	// shelter never turns an evacuee away); the record is held in memory.
	FailOpen bool
	// Turnstile and Printer may be nil (a kiosk has neither).
	Turnstile Turnstile
	Printer   ReceiptPrinter
	Receipts  Receipts
	Link      Link
	Log       *slog.Logger
	Now       func() time.Time
	// OnDecision, if set, is called with every journaled event (the demo prints
	// them; tests collect them). It must not block.
	OnDecision func(event.Event)

	// awaiting holds admitted entries whose passage the turnstile is watching,
	// so that an annul can name the card and service it cancels.
	mu       sync.Mutex
	awaiting map[string]event.Event
	// unrecorded holds decided taps the journal refused, oldest first.
	unrecorded []event.Event
	// override is the policy set at runtime by SetPolicy.
	override atomic.Pointer[policy.Policy]
}

// SetPolicy replaces the policy while taps are being decided (the hub's signed
// config list changes it at runtime); Policy stays the one set at start.
func (a *Agent) SetPolicy(p policy.Policy) { a.override.Store(&p) }

// policy is the policy in force: the latest SetPolicy, else Policy.
func (a *Agent) policy() policy.Policy {
	if p := a.override.Load(); p != nil {
		return *p
	}
	return a.Policy
}

// Tap is the reader.Handler of a running gate: it decides the tap on the lane
// its reader belongs to.
func (a *Agent) Tap(ctx context.Context, tap reader.Tap) {
	lane := a.LaneOf(tap.Reader)
	a.Decide(ctx, lane, tap.Card, tap.Caps, tap.At)
}

// LaneOf returns the lane a reader belongs to; a reader no lane names is an
// entry lane of its own name.
func (a *Agent) LaneOf(readerName string) Lane {
	for _, l := range a.Lanes {
		if reader.Match(l.Reader, readerName) {
			return l
		}
	}
	return Lane{Name: readerName, Reader: readerName, Kind: event.KindEntry}
}

// Decide runs the whole pipeline for one presented card and returns the
// journaled event. The gate acts only after the journal has the event; if it
// cannot be journaled, the gate stays closed unless it is FailOpen (see
// unrecordable).
func (a *Agent) Decide(ctx context.Context, lane Lane, t jpki.Transport, caps *jpki.Caps, at time.Time) event.Event {
	log := a.log()
	card := jpki.New(t, caps)
	e := event.Event{
		ID:        ulid.MustNew(ulid.Timestamp(at), ulid.DefaultEntropy()).String(),
		At:        at,
		Site:      a.Site,
		Gate:      a.Gate,
		Lane:      lane.Name,
		Kind:      lane.Kind,
		Place:     a.place(),
		Assurance: AssuranceNone,
	}
	if a.Link != nil {
		e.Offline = !a.Link.Online()
	}
	e.ListVersion = a.List.Version()
	out := a.verify(ctx, card, lane, at)
	e.Reason, e.Card, e.CardNext, e.ServiceID, e.Seat = out.reason, out.card, out.cardNext, out.entry.ServiceID, out.entry.Seat
	if e.Reason == event.ReasonAdmit {
		e.Grant = out.grant
	}
	if out.assurance != "" {
		e.Assurance = out.assurance
	}
	e.Decision = event.Deny
	if e.Reason == event.ReasonAdmit {
		e.Decision = event.Admit
	}
	if a.Shelter.On && (lane.Kind == event.KindCheckin || lane.Kind == event.KindCheckout) {
		a.shelterTap(&e)
	}
	e.LatencyMS = float64(a.now().Sub(at).Microseconds()) / 1000
	if err := a.Journal.Append(ctx, &e); err != nil {
		if !a.unrecordable(ctx, &e, err) {
			return e
		}
	} else if a.Peers != nil {
		a.Peers.Observe(&e)
	}
	log.Info("tap", "lane", lane.Name, "seq", e.Seq, "id", e.ID, "decision", e.Decision, "reason", e.Reason,
		"assurance", e.Assurance, "apdus", card.APDUs(), "latency_ms", e.LatencyMS, "offline", e.Offline)
	a.act(ctx, e, out.entry)
	if a.OnDecision != nil {
		a.OnDecision(e)
	}
	return e
}

// unrecordable handles a decision the journal could not take (disk full or
// failing). The event is kept in memory and retried by RetryUnrecorded, so it
// is not lost while the process lives. A fail-open gate (a shelter, which never
// turns an evacuee away) goes on with an admit and sounds the attention
// pattern; any other gate stays closed. It reports whether to act on e.
func (a *Agent) unrecordable(ctx context.Context, e *event.Event, err error) bool {
	failOpen := a.FailOpen && e.Decision == event.Admit
	if failOpen {
		a.log().Error("tap NOT RECORDED on disk; admitted anyway (fail-open), kept in memory until the journal takes it",
			"lane", e.Lane, "id", e.ID, "err", err, "hint", "free disk space now: a power cut would lose the taps held in memory")
		a.signal(ctx, signal.Attention)
	} else {
		a.log().Error("tap not recorded; gate stays closed; kept in memory until the journal takes it", "lane", e.Lane, "id", e.ID,
			"reason", e.Reason, "err", err, "hint", "check free disk space and the outbox file")
		a.signal(ctx, signal.Error)
		e.Decision, e.Reason = event.Deny, event.ReasonInternalError
	}
	a.keep(*e)
	return failOpen
}

// maxUnrecorded bounds the taps held in memory while the journal fails.
const maxUnrecorded = 100_000

func (a *Agent) keep(e event.Event) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.unrecorded) >= maxUnrecorded {
		a.log().Error("too many unrecorded taps held in memory; dropping the oldest", "held", len(a.unrecorded))
		a.unrecorded = a.unrecorded[1:]
	}
	a.unrecorded = append(a.unrecorded, e)
}

// Unrecorded returns how many decided taps wait in memory for the journal.
func (a *Agent) Unrecorded() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.unrecorded)
}

// RetryUnrecorded hands taps held in memory to the journal, oldest first,
// every interval until ctx is done.
func (a *Agent) RetryUnrecorded(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for {
			a.mu.Lock()
			if len(a.unrecorded) == 0 {
				a.mu.Unlock()
				break
			}
			e := a.unrecorded[0]
			a.mu.Unlock()
			if err := a.Journal.Append(ctx, &e); err != nil {
				break
			}
			a.mu.Lock()
			a.unrecorded = a.unrecorded[1:]
			left := len(a.unrecorded)
			a.mu.Unlock()
			if a.Peers != nil {
				a.Peers.Observe(&e)
			}
			a.log().Info("held tap recorded", "id", e.ID, "seq", e.Seq, "still_held", left)
		}
	}
}

// act drives the gate for a journaled decision: the signal, and for an admit
// the turnstile and the receipt, side by side.
func (a *Agent) act(ctx context.Context, e event.Event, entry whitelist.Entry) {
	if e.Decision != event.Admit {
		a.signal(ctx, signal.Deny)
		return
	}
	var wg sync.WaitGroup
	wg.Go(func() { a.signal(ctx, signal.Admit) })
	if a.Turnstile != nil && e.Kind != event.KindIdentify && e.Kind != event.KindEnrol {
		a.await(e)
		wg.Go(func() {
			if err := a.Turnstile.Open(ctx, e.ID); err != nil {
				a.log().Error("turnstile did not open", "id", e.ID, "err", err, "hint", "check the relay wiring; the entry stays recorded")
				a.forget(e.ID)
			}
		})
	}
	if r := a.receipt(e, entry); r != nil {
		go a.print(r, e.ID)
	}
	wg.Wait()
}

// receipt returns what to print for an admitted event, or nil.
func (a *Agent) receipt(e event.Event, entry whitelist.Entry) escpos.Receipt {
	if a.Printer == nil {
		return nil
	}
	label := a.Receipts.GateLabel
	if label == "" {
		label = a.Gate
	}
	switch {
	case e.Kind == event.KindEntry && entry.Seat != "":
		return receipt.Seat{Event: a.Receipts.Event, At: e.At, Gate: label, Seat: entry.Seat, TicketRef: entry.ServiceID}
	case e.Kind == event.KindCheckin && a.Receipts.Shelter != "" && e.Reason != event.ReasonStaff:
		return receipt.Shelter{Shelter: a.Receipts.Shelter, At: e.At, CheckinNo: fmt.Sprintf("%04d", e.Seq), Reconcile: e.Reconcile}
	}
	return nil
}

func (a *Agent) print(r escpos.Receipt, id string) {
	timeout := a.Receipts.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := a.Printer.Print(ctx, r); err != nil {
		a.log().Warn("receipt not printed", "id", id, "err", err, "hint", "check paper and cover; the entry itself is recorded")
	}
}

// Annul records that the person admitted by entry entryID did not pass within
// the turnstile's timeout, so they may tap again and the inside count stays
// right. The annul event references the entry and is journaled like any other.
func (a *Agent) Annul(ctx context.Context, entryID string, at time.Time) (event.Event, error) {
	entry, ok := a.forget(entryID)
	if !ok {
		return event.Event{}, fmt.Errorf("agent: annul %s: no admitted entry awaits passage under that id", entryID)
	}
	e := event.Event{
		ID: ulid.MustNew(ulid.Timestamp(at), ulid.DefaultEntropy()).String(), At: at,
		Site: a.Site, Gate: a.Gate, Lane: entry.Lane, Kind: event.KindAnnul,
		Decision: event.Deny, Reason: event.ReasonAnnulled,
		Card: entry.Card, ServiceID: entry.ServiceID, Assurance: entry.Assurance,
		ListVersion: entry.ListVersion, Ref: entryID,
	}
	if a.Link != nil {
		e.Offline = !a.Link.Online()
	}
	if err := a.Journal.Append(ctx, &e); err != nil {
		a.keep(e)
		return e, fmt.Errorf("agent: annul %s: journal: %w (held in memory)", entryID, err)
	}
	if a.Peers != nil {
		a.Peers.Observe(&e)
	}
	a.log().Info("entry annulled: nobody passed", "lane", e.Lane, "seq", e.Seq, "id", e.ID, "ref", entryID)
	if a.OnDecision != nil {
		a.OnDecision(e)
	}
	return e, nil
}

// awaitFor bounds how long an admitted entry can still be annulled: far
// longer than any passage timeout, short enough that a gate without a passage
// sensor (which never reports) does not accumulate entries.
const awaitFor = 10 * time.Minute

// await remembers an admitted entry until its passage is reported, dropping
// entries too old to be annulled.
func (a *Agent) await(e event.Event) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.awaiting == nil {
		a.awaiting = map[string]event.Event{}
	}
	if len(a.awaiting) >= 256 {
		for id, old := range a.awaiting {
			if e.At.Sub(old.At) > awaitFor {
				delete(a.awaiting, id)
			}
		}
	}
	a.awaiting[e.ID] = e
}

// Passed forgets an entry whose person went through.
func (a *Agent) Passed(entryID string) { a.forget(entryID) }

func (a *Agent) forget(id string) (event.Event, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	e, ok := a.awaiting[id]
	delete(a.awaiting, id)
	return e, ok
}

// crlStatus is a whitelist that also keeps the CRLs applied at the gate.
type crlStatus interface {
	CRLs() ([]whitelist.AppliedCRL, error)
}

// crlNextUpdate returns when the CRL applied for cert's CA was due to be
// replaced, zero when none is (or the list keeps none).
func (a *Agent) crlNextUpdate(cert *x509.Certificate) (time.Time, error) {
	cs, ok := a.List.(crlStatus)
	if !ok || cert == nil || len(cert.AuthorityKeyId) == 0 {
		return time.Time{}, nil
	}
	crls, err := cs.CRLs()
	if err != nil {
		return time.Time{}, err
	}
	for _, c := range crls {
		if bytes.Equal(c.IssuerKeyID, cert.AuthorityKeyId) {
			return c.NextUpdate, nil
		}
	}
	return time.Time{}, nil
}

// outcome is what verify found out about a card.
type outcome struct {
	reason    event.Reason
	card      string
	cardNext  string
	assurance string
	entry     whitelist.Entry
	// grant is, at an enrol lane, the entry the card is bound to.
	grant *event.Grant
}

// verify checks the card (Check) and, if it is good, looks it up and applies
// the policy.
func (a *Agent) verify(ctx context.Context, card *jpki.Card, lane Lane, at time.Time) outcome {
	if lane.Kind == event.KindEnrol && !a.enrolPending(lane) {
		// Nothing to bind to: say so before the holder types a PIN.
		return outcome{reason: event.ReasonNotBound}
	}
	c := a.Check(ctx, card, lane.Name, at)
	out := outcome{reason: c.Reason, card: c.CardKey, cardNext: c.CardKeyNext, assurance: c.Assurance}
	if c.Reason != event.ReasonAdmit {
		return out
	}
	in := policy.Input{Now: at, Gate: a.Gate, Zone: lane.Zone, Kind: lane.Kind, Assurance: c.Assurance, Emergency: a.Emergency.Load()}
	var err error
	if in.Revoked, err = a.revoked(c); err != nil {
		a.log().Error("revocation lookup failed", "err", err)
		out.reason = event.ReasonInternalError
		return out
	}
	if lane.Kind == event.KindEnrol {
		en := a.enrolment(lane, in.Revoked)
		en.card, en.cardNext, en.assurance = out.card, out.cardNext, out.assurance
		return en
	}
	pol := a.policy()
	if pol.CRLMaxStale > 0 { // a shelter never asks
		if in.CRLNextUpdate, err = a.crlNextUpdate(c.Cert); err != nil {
			a.log().Error("CRL lookup failed", "err", err)
			out.reason = event.ReasonInternalError
			return out
		}
	}
	if in.Entry, in.Listed, err = a.lookup(c); err != nil {
		a.log().Error("whitelist lookup failed", "err", err)
		out.reason = event.ReasonInternalError
		return out
	}
	if a.Peers != nil && in.Listed {
		_, in.Inside = a.Peers.Inside(peers.HolderKey(&event.Event{ServiceID: in.Entry.ServiceID, Seat: in.Entry.Seat, Card: c.CardKey}))
	}
	_, out.reason = policy.Decide(pol, in)
	out.entry = in.Entry
	return out
}

// CheckResult is what Check found out about a card, before any list.
type CheckResult struct {
	// Reason is ReasonAdmit when the card is a genuine My Number card with a
	// valid certificate, proven present at Assurance; otherwise why not.
	Reason event.Reason
	// Assurance is the level the card was proven at (cert, pin, pinless).
	Assurance string
	// Cert is the user-authentication certificate, once read.
	Cert *x509.Certificate
	// CardKey is the card key (hex), once computed; empty without a Keyer.
	CardKey string
	// key is CardKey unencoded, for the list lookups.
	key cardkey.Key
	// CardKeyNext is the card key under the next secret during a card-key
	// rotation (NextKeyer set), else empty.
	CardKeyNext string
	nextKey     cardkey.Key
	// Err is the error behind a deny, for the operator's log.
	Err error
}

// Check reads the card's user-authentication certificate, checks it against the
// pinned roots at the time at, and proves the card present at the best level the
// gate can do and its policy accepts (asking for the PIN at lane, where that is
// the level). It is the card half of a decision, also used alone by
// `gateagent card verify`.
func (a *Agent) Check(ctx context.Context, card *jpki.Card, lane string, at time.Time) CheckResult {
	log := a.log()
	fail := func(r event.Reason, err error) CheckResult { return CheckResult{Reason: r, Err: err} }
	if err := card.SelectAP(); err != nil {
		return fail(cardReason(err, log), err)
	}
	tok, err := card.ReadToken()
	if err != nil {
		return fail(cardReason(err, log), err)
	}
	switch tok.Kind {
	case jpki.TokenMyNumberCard:
	case jpki.TokenJukiCard:
		return fail(event.ReasonJukiCard, nil)
	case jpki.TokenAndroid, jpki.TokenIPhone:
		return fail(event.ReasonPhoneToken, nil)
	default:
		log.Warn("unknown JPKI token label", "label", tok.Label)
		return fail(event.ReasonNotMyNumberCard, nil)
	}
	der, err := card.ReadCertificate(jpki.EFAuthCert)
	if err != nil {
		return fail(cardReason(err, log), err)
	}
	res := CheckResult{Reason: event.ReasonAdmit}
	if res.Cert, err = x509.ParseCertificate(der); err != nil {
		log.Warn("user-auth certificate does not parse", "err", err)
		return fail(event.ReasonCertInvalid, err)
	}
	if a.Keyer != nil {
		key, err := cardkey.ForCert(a.Keyer, res.Cert)
		if err != nil {
			log.Warn("no card key for certificate", "err", err)
			res.Reason, res.Err = event.ReasonCertInvalid, err
			return res
		}
		res.key, res.CardKey = key, key.String()
		if err := a.nextKey(&res); err != nil {
			log.Error("no card key under the next secret", "err", err, "hint", "check card_key.next_hsm_label and the token (gateagent doctor)")
			res.Reason, res.Err = event.ReasonInternalError, err
			return res
		}
	}
	if err := a.Roots.Check(res.Cert, at); err != nil {
		res.Reason, res.Err = event.ReasonInternalError, err
		var ce *certcheck.Error
		if errors.As(err, &ce) {
			res.Reason = ce.Reason
		} else {
			log.Error("certificate check failed", "err", err)
		}
		return res
	}
	res.Assurance, res.Reason, res.Err = a.prove(ctx, card, res.Cert, lane)
	return res
}

// prove proves the card present at the best level this gate can do and its
// policy accepts: pinless, then pin, then cert. A card without PIN-less support
// falls back to the next level only if the policy accepts it now.
func (a *Agent) prove(ctx context.Context, card *jpki.Card, cert *x509.Certificate, lane string) (string, event.Reason, error) {
	emergency, pol := a.Emergency.Load(), a.policy()
	var levels []string
	if a.PINLess != nil && pol.Accepts(policy.AssurancePINLess, emergency) {
		levels = append(levels, policy.AssurancePINLess)
	}
	if a.PIN != nil && pol.Accepts(policy.AssurancePIN, emergency) {
		levels = append(levels, policy.AssurancePIN)
	}
	if pol.Accepts(policy.AssuranceCert, emergency) {
		levels = append(levels, policy.AssuranceCert)
	}
	if len(levels) == 0 {
		return policy.AssuranceCert, event.ReasonAssuranceNotAccepted, errors.New("agent: no assurance level this gate can do is accepted by its policy")
	}
	for i, level := range levels {
		var err error
		switch level {
		case policy.AssurancePINLess:
			if _, err = a.PINLess.Prove(card, cert); err != nil {
				switch {
				case errors.Is(err, pinless.ErrUnsupported) && i+1 < len(levels):
					a.log().Info("card has no PIN-less support; falling back", "to", levels[i+1])
					continue
				case errors.Is(err, pinless.ErrUnsupported):
					return level, event.ReasonPINLessUnsupported, err
				case errors.Is(err, pinless.ErrCardRemoved), errors.Is(err, jpki.ErrRemoved):
					return level, event.ReasonCardRemoved, err
				case errors.Is(err, pinless.ErrCardSignature):
					return level, event.ReasonCardSigInvalid, err
				case errors.Is(err, pinless.ErrTooSlow):
					a.log().Warn("PIN-less exchange slower than pinless.max_exchange_ms; a relay or a slow reader", "err", err)
					return level, event.ReasonPINLessTooSlow, err
				case errors.Is(err, pinless.ErrTerminalAuth):
					a.log().Error("card rejected this terminal", "err", err)
					return level, event.ReasonTerminalAuthFailed, err
				}
				a.log().Error("PIN-less authentication failed", "err", err)
				return level, event.ReasonInternalError, err
			}
		case policy.AssurancePIN:
			if r, err := a.provePIN(ctx, card, cert, lane); r != event.ReasonAdmit {
				return level, r, err
			}
		}
		return level, event.ReasonAdmit, nil
	}
	return policy.AssuranceCert, event.ReasonAssuranceNotAccepted, nil
}

// cardReason maps a card exchange error to the reason a person is given.
func cardReason(err error, log *slog.Logger) event.Reason {
	switch {
	case errors.Is(err, reader.ErrReaderGone):
		log.Warn("reader vanished during the tap", "err", err, "hint", "check the USB cable")
		return event.ReasonCardRemoved
	case errors.Is(err, jpki.ErrRemoved):
		return event.ReasonCardRemoved
	case errors.Is(err, jpki.ErrNotJPKI):
		return event.ReasonNotMyNumberCard
	}
	log.Warn("card exchange failed", "err", err)
	return event.ReasonCardError
}

func (a *Agent) signal(ctx context.Context, p signal.Pattern) {
	if a.Signal == nil {
		return
	}
	if err := a.Signal.Signal(ctx, p); err != nil {
		a.log().Warn("signal failed", "pattern", p, "err", err)
	}
}

func (a *Agent) log() *slog.Logger {
	if a.Log != nil {
		return a.Log
	}
	return slog.Default()
}

func (a *Agent) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}
