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
	"time"
)

// Transport sends one command APDU to the card and returns its response
// (data || SW1 SW2). *scard.Card satisfies it.
type Transport interface {
	Transmit(apdu []byte) ([]byte, error)
}

// Lengths fixed by the protocol.
const (
	NonceLen     = 16 // terminal nonce RT
	ChallengeLen = 8  // card challenge RC
)

// Protocol versions (docs/pinless.md §4 and §9).
const (
	// V1 is the first reference protocol: the card's answer is a PKCS#1 v1.5
	// signature, the same form as the PIN-level signature, so a card whose PIN
	// is known can stand in for it. Accepted only with AcceptV1.
	V1 = 1
	// V2 binds the answer to the institution certificate and SIG_T and signs
	// it with RSASSA-PSS, which the PIN-level command cannot produce.
	V2 = 2
)

// Domain labels: fixed ASCII strings at the start of what each party signs
// in version 2, so that no signature of one kind passes for another.
const (
	LabelTerminal = "mynagate pinless v2 terminal"
	LabelCard     = "mynagate pinless v2 card"
)

// PSSSaltLen is the salt length of the card's RSASSA-PSS signature in version 2.
const PSSSaltLen = 32

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
	cert     *Certificate
	certHash [32]byte
	signer   crypto.Signer
	acceptV1 bool
	// maxExchange bounds Proof.Exchange; 0 measures without a bound.
	maxExchange time.Duration
	// rand supplies terminal nonces; crypto/rand unless a test replaces it.
	rand io.Reader
}

// Option changes an Authenticator's policy.
type Option func(*Authenticator)

// AcceptV1 lets cards that speak only version 1 through. A version 1 answer
// is the same form as a PIN-level signature, so anyone who knows a holder's
// PIN can produce it with the real card (docs/pinless.md §9): leave it off
// unless the gate must serve version 1 cards.
func AcceptV1() Option { return func(a *Authenticator) { a.acceptV1 = true } }

// MaxExchange refuses a card whose live exchange (EXTERNAL AUTHENTICATE sent
// to the card's signature received, Proof.Exchange) took longer than d, the
// relay mitigation of docs/pinless.md §8. d <= 0 measures without a bound.
func MaxExchange(d time.Duration) Option { return func(a *Authenticator) { a.maxExchange = max(d, 0) } }

// NewAuthenticator checks that the institution certificate, the institution
// code and the signer belong together: the certificate parses, names code, and
// certifies signer's public key. The signer is typically the HSM key.
func NewAuthenticator(certificate []byte, institutionCode string, signer crypto.Signer, opts ...Option) (*Authenticator, error) {
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
	a := &Authenticator{cert: c, certHash: sha256.Sum256(c.Raw), signer: signer, rand: rand.Reader}
	for _, o := range opts {
		o(a)
	}
	return a, nil
}

// Certificate returns the parsed institution certificate, for health checks
// such as its expiry date.
func (a *Authenticator) Certificate() *Certificate { return a.cert }

// Proof is what a successful run leaves for the audit record.
type Proof struct {
	// Version is the protocol version the card answered in (V1 or V2).
	Version int
	// InstitutionCode is the 特定機関コード of the session.
	InstitutionCode string
	// CertificateHash is SHA-256 of the institution certificate sent in PSO.
	CertificateHash []byte
	// TerminalNonce is RT, CardChallenge RC.
	TerminalNonce []byte
	CardChallenge []byte
	// TerminalSignature is SIG_T, the institution key's signature that the
	// card accepted in EXTERNAL AUTHENTICATE.
	TerminalSignature []byte
	// Signature is SIG_C, the card's signature over Message(): RSASSA-PSS
	// in version 2, PKCS#1 v1.5 in version 1.
	Signature []byte
	// Exchange is the gate-measured time from sending EXTERNAL
	// AUTHENTICATE to receiving SIG_C, the part a relay must forward live.
	Exchange time.Duration
}

// TerminalInput is what SIG_T signs (hashed once with SHA-256 by ECDSA):
// version 2: LabelTerminal || CertificateHash || RC || RT || code; version 1:
// RC || RT || code.
func (p Proof) TerminalInput() []byte {
	if p.Version == V1 {
		return bytes.Join([][]byte{p.CardChallenge, p.TerminalNonce, []byte(p.InstitutionCode)}, nil)
	}
	return bytes.Join([][]byte{[]byte(LabelTerminal), p.CertificateHash, p.CardChallenge, p.TerminalNonce, []byte(p.InstitutionCode)}, nil)
}

// Message is M, the SHA-256 digest the card signs: version 2:
// SHA-256(LabelCard || CertificateHash || RT || RC || code || SIG_T); version
// 1: SHA-256(RT || RC || code).
func (p Proof) Message() []byte {
	h := sha256.New()
	if p.Version == V1 {
		h.Write(p.TerminalNonce)
		h.Write(p.CardChallenge)
		h.Write([]byte(p.InstitutionCode))
		return h.Sum(nil)
	}
	for _, b := range [][]byte{[]byte(LabelCard), p.CertificateHash, p.TerminalNonce, p.CardChallenge, []byte(p.InstitutionCode), p.TerminalSignature} {
		h.Write(b)
	}
	return h.Sum(nil)
}

