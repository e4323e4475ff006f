// Package jpki speaks the JPKI applet of the My Number card (マイナンバーカード):
// selecting the applet, telling a My Number card from other tokens, reading the
// user-authentication certificate with as few APDUs as the card and reader allow,
// the PIN retry counter, VERIFY and COMPUTE DIGITAL SIGNATURE.
//
// It never touches the signature certificate (EF 0001, which carries name and
// address) nor any other applet of the card. Facts: shared/reference/JPKI.md.
package jpki

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"fmt"
)

// Transport sends one command APDU and returns the response APDU with its status
// word. The reader package implements it over PC/SC; tests may use the virtual
// card directly.
type Transport interface {
	Transmit(cmd []byte) ([]byte, error)
}

// AID is the JPKI applet's application identifier.
var AID = []byte{0xD3, 0x92, 0xF0, 0x00, 0x26, 0x01, 0x00, 0x00, 0x00, 0x01}

// Elementary files of the JPKI applet that this package uses. The signature-side
// files (0001, 0002, 001A, 001B) are deliberately absent.
const (
	EFTokenInfo = 0x0006
	EFAuthCert  = 0x000A
	EFAuthCA    = 0x000B
	EFAuthKey   = 0x0017
	EFAuthPIN   = 0x0018
)

// Support records whether a card and reader accept an optional form of a
// command. The zero value is Unknown.
type Support uint8

// Support values.
const (
	Unknown Support = iota
	Supported
	Unsupported
)

// Caps is what has been learnt about one reader (and the cards it has seen):
// whether READ BINARY with a short EF id works, and whether extended-length
// APDUs pass. Keep one Caps per reader and hand it to every Card on it.
type Caps struct {
	ShortEFID Support
	Extended  Support
}

// Card is a JPKI session over one transport. It is not safe for concurrent use.
type Card struct {
	t     Transport
	caps  *Caps
	apdus int
	// current is the EF selected on the card, 0 if none or unknown.
	current uint16
}

// New returns a Card over t. caps may be nil; then every optional form is tried
// afresh and nothing is remembered.
func New(t Transport, caps *Caps) *Card {
	if caps == nil {
		caps = &Caps{}
	}
	return &Card{t: t, caps: caps}
}

// APDUs returns how many command APDUs the Card has sent.
func (c *Card) APDUs() int { return c.apdus }

func (c *Card) transmit(command string, apdu []byte) ([]byte, error) {
	c.apdus++
	rsp, err := c.t.Transmit(apdu)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", command, err)
	}
	return splitResponse(command, rsp)
}

// SelectAP selects the JPKI applet. A card without it gives ErrNotJPKI.
func (c *Card) SelectAP() error {
	apdu := append([]byte{0x00, 0xA4, 0x04, 0x0C, byte(len(AID))}, AID...)
	_, err := c.transmit("SELECT JPKI AP", apdu)
	c.current = 0
	var se *StatusError
	if errors.As(err, &se) && (errors.Is(err, ErrFileNotFound) || se.SW == 0x6A81 || errors.Is(err, ErrNotSupported)) {
		return fmt.Errorf("%w: %v", ErrNotJPKI, err)
	}
	return err
}

// SelectEF selects an elementary file of the applet.
func (c *Card) SelectEF(fid uint16) error {
	_, err := c.transmit(fmt.Sprintf("SELECT EF %04X", fid), []byte{0x00, 0xA4, 0x02, 0x0C, 0x02, byte(fid >> 8), byte(fid)})
	if err != nil {
		c.current = 0
		return err
	}
	c.current = fid
	return nil
}

// readAt reads up to le bytes (1..256, or 0 for an extended read of the whole
// file) at offset from EF fid, by short EF id at offset 0 when the card allows it
// and by SELECT EF otherwise.
func (c *Card) readAt(fid uint16, offset, le int) ([]byte, error) {
	name := fmt.Sprintf("READ BINARY %04X@%d", fid, offset)
	if c.current != fid && offset == 0 && fid < 0x1F && c.caps.ShortEFID != Unsupported {
		data, err := c.transmit(name, readBinary(0x80|byte(fid), 0, le))
		switch {
		case err == nil:
			c.caps.ShortEFID = Supported
			c.current = fid
			return data, nil
		case errors.Is(err, ErrWrongP1P2), errors.Is(err, ErrNotSupported), errors.Is(err, ErrConditions):
			c.caps.ShortEFID = Unsupported
		default:
			return nil, err
		}
	}
	if c.current != fid {
		if err := c.SelectEF(fid); err != nil {
			return nil, err
		}
	}
	return c.transmit(name, readBinary(byte(offset>>8), byte(offset), le))
}

