package agent

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/mynagate/mynagate/event"
	"github.com/mynagate/mynagate/reader/jpki"
)

// PINPad asks the holder at a lane for the card's 4-digit auth PIN: a kiosk's
// screen, or a PIN file for `gateagent card verify`.
type PINPad interface {
	// PIN asks for the PIN at lane, telling how many tries are left. It
	// returns the PIN, which the agent zeroes after one use, or an error:
	// ErrNoPIN when the holder did not enter it (timed out, cancelled), ctx's
	// error when the card was taken away while it waited.
	PIN(ctx context.Context, lane string, triesLeft int) ([]byte, error)
}

// ErrNoPIN means the holder did not enter a PIN: the tap is denied
// pin_not_entered and nothing is spent on the card.
var ErrNoPIN = errors.New("agent: no PIN entered")

// Enrolments says, at an enrol lane, what the next card presented there is to
// be bound to: the kiosk's screen sets it from the ticket seller's or the
// town's own system before the holder taps.
type Enrolments interface {
	Pending(lane string) (Enrolment, bool)
}

// Enrolment is what a kiosk binds the next card at its lane to.
type Enrolment struct {
	// ServiceID is the ticket (order) number or resident id.
	ServiceID string
	// Seat is the seat on the order, for companions sharing one ServiceID.
	Seat string
	// Grant is the rest of the list entry.
	Grant event.Grant
}

// removalPoll is how often a card is asked, while its holder types the PIN,
// whether it is still there.
const removalPoll = 300 * time.Millisecond

// provePIN proves the card present at the pin level through the lane's PIN
// pad: it reads the retry counter (a blocked PIN is refused without asking),
// asks for the PIN while watching that the card stays, and has the card sign
// a fresh nonce with the PIN. The PIN is zeroed after its one use.
func (a *Agent) provePIN(ctx context.Context, card *jpki.Card, cert *x509.Certificate, lane string) (event.Reason, error) {
	tries, err := card.PINTriesLeft()
	switch {
	case errors.Is(err, jpki.ErrPINBlocked), err == nil && tries == 0:
		return event.ReasonPINBlocked, jpki.ErrPINBlocked
	case err != nil:
		return cardReason(err, a.log()), err
	}
	wctx, cancel := context.WithCancel(ctx)
	var (
		wg   sync.WaitGroup
		gone bool
	)
	wg.Go(func() { gone = watchRemoval(wctx, card, cancel) })
	pin, err := a.PIN.PIN(wctx, lane, tries)
	cancel()
	wg.Wait()
	defer clear(pin)
	switch {
	case gone:
		return event.ReasonCardRemoved, jpki.ErrRemoved
	case errors.Is(err, ErrNoPIN):
		return event.ReasonPINNotEntered, err
	case ctx.Err() != nil:
		return event.ReasonCardRemoved, ctx.Err()
	case err != nil:
		return event.ReasonInternalError, fmt.Errorf("agent: read PIN: %w", err)
	}
	if err := card.ProvePIN(cert.PublicKey, pin); err != nil {
		switch {
		case errors.Is(err, jpki.ErrPINBlocked):
			return event.ReasonPINBlocked, err
		case errors.Is(err, jpki.ErrWrongPIN):
			return event.ReasonPINWrong, err
		case errors.Is(err, jpki.ErrSignatureInvalid):
			return event.ReasonCardSigInvalid, err
		}
		return cardReason(err, a.log()), err
	}
	return event.ReasonAdmit, nil
}

// watchRemoval asks the card for its retry counter (which spends no try)
// until ctx is done, and cancels the PIN prompt once the card is gone. It
// reports whether it was.
func watchRemoval(ctx context.Context, card *jpki.Card, cancel func()) bool {
	t := time.NewTicker(removalPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
		if _, err := card.PINTriesLeft(); errors.Is(err, jpki.ErrRemoved) {
			cancel()
			return true
		}
	}
}

// enrolPending reports whether the kiosk has set what the next card at the
// enrol lane is bound to.
func (a *Agent) enrolPending(lane Lane) bool {
	if a.Enrolments == nil {
		return false
	}
	_, ok := a.Enrolments.Pending(lane.Name)
	return ok
}

// enrolment decides an enrol lane's tap on a card proven at an accepted level:
// it is bound to what the kiosk set for the lane, unless the card is revoked
// or nothing is pending (any more).
func (a *Agent) enrolment(lane Lane, revoked bool) outcome {
	var out outcome
	en, ok := Enrolment{}, false
	if a.Enrolments != nil {
		en, ok = a.Enrolments.Pending(lane.Name)
	}
	switch {
	case !ok:
		out.reason = event.ReasonNotBound
	case revoked:
		out.reason = event.ReasonRevoked
	default:
		out.reason = event.ReasonAdmit
		out.entry.ServiceID, out.entry.Seat, out.entry.Kind = en.ServiceID, en.Seat, en.Grant.Kind
		g := en.Grant
		out.grant = &g
	}
	return out
}
