package pinless

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
)

// Transport sends one command APDU to the card and returns its response
// (data || SW1 SW2). *scard.Card satisfies it.
type Transport interface {
	Transmit(apdu []byte) ([]byte, error)
}

// Lengths fixed by the protocol.
const (
	NonceLen     = 16 // terminal nonce
	ChallengeLen = 8  // card challenge
)

// Step names used in errors.
const (
	stepSelect    = "SELECT JPKI AP"
	stepPSO       = "PSO VERIFY CERTIFICATE"
	stepChallenge = "GET CHALLENGE"
	stepExtAuth   = "EXTERNAL AUTHENTICATE"
	stepSelectKey = "SELECT EF 0017"
	stepSign      = "COMPUTE DIGITAL SIGNATURE (PIN-less)"
)

var aid = []byte{0xD3, 0x92, 0xF0, 0x00, 0x26, 0x01, 0x00, 0x00, 0x00, 0x01}

// Authenticator runs the terminal side for one institution. It is safe for
// concurrent use if its Signer is.
type Authenticator struct {
	cert   *Certificate
	signer crypto.Signer
	// rand supplies terminal nonces; crypto/rand unless a test replaces it.
	rand io.Reader
}

// NewAuthenticator checks that the institution certificate, the institution
// code and the signer belong together: the certificate parses, names code, and
// certifies signer's public key. The signer is typically the HSM key.
func NewAuthenticator(certificate []byte, institutionCode string, signer crypto.Signer) (*Authenticator, error) {
	c, err := ParseCertificate(certificate)
	if err != nil {
		return nil, fmt.Errorf("%w (is the institution certificate file the one from the PIN-less authority?)", err)
	}
	if c.InstitutionCode != institutionCode {
		return nil, fmt.Errorf("pinless: institution certificate is for %q, configured code is %q; fix the config", c.InstitutionCode, institutionCode)
	}
	pub, ok := signer.Public().(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() || !pub.Equal(c.PublicKey) {
		return nil, errors.New("pinless: the institution key does not match the institution certificate; check the HSM key label")
	}
	if c.Rights&RightSign == 0 {
		return nil, errors.New("pinless: the institution certificate does not grant the PIN-less signature right")
	}
	return &Authenticator{cert: c, signer: signer, rand: rand.Reader}, nil
}

// Certificate returns the parsed institution certificate, for health checks
// such as its expiry date.
func (a *Authenticator) Certificate() *Certificate { return a.cert }

// Proof is what a successful run leaves for the audit record.
type Proof struct {
	InstitutionCode string
	TerminalNonce   []byte
	CardChallenge   []byte
	// Signature is the card's RSA PKCS#1 v1.5 signature over Message().
	Signature []byte
}

// Message is SHA-256(terminal nonce || card challenge || institution code),
// what the card signs.
func (p Proof) Message() []byte {
	h := sha256.New()
	h.Write(p.TerminalNonce)
	h.Write(p.CardChallenge)
	h.Write([]byte(p.InstitutionCode))
	return h.Sum(nil)
}

// Verify checks the card's signature with the public key of its
// user-authentication certificate.
func (p Proof) Verify(cardCert *x509.Certificate) error {
	pub, ok := cardCert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return fmt.Errorf("%w: card certificate key is %T, not RSA", ErrCardSignature, cardCert.PublicKey)
	}
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, p.Message(), p.Signature); err != nil {
		return fmt.Errorf("%w: %v (certificate copied to another card, or a replayed answer)", ErrCardSignature, err)
	}
	return nil
}

// Prove runs the protocol on the card behind t (docs/pinless.md §4) and
// verifies the card's signature against cardCert, the certificate read from
// the same card. The JPKI applet is selected afresh.
func (a *Authenticator) Prove(t Transport, cardCert *x509.Certificate) (Proof, error) {
	p := Proof{InstitutionCode: a.cert.InstitutionCode, TerminalNonce: make([]byte, NonceLen)}
	if _, err := io.ReadFull(a.rand, p.TerminalNonce); err != nil {
		return Proof{}, fmt.Errorf("pinless: terminal nonce: %w", err)
	}
	if _, err := exchange(t, stepSelect, append([]byte{0x00, 0xA4, 0x04, 0x0C, byte(len(aid))}, aid...)); err != nil {
		return Proof{}, err
	}
	if _, err := exchange(t, stepPSO, apdu(0x00, 0x2A, 0x00, 0xBE, a.cert.Raw)); err != nil {
		return Proof{}, err
	}
	ch, err := exchange(t, stepChallenge, []byte{0x00, 0x84, 0x00, 0x00, ChallengeLen})
	if err != nil {
		return Proof{}, err
	}
	if len(ch) != ChallengeLen {
		return Proof{}, &CardError{Step: stepChallenge, SW: swOK, kind: ErrTerminalAuth,
			Hint: fmt.Sprintf("card returned a %d-byte challenge, want %d; not a PIN-less card", len(ch), ChallengeLen)}
	}
	p.CardChallenge = ch
	sig, err := signRaw(a.signer, bytes.Join([][]byte{ch, p.TerminalNonce, []byte(p.InstitutionCode)}, nil))
	if err != nil {
		return Proof{}, fmt.Errorf("pinless: sign the card challenge with the institution key: %w (is the HSM reachable?)", err)
	}
	if _, err := exchange(t, stepExtAuth, apdu(0x00, 0x82, 0x00, 0x00, append(append([]byte{}, p.TerminalNonce...), sig...))); err != nil {
		return Proof{}, err
	}
	if _, err := exchange(t, stepSelectKey, []byte{0x00, 0xA4, 0x02, 0x0C, 0x02, 0x00, 0x17}); err != nil {
		return Proof{}, err
	}
	p.Signature, err = exchange(t, stepSign, []byte{0x80, 0x2A, 0x00, 0x81, 0x00})
	if err != nil {
		return Proof{}, err
	}
	if err := p.Verify(cardCert); err != nil {
		return Proof{}, err
	}
	slog.Debug("pinless: card proven present", "institution", p.InstitutionCode)
	return p, nil
}

// apdu builds a short case-3 command APDU (data, no Le).
func apdu(cla, ins, p1, p2 byte, data []byte) []byte {
	return append([]byte{cla, ins, p1, p2, byte(len(data))}, data...)
}

// exchange transmits and returns the response data if the card answered 9000.
// A transport failure or a response without a status word (vpcd's answer when
// the card vanished) is ErrCardRemoved.
func exchange(t Transport, step string, cmd []byte) ([]byte, error) {
	r, err := t.Transmit(cmd)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w (keep the card on the reader until the gate beeps)", ErrCardRemoved, step, err)
	}
	if len(r) < 2 {
		return nil, fmt.Errorf("%w: %s: response of %d bytes (keep the card on the reader until the gate beeps)", ErrCardRemoved, step, len(r))
	}
	sw := uint16(r[len(r)-2])<<8 | uint16(r[len(r)-1])
	if sw != swOK {
		return nil, classify(step, sw)
	}
	return r[:len(r)-2], nil
}