// readBinary builds READ BINARY; le 256 is coded 00, le 0 asks for an extended
// read of up to 65536 bytes.
func readBinary(p1, p2 byte, le int) []byte {
	if le == 0 {
		return []byte{0x00, 0xB0, p1, p2, 0x00, 0x00, 0x00}
	}
	return []byte{0x00, 0xB0, p1, p2, byte(le)}
}

// TokenKind tells which JPKI token answered.
type TokenKind int

// Token kinds, from the label in EF 0006.
const (
	TokenUnknown TokenKind = iota
	TokenMyNumberCard
	TokenJukiCard
	TokenAndroid
	TokenIPhone
)

// String implements fmt.Stringer.
func (k TokenKind) String() string {
	switch k {
	case TokenMyNumberCard:
		return "my_number_card"
	case TokenJukiCard:
		return "juki_card"
	case TokenAndroid:
		return "android_phone"
	case TokenIPhone:
		return "iphone"
	}
	return "unknown"
}

// Token is the token information of EF 0006.
type Token struct {
	Label string
	Kind  TokenKind
}

// ReadToken reads the token label (the first 32 bytes of EF 0006, space padded)
// and classifies it. The applet must be selected.
func (c *Card) ReadToken() (Token, error) {
	data, err := c.readAt(EFTokenInfo, 0, 32)
	if err != nil {
		return Token{}, err
	}
	return ParseToken(data), nil
}

// ParseToken classifies the token information bytes. Unknown labels give
// TokenUnknown with the label kept for the log.
func ParseToken(data []byte) Token {
	if len(data) > 32 {
		data = data[:32]
	}
	label := string(bytes.TrimRight(data, " \x00\xFF"))
	t := Token{Label: label}
	switch label {
	case "JPKIAPICCTOKEN2":
		t.Kind = TokenMyNumberCard
	case "JPKIAPICCTOKEN":
		t.Kind = TokenJukiCard
	case "JPKIAPGPSETOKEN":
		t.Kind = TokenAndroid
	case "JPKIAPIOSTOKEN":
		t.Kind = TokenIPhone
	}
	return t
}

// ReadCertificate reads a certificate EF (EFAuthCert or EFAuthCA) and returns
// exactly the DER object, without the padding a card may keep after it.
//
// It tries one extended-length READ BINARY by short EF id first unless the
// reader's Caps say extended APDUs fail, then falls back to 256-byte chunks, the
// first of which carries the DER header that tells how many more to read.
func (c *Card) ReadCertificate(fid uint16) ([]byte, error) {
	if c.caps.Extended != Unsupported {
		data, err := c.readAt(fid, 0, 0)
		if err == nil {
			if n, lerr := DERLength(data); lerr == nil && n <= len(data) {
				c.caps.Extended = Supported
				return data[:n], nil
			}
		}
		if err != nil && !fallbackToShort(err) {
			return nil, err
		}
		// The card or the reader cut the extended read: remember and go short.
		c.caps.Extended = Unsupported
		c.current = 0
	}
	first, err := c.readAt(fid, 0, 256)
	if err != nil {
		return nil, err
	}
	total, err := DERLength(first)
	if err != nil {
		return nil, fmt.Errorf("READ BINARY %04X: certificate header: %w", fid, err)
	}
	out := make([]byte, 0, total)
	out = append(out, first[:min(len(first), total)]...)
	for len(out) < total {
		want := min(256, total-len(out))
		chunk, err := c.readAt(fid, len(out), want)
		if err != nil {
			return nil, err
		}
		// A card answers a READ BINARY inside the file with exactly Le bytes; a
		// shorter answer means a broken card or link, and accepting it would let
		// a card drag the read out to thousands of APDUs.
		if len(chunk) < want {
			return nil, fmt.Errorf("READ BINARY %04X@%d: %d bytes, asked for %d: %w", fid, len(out), len(chunk), want, ErrMalformed)
		}
		out = append(out, chunk[:want]...)
	}
	return out, nil
}

// fallbackToShort reports whether an extended read failed in a way that a short
// read may fix (the card refused the length or form, or the reader could not
// carry it), rather than because the card is gone.
func fallbackToShort(err error) bool { return !errors.Is(err, ErrRemoved) }

