package pinless

import (
	"errors"
	"fmt"
)

// Errors a caller maps to reason codes. Every error Prove returns wraps one.
var (
	// ErrUnsupported: the card does not implement the PIN-less protocol
	// (every card issued so far; fall back to the PIN level).
	ErrUnsupported = errors.New("pinless: card does not support PIN-less authentication")
	// ErrTerminalAuth: the card refused the institution certificate or the
	// terminal's signature.
	ErrTerminalAuth = errors.New("pinless: card rejected the terminal")
	// ErrCardSignature: the card's signature does not verify with the public
	// key of its user-authentication certificate (a copied certificate, a
	// replayed answer, or another institution's session).
	ErrCardSignature = errors.New("pinless: card signature invalid")
	// ErrCardRemoved: the card stopped answering mid-protocol.
	ErrCardRemoved = errors.New("pinless: card removed")
	// ErrTooSlow: the card's answer was valid but the live exchange took
	// longer than the configured bound (MaxExchange): possibly relayed.
	ErrTooSlow = errors.New("pinless: exchange slower than the bound")
)

// CardError is a status word the card answered at one step.
type CardError struct {
	// Step names the command ("PSO VERIFY CERTIFICATE").
	Step string
	// SW is the status word.
	SW uint16
	// Hint tells the operator what to do.
	Hint string
	kind error
}

// Error names the step, the status word and the operator hint.
func (e *CardError) Error() string {
	return fmt.Sprintf("%v: %s answered %04X: %s", e.kind, e.Step, e.SW, e.Hint)
}

// Unwrap returns the sentinel (ErrUnsupported, ErrTerminalAuth, ...).
func (e *CardError) Unwrap() error { return e.kind }

// Status words of the protocol (docs/pinless.md §5).
const (
	swOK               = 0x9000
	swVerifyFailed     = 0x6300
	swWrongLength      = 0x6700
	swSecurity         = 0x6982
	swCertNotUsable    = 0x6984
	swConditions       = 0x6985
	swWrongData        = 0x6A80
	swFuncNotSupported = 0x6A81
	swNotFound         = 0x6A82
	swWrongP1P2        = 0x6A86
	swRefNotFound      = 0x6A88
	swUnknownINS       = 0x6D00
	swUnknownCLA       = 0x6E00
)

// classify turns a failing status word at step into a CardError.
func classify(step string, sw uint16) error {
	e := &CardError{Step: step, SW: sw, kind: ErrTerminalAuth}
	switch sw {
	case swUnknownINS, swUnknownCLA, swFuncNotSupported, swNotFound:
		e.kind, e.Hint = ErrUnsupported, "the card has no PIN-less support; use the PIN level for this card"
	case swWrongP1P2:
		if step == stepPSO {
			e.kind, e.Hint = ErrUnsupported, "the card has no PIN-less support; use the PIN level for this card"
		} else {
			e.Hint = "protocol mismatch between gate and card; report to the MynaGate developers"
		}
	case swCertNotUsable:
		e.Hint = "the card considers the institution certificate expired; install a renewed institution certificate"
	case swRefNotFound:
		e.Hint = "the institution certificate is signed by an authority this card does not trust; check the certificate's issuer"
	case swVerifyFailed:
		if step == stepPSO {
			e.Hint = "the institution certificate's signature is invalid; reinstall it from the PIN-less authority"
		} else {
			e.Hint = "the HSM key does not match the institution certificate; check the key label and certificate in the config"
		}
	case swWrongData, swWrongLength:
		e.Hint = "the card rejected the command's format; check the institution certificate file"
	case swSecurity:
		if step == stepPSO {
			e.Hint = "the institution certificate does not grant the PIN-less signature right"
		} else {
			e.Hint = "the card's authentication state was lost (card reset or reselected); tap again"
		}
	case swConditions:
		e.Hint = "the card's authentication state was lost (card reset or reselected); tap again"
	default:
		e.Hint = "unexpected status word; tap again, and report it if it repeats"
	}
	return e
}