// Verify checks the card's signature with the public key of its
// user-authentication certificate, in the form of p.Version.
func (p Proof) Verify(cardCert *x509.Certificate) error {
	pub, ok := cardCert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return fmt.Errorf("%w: card certificate key is %T, not RSA", ErrCardSignature, cardCert.PublicKey)
	}
	var err error
	switch p.Version {
	case V1:
		err = rsa.VerifyPKCS1v15(pub, crypto.SHA256, p.Message(), p.Signature)
	case V2:
		err = rsa.VerifyPSS(pub, crypto.SHA256, p.Message(), p.Signature, &rsa.PSSOptions{SaltLength: PSSSaltLen, Hash: crypto.SHA256})
	default:
		return fmt.Errorf("%w: unknown protocol version %d", ErrCardSignature, p.Version)
	}
	if err != nil {
		return fmt.Errorf("%w: version %d: %v (certificate copied to another card, a replayed answer, or a PIN-level signature standing in for a PIN-less one)", ErrCardSignature, p.Version, err)
	}
	return nil
}

// Prove runs the protocol on the card behind t (docs/pinless.md §4) and
// verifies the card's signature against cardCert, the certificate read from
// the same card. The JPKI applet is selected afresh. It speaks version 2; a
// card that refuses version 2 is ErrUnsupported unless AcceptV1 was given.
// With ErrTooSlow the proof is returned too, for its Exchange time.
func (a *Authenticator) Prove(t Transport, cardCert *x509.Certificate) (Proof, error) {
	p := Proof{Version: V2, InstitutionCode: a.cert.InstitutionCode, CertificateHash: a.certHash[:], TerminalNonce: make([]byte, NonceLen)}
	if _, err := io.ReadFull(a.rand, p.TerminalNonce); err != nil {
		return Proof{}, fmt.Errorf("pinless: terminal nonce: %w", err)
	}
	if _, err := exchange(t, stepSelect, append([]byte{0x00, 0xA4, 0x04, 0x0C, byte(len(aid))}, aid...)); err != nil {
		return Proof{}, err
	}
	if _, err := exchange(t, stepPSO, apdu(0x00, 0x2A, 0x00, 0xBE, a.cert.Raw)); err != nil {
		return Proof{}, err
	}
	err := a.authenticate(t, &p)
	var ce *CardError
	if errors.As(err, &ce) && ce.Step == stepExtAuth && ce.SW == swWrongP1P2 {
		// A version 1 card: EXTERNAL AUTHENTICATE with P1 02 is not its command.
		if !a.acceptV1 {
			return Proof{}, &CardError{Step: stepExtAuth, SW: ce.SW, kind: ErrUnsupported,
				Hint: "the card speaks only PIN-less version 1, which this gate does not accept (pinless.accept_v1); use the PIN level for this card"}
		}
		p.Version = V1
		err = a.authenticate(t, &p)
	}
	if err != nil {
		return Proof{}, err
	}
	if err := p.Verify(cardCert); err != nil {
		return Proof{}, err
	}
	if a.maxExchange > 0 && p.Exchange > a.maxExchange {
		return p, fmt.Errorf("%w: %v, bound %v (pinless.max_exchange_ms; a relay, or a slow card or reader: measure with gateagent card verify)", ErrTooSlow, p.Exchange.Round(time.Millisecond), a.maxExchange)
	}
	slog.Debug("pinless: card proven present", "institution", p.InstitutionCode, "version", p.Version, "exchange_ms", p.Exchange.Milliseconds())
	return p, nil
}

// authenticate runs GET CHALLENGE to the card's signature in p.Version,
// filling p.
func (a *Authenticator) authenticate(t Transport, p *Proof) error {
	ch, err := exchange(t, stepChallenge, []byte{0x00, 0x84, 0x00, 0x00, ChallengeLen})
	if err != nil {
		return err
	}
	if len(ch) != ChallengeLen {
		return &CardError{Step: stepChallenge, SW: swOK, kind: ErrTerminalAuth,
			Hint: fmt.Sprintf("card returned a %d-byte challenge, want %d; not a PIN-less card", len(ch), ChallengeLen)}
	}
	p.CardChallenge = ch
	p.TerminalSignature, err = signRaw(a.signer, p.TerminalInput())
	if err != nil {
		return fmt.Errorf("pinless: sign the card challenge with the institution key: %w (is the HSM reachable?)", err)
	}
	extAuth, sign := []byte{0x00, 0x82, 0x02, 0x00}, []byte{0x80, 0x2A, 0x00, 0x82, 0x00}
	if p.Version == V1 {
		extAuth, sign = []byte{0x00, 0x82, 0x00, 0x00}, []byte{0x80, 0x2A, 0x00, 0x81, 0x00}
	}
	start := time.Now()
	if _, err := exchange(t, stepExtAuth, apdu(extAuth[0], extAuth[1], extAuth[2], extAuth[3], append(append([]byte{}, p.TerminalNonce...), p.TerminalSignature...))); err != nil {
		return err
	}
	if _, err := exchange(t, stepSelectKey, []byte{0x00, 0xA4, 0x02, 0x0C, 0x02, 0x00, 0x17}); err != nil {
		return err
	}
	if p.Signature, err = exchange(t, stepSign, sign); err != nil {
		return err
	}
	p.Exchange = time.Since(start)
	return nil
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