// PINTriesLeft asks the auth PIN's retry counter without spending a try.
func (c *Card) PINTriesLeft() (int, error) {
	if err := c.SelectEF(EFAuthPIN); err != nil {
		return 0, err
	}
	_, err := c.transmit("VERIFY (retry counter)", []byte{0x00, 0x20, 0x00, 0x80})
	var se *StatusError
	switch {
	case err == nil:
		return 3, nil
	case errors.Is(err, ErrPINBlocked):
		return 0, nil
	case errors.As(err, &se) && se.TriesLeft >= 0:
		return se.TriesLeft, nil
	}
	return 0, err
}

// VerifyPIN presents the 4-digit auth PIN. A wrong PIN gives a *StatusError
// wrapping ErrWrongPIN with TriesLeft, a blocked one ErrPINBlocked. The command
// buffer is zeroed after use; the caller should zero pin too.
func (c *Card) VerifyPIN(pin []byte) error {
	if len(pin) != 4 {
		return fmt.Errorf("jpki: VERIFY: the auth PIN has 4 digits, got %d characters", len(pin))
	}
	for _, d := range pin {
		if d < '0' || d > '9' {
			return fmt.Errorf("jpki: VERIFY: the auth PIN is 4 digits 0-9")
		}
	}
	if err := c.SelectEF(EFAuthPIN); err != nil {
		return err
	}
	apdu := append([]byte{0x00, 0x20, 0x00, 0x80, 0x04}, pin...)
	_, err := c.transmit("VERIFY auth PIN", apdu)
	clear(apdu)
	return err
}

// SHA256DigestInfo is the DER prefix of a PKCS#1 DigestInfo for SHA-256.
var SHA256DigestInfo = []byte{0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20}

// SignSHA256 has the card sign a SHA-256 digest with the user-authentication key
// (PKCS#1 v1.5, RSA-2048). The card demands a verified PIN (or a completed
// PIN-less authentication) first, else ErrSecurityStatus.
func (c *Card) SignSHA256(digest []byte) ([]byte, error) {
	if len(digest) != 32 {
		return nil, fmt.Errorf("jpki: sign: want a 32-byte SHA-256 digest, got %d bytes", len(digest))
	}
	if err := c.SelectEF(EFAuthKey); err != nil {
		return nil, err
	}
	di := append(append([]byte{}, SHA256DigestInfo...), digest...)
	apdu := append([]byte{0x80, 0x2A, 0x00, 0x80, byte(len(di))}, di...)
	apdu = append(apdu, 0x00)
	sig, err := c.transmit("COMPUTE DIGITAL SIGNATURE", apdu)
	if err != nil {
		return nil, err
	}
	if len(sig) != 256 {
		return nil, fmt.Errorf("COMPUTE DIGITAL SIGNATURE: %d-byte signature, want 256: %w", len(sig), ErrMalformed)
	}
	return sig, nil
}

// Transmit sends a raw APDU through the Card, counted in APDUs, for protocols
// layered on the applet (PIN-less authentication). The Card forgets which EF is
// selected, since the caller may select another.
func (c *Card) Transmit(apdu []byte) ([]byte, error) {
	c.apdus++
	c.current = 0
	return c.t.Transmit(apdu)
}

// ErrSignatureInvalid means the card's signature over the terminal's nonce
// does not verify with the public key of the certificate read from it: the
// certificate was copied onto another card, or the answer replayed.
var ErrSignatureInvalid = errors.New("jpki: card signature does not match its certificate")

// ProvePIN proves the card present at the pin level: the holder's PIN opens
// the auth key, the card signs SHA-256 of a fresh terminal nonce, and the
// signature is checked against pub, the key of the certificate read from the
// same card. A wrong or blocked PIN gives the VerifyPIN errors.
func (c *Card) ProvePIN(pub crypto.PublicKey, pin []byte) error {
	rsaPub, ok := pub.(*rsa.PublicKey)
	if !ok {
		return fmt.Errorf("jpki: prove with PIN: certificate key is %T, want RSA", pub)
	}
	if err := c.VerifyPIN(pin); err != nil {
		return err
	}
	nonce := make([]byte, 32)
	if _, err := rand.Read(nonce); err != nil {
		return fmt.Errorf("jpki: prove with PIN: nonce: %w", err)
	}
	digest := sha256.Sum256(nonce)
	sig, err := c.SignSHA256(digest[:])
	if err != nil {
		return err
	}
	if err := rsa.VerifyPKCS1v15(rsaPub, crypto.SHA256, digest[:], sig); err != nil {
		return fmt.Errorf("%w: %v", ErrSignatureInvalid, err)
	}
	return nil
}
