package jpki

import (
	"errors"
	"fmt"
)

// Sentinel errors a caller decides on. A *StatusError wraps one of them when the
// card's status word has a meaning of its own.
var (
	// ErrNotJPKI: the card has no JPKI applet (a transit, bank or foreign card).
	ErrNotJPKI = errors.New("jpki: not a My Number card (no JPKI applet)")
	// ErrFileNotFound: 6A82.
	ErrFileNotFound = errors.New("jpki: file not found")
	// ErrEndOfFile: 6B00, an offset past the end of the file.
	ErrEndOfFile = errors.New("jpki: offset past end of file")
	// ErrWrongP1P2: 6A86, the card refused the parameters (for example a short EF
	// id in READ BINARY that it does not support).
	ErrWrongP1P2 = errors.New("jpki: wrong parameters P1-P2")
	// ErrSecurityStatus: 6982, the key needs a PIN (or PIN-less authentication)
	// first.
	ErrSecurityStatus = errors.New("jpki: security status not satisfied")
	// ErrPINBlocked: 6984 (or 63C0), no tries left; the holder must reset the PIN
	// at the municipal office.
	ErrPINBlocked = errors.New("jpki: PIN blocked")
	// ErrWrongPIN: 63Cx with x > 0; see *StatusError.TriesLeft.
	ErrWrongPIN = errors.New("jpki: wrong PIN")
	// ErrWrongLength: 6700 or 6Cxx.
	ErrWrongLength = errors.New("jpki: wrong length")
	// ErrNotSupported: 6D00 or 6E00, the card does not know the instruction or
	// class.
	ErrNotSupported = errors.New("jpki: instruction not supported by the card")
	// ErrConditions: 6985 or 6986, conditions of use not satisfied (for example no
	// current EF).
	ErrConditions = errors.New("jpki: conditions of use not satisfied")
	// ErrRemoved: the card left the field or was reset during the exchange.
	// Transports wrap their removal errors with it; the person should tap again.
	ErrRemoved = errors.New("jpki: card removed")
	// ErrMalformed: a response too short to carry a status word, or one whose
	// data contradict the request.
	ErrMalformed = errors.New("jpki: malformed response")
)

// StatusError is a status word other than 9000.
type StatusError struct {
	// Command names the step ("SELECT EF 000A").
	Command string
	// SW is the status word, SW1<<8 | SW2.
	SW uint16
	// TriesLeft is the PIN retry counter carried by 63Cx, or -1.
	TriesLeft int
}

// Error implements error.
func (e *StatusError) Error() string {
	s := fmt.Sprintf("%s: card answered %04X", e.Command, e.SW)
	if base := e.kind(); base != nil {
		s += " (" + base.Error()[len("jpki: "):] + ")"
	}
	if e.TriesLeft > 0 {
		s += fmt.Sprintf(", %d tries left", e.TriesLeft)
	}
	return s
}

// Unwrap returns the sentinel the status word means, if any.
func (e *StatusError) Unwrap() error { return e.kind() }

func (e *StatusError) kind() error {
	switch {
	case e.SW == 0x6A82:
		return ErrFileNotFound
	case e.SW == 0x6B00:
		return ErrEndOfFile
	case e.SW == 0x6A86, e.SW == 0x6A81, e.SW == 0x6A87:
		return ErrWrongP1P2
	case e.SW == 0x6982:
		return ErrSecurityStatus
	case e.SW == 0x6984, e.SW == 0x6983, e.SW == 0x63C0:
		return ErrPINBlocked
	case e.SW&0xFFF0 == 0x63C0:
		return ErrWrongPIN
	case e.SW == 0x6700, e.SW&0xFF00 == 0x6C00:
		return ErrWrongLength
	case e.SW == 0x6D00, e.SW == 0x6E00:
		return ErrNotSupported
	case e.SW == 0x6985, e.SW == 0x6986:
		return ErrConditions
	}
	return nil
}

// splitResponse separates a response APDU into data and status word and turns a
// status word other than 9000 into a *StatusError naming the command.
func splitResponse(command string, rsp []byte) ([]byte, error) {
	if len(rsp) < 2 {
		return nil, fmt.Errorf("%s: %d-byte response: %w", command, len(rsp), ErrMalformed)
	}
	n := len(rsp) - 2
	sw := uint16(rsp[n])<<8 | uint16(rsp[n+1])
	if sw == 0x9000 {
		return rsp[:n], nil
	}
	e := &StatusError{Command: command, SW: sw, TriesLeft: -1}
	if sw&0xFFF0 == 0x63C0 {
		e.TriesLeft = int(sw & 0x0F)
	}
	return nil, e
}
