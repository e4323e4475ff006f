// Package reader finds PC/SC readers, watches them for cards with
// SCardGetStatusChange, and hands each newly presented card to a handler inside a
// PC/SC transaction. It survives readers being unplugged and pcscd restarting: it
// re-establishes its context and says what it is waiting for.
package reader

import (
	"errors"
	"fmt"

	"github.com/ebfe/scard"

	"github.com/mynagate/mynagate/reader/jpki"
)

// ErrReaderGone means the reader vanished during an exchange (USB unplugged,
// pcscd stopped). It also matches jpki.ErrRemoved: the tap did not complete.
var ErrReaderGone = errors.New("reader: reader vanished; check the USB cable and pcscd")

// Card is a connected card; it implements jpki.Transport.
type Card struct {
	card   *scard.Card
	reader string
}

// Transmit sends one APDU. A removed or reset card gives an error wrapping
// jpki.ErrRemoved; a vanished reader one wrapping both ErrReaderGone and
// jpki.ErrRemoved.
func (c *Card) Transmit(cmd []byte) ([]byte, error) {
	rsp, err := c.card.Transmit(cmd)
	if err != nil {
		return nil, fmt.Errorf("reader %q: transmit: %w", c.reader, mapError(err))
	}
	if len(rsp) == 0 {
		// A card always answers at least a status word. vpcd (and some NFC
		// readers) report an exchange cut short by the card leaving the field
		// as an empty response instead of an error, before pcscd has polled
		// the card's absence.
		return nil, fmt.Errorf("reader %q: transmit: empty response: %w", c.reader, jpki.ErrRemoved)
	}
	return rsp, nil
}

// mapError turns PC/SC codes a caller decides on into this package's and jpki's
// sentinels, keeping the PC/SC error in the chain.
func mapError(err error) error {
	var se scard.Error
	if !errors.As(err, &se) {
		return err
	}
	switch se {
	case scard.ErrRemovedCard, scard.ErrResetCard, scard.ErrNoSmartcard, scard.ErrUnpoweredCard, scard.ErrUnresponsiveCard:
		return fmt.Errorf("%w (%v)", jpki.ErrRemoved, se)
	case scard.ErrReaderUnavailable, scard.ErrUnknownReader, scard.ErrNoService, scard.ErrServiceStopped, scard.ErrInvalidHandle, scard.ErrCommError, scard.ErrCommDataLost:
		return errors.Join(ErrReaderGone, jpki.ErrRemoved, se)
	}
	return err
}

// serviceDown reports whether err means the PC/SC context is no longer usable and
// must be re-established (pcscd stopped or restarted).
func serviceDown(err error) bool {
	var se scard.Error
	if !errors.As(err, &se) {
		return false
	}
	switch se {
	case scard.ErrNoService, scard.ErrServiceStopped, scard.ErrInvalidHandle, scard.ErrCommError, scard.ErrUnknownError, scard.ErrInternalError:
		return true
	}
	return false
}
