// Package agent is the tap pipeline of a gate: read the card, verify it offline,
// decide, journal the decision durably, then act (buzzer, relay, LEDs, receipt).
//
// It depends only on small interfaces it owns; cmd/gateagent wires the real
// reader, HSM, bbolt stores, MQTT uplink and hardware into them.
package agent

import (
	"context"
	"crypto/x509"
	"errors"
	"log/slog"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/mynagate/mynagate/event"
	"github.com/mynagate/mynagate/hw/signal"
	"github.com/mynagate/mynagate/offline/cardkey"
	"github.com/mynagate/mynagate/offline/certcheck"
	"github.com/mynagate/mynagate/offline/policy"
	"github.com/mynagate/mynagate/offline/whitelist"
	"github.com/mynagate/mynagate/reader"
	"github.com/mynagate/mynagate/reader/jpki"
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

// Agent decides taps. Set every field before use; Link, Log and Now may be nil.
type Agent struct {
	Site, Gate string
	Lanes      []Lane
	// Policy says which assurance levels this gate accepts and how entries'
	// time windows are read.
	Policy  policy.Policy
	Roots   Verifier
	Keyer   cardkey.Keyer
	List    Whitelist
	Journal Journal
	Signal  Signaller
	Link    Link
	Log     *slog.Logger
	Now     func() time.Time
	// OnDecision, if set, is called with every journaled event (the demo prints
	// them; tests collect them). It must not block.
	OnDecision func(event.Event)
}

// Tap is the reader.Handler of a running gate: it decides the tap on the lane
// its reader belongs to.
func (a *Agent) Tap(ctx context.Context, tap reader.Tap) {
	lane := a.lane(tap.Reader)
	a.Decide(ctx, lane, tap.Card, tap.Caps, tap.At)
}

func (a *Agent) lane(readerName string) Lane {
	for _, l := range a.Lanes {
		if reader.Match(l.Reader, readerName) {
			return l
		}
	}
	return Lane{Name: readerName, Reader: readerName, Kind: event.KindEntry}
}

// Decide runs the whole pipeline for one presented card and returns the
// journaled event. The gate acts only after the journal has the event; if it
// cannot be journaled the gate does not open.
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
		Assurance: "cert",
	}
	if a.Link != nil {
		e.Offline = !a.Link.Online()
	}
	e.ListVersion = a.List.Version()
	e.Reason, e.Card, e.ServiceID = a.verify(card, lane, at)
	e.Decision = event.Deny
	if e.Reason == event.ReasonAdmit {
		e.Decision = event.Admit
	}
	e.LatencyMS = float64(a.now().Sub(at).Microseconds()) / 1000
	if err := a.Journal.Append(ctx, &e); err != nil {
		log.Error("tap not recorded; gate stays closed", "lane", lane.Name, "reason", e.Reason, "err", err,
			"hint", "check free disk space and the outbox file")
		a.signal(ctx, signal.Error)
		e.Decision, e.Reason = event.Deny, event.ReasonInternalError
		return e
	}
	log.Info("tap", "lane", lane.Name, "seq", e.Seq, "id", e.ID, "decision", e.Decision, "reason", e.Reason,
		"assurance", e.Assurance, "apdus", card.APDUs(), "latency_ms", e.LatencyMS, "offline", e.Offline)
	if e.Decision == event.Admit {
		a.signal(ctx, signal.Admit)
	} else {
		a.signal(ctx, signal.Deny)
	}
	if a.OnDecision != nil {
		a.OnDecision(e)
	}
	return e
}

// verify reads and checks the card and looks it up. It returns the reason and,
// when the certificate was read, the card key and service id.
func (a *Agent) verify(card *jpki.Card, lane Lane, at time.Time) (event.Reason, string, string) {
	log := a.log()
	if err := card.SelectAP(); err != nil {
		return cardReason(err, log), "", ""
	}
	tok, err := card.ReadToken()
	if err != nil {
		return cardReason(err, log), "", ""
	}
	switch tok.Kind {
	case jpki.TokenMyNumberCard:
	case jpki.TokenJukiCard:
		return event.ReasonJukiCard, "", ""
	case jpki.TokenAndroid, jpki.TokenIPhone:
		return event.ReasonPhoneToken, "", ""
	default:
		log.Warn("unknown JPKI token label", "label", tok.Label)
		return event.ReasonNotMyNumberCard, "", ""
	}
	der, err := card.ReadCertificate(jpki.EFAuthCert)
	if err != nil {
		return cardReason(err, log), "", ""
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		log.Warn("user-auth certificate does not parse", "err", err)
		return event.ReasonCertInvalid, "", ""
	}
	key, err := cardkey.ForCert(a.Keyer, cert)
	if err != nil {
		log.Warn("no card key for certificate", "err", err)
		return event.ReasonCertInvalid, "", ""
	}
	ck := key.String()
	if err := a.Roots.Check(cert, at); err != nil {
		var ce *certcheck.Error
		if errors.As(err, &ce) {
			return ce.Reason, ck, ""
		}
		log.Error("certificate check failed", "err", err)
		return event.ReasonInternalError, ck, ""
	}
	in := policy.Input{Now: at, Gate: a.Gate, Zone: lane.Zone, Kind: lane.Kind, Assurance: policy.AssuranceCert}
	if in.Revoked, err = a.List.Revoked(key); err != nil {
		log.Error("revocation lookup failed", "err", err)
		return event.ReasonInternalError, ck, ""
	}
	if in.Entry, in.Listed, err = a.List.Lookup(key); err != nil {
		log.Error("whitelist lookup failed", "err", err)
		return event.ReasonInternalError, ck, ""
	}
	_, reason := policy.Decide(a.Policy, in)
	return reason, ck, in.Entry.ServiceID
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
