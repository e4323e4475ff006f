package vcard

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"time"
)

// EFPINlessAuthority holds the PIN-less authority's public key (42 08 <key
// reference> 86 41 <P-256 point>) on cards that support the protocol.
const EFPINlessAuthority = 0x0016

// PINless configures the card side of MynaGate's PIN-less reference protocol
// (docs/pinless.md).
type PINless struct {
	// Enabled makes the card accept PSO VERIFY CERTIFICATE, GET CHALLENGE,
	// EXTERNAL AUTHENTICATE and the PIN-less signature. Cards issued so far
	// do not; leave it false to model them.
	Enabled bool `json:"pinless"`
	// Authority is the PEM public key (ECDSA P-256) of the PIN-less
	// authority, stored in EF 0016.
	Authority string `json:"pinless_authority"`
	// CardDate (YYYY-MM-DD) is the card's notion of today at issue; it moves
	// forward to the effective date of each institution certificate accepted.
	CardDate string `json:"card_date"`
	// Version is the protocol version the card speaks: 2 (also 0, the
	// default) or 1, to model a card built to the first reference protocol.
	// A card speaks exactly one version.
	Version int `json:"pinless_version"`
}

func (p PINless) validate() error {
	if !p.Enabled {
		if p.Authority != "" || p.CardDate != "" || p.Version != 0 {
			return errors.New("pinless_authority, card_date and pinless_version need \"pinless\": true")
		}
		return nil
	}
	if p.Version < 0 || p.Version > 2 {
		return fmt.Errorf("pinless_version %d: want 1 or 2", p.Version)
	}
	if _, err := p.authority(); err != nil {
		return err
	}
	if _, err := time.Parse(time.DateOnly, p.CardDate); err != nil {
		return fmt.Errorf("card_date %q: want YYYY-MM-DD", p.CardDate)
	}
	return nil
}

func (p PINless) authority() (*ecdsa.PublicKey, error) {
	blk, _ := pem.Decode([]byte(p.Authority))
	if blk == nil || blk.Type != "PUBLIC KEY" {
		return nil, errors.New("pinless_authority: want a PEM PUBLIC KEY block")
	}
	k, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("pinless_authority: %w", err)
	}
	ek, ok := k.(*ecdsa.PublicKey)
	if !ok || ek.Curve != elliptic.P256() {
		return nil, fmt.Errorf("pinless_authority: want ECDSA P-256, got %T", k)
	}
	return ek, nil
}

// taState is where the card is in terminal authentication.
type taState int

const (
	taNone     taState = iota
	taCertOK           // institution certificate verified
	taTerminal         // terminal authenticated: one PIN-less signature allowed
)

// pinlessCard is the card's PIN-less state; zero when the profile disables it.
type pinlessCard struct {
	version   int
	authority *ecdsa.PublicKey
	authRef   [8]byte
	// date survives resets: it lives in the card's non-volatile memory.
	date time.Time
	// rand supplies challenges; crypto/rand unless SetChallengeSource.
	rand io.Reader

	state     taState
	holder    *ecdsa.PublicKey
	code      []byte
	certHash  []byte // SHA-256 of the accepted certificate (version 2)
	challenge []byte
	nonce     []byte
	termSig   []byte // SIG_T accepted (version 2)
}

func newPINlessCard(p PINless) (*pinlessCard, []byte) {
	auth, _ := p.authority()
	date, _ := time.Parse(time.DateOnly, p.CardDate)
	pt, _ := auth.Bytes()
	h := sha256.Sum256(pt)
	pc := &pinlessCard{version: 2, authority: auth, date: date, rand: rand.Reader}
	if p.Version == 1 {
		pc.version = 1
	}
	copy(pc.authRef[:], h[:8])
	ef := append(append([]byte{0x42, 0x08}, pc.authRef[:]...), 0x86, byte(len(pt)))
	return pc, append(ef, pt...)
}

// signP2 is P2 of the PIN-less signature command in the card's version: 81
// in version 1, 82 in version 2. The other value is not a PIN-less command.
func (pc *pinlessCard) signP2() byte {
	if pc.version == 1 {
		return 0x81
	}
	return 0x82
}

func (pc *pinlessCard) reset() {
	pc.state, pc.holder, pc.code, pc.certHash, pc.challenge, pc.nonce, pc.termSig = taNone, nil, nil, nil, nil, nil, nil
}

// Status words of the PIN-less protocol beyond the applet's.
const (
	swVerifyFailed  = 0x6300
	swRefNotFound   = 0x6A88
	swCertNotUsable = 0x6984
	swNoRandom      = 0x6F00
)

// verifyCertificate handles PSO VERIFY CERTIFICATE (00 2A 00 BE).
func (c *Card) verifyCertificate(cmd command) []byte {
	pc := c.pinless
	pc.reset()
	if !c.apSelected {
		return sw(swConditions)
	}
	cert, err := parseInstitutionCert(cmd.data)
	if err != nil {
		return sw(swWrongData)
	}
	if cert.authRef != pc.authRef {
		return sw(swRefNotFound)
	}
	h := sha256.Sum256(cert.body)
	if !ecdsa.Verify(pc.authority, h[:], new(big.Int).SetBytes(cert.sig[:32]), new(big.Int).SetBytes(cert.sig[32:])) {
		return sw(swVerifyFailed)
	}
	if cert.rights&0x01 == 0 {
		return sw(swSecurity)
	}
	if cert.notAfter.Before(pc.date) {
		return sw(swCertNotUsable)
	}
	if cert.notBefore.After(pc.date) {
		pc.date = cert.notBefore
	}
	h = sha256.Sum256(cmd.data)
	pc.state, pc.holder, pc.code, pc.certHash = taCertOK, cert.holder, cert.code, h[:]
	return sw(swOK)
}

// getChallenge handles GET CHALLENGE (00 84 00 00 08).
func (c *Card) getChallenge(cmd command) []byte {
	if cmd.p1 != 0 || cmd.p2 != 0 {
		return sw(swWrongP1P2)
	}
	if len(cmd.data) != 0 || cmd.ne != 8 {
		return sw(swWrongLength)
	}
	pc := c.pinless
	pc.challenge = make([]byte, 8)
	if _, err := io.ReadFull(pc.rand, pc.challenge); err != nil {
		pc.reset()
		return sw(swNoRandom)
	}
	if pc.state == taTerminal {
		pc.state = taCertOK
	}
	return append(append([]byte{}, pc.challenge...), sw(swOK)...)
}

// externalAuthenticate handles EXTERNAL AUTHENTICATE (00 82 02 00 50 in
// version 2, 00 82 00 00 50 in version 1): the terminal nonce and the
// institution key's signature over the version's terminal input. Each
// challenge allows one attempt.
func (c *Card) externalAuthenticate(cmd command) []byte {
	p1 := byte(0x02) // algorithm reference: the version 2 terminal input
	if c.pinless.version == 1 {
		p1 = 0x00
	}
	if cmd.p1 != p1 || cmd.p2 != 0 {
		return sw(swWrongP1P2)
	}
	pc := c.pinless
	if pc.state != taCertOK || pc.challenge == nil {
		return sw(swConditions)
	}
	if len(cmd.data) != 16+64 {
		return sw(swWrongLength)
	}
	ch := pc.challenge
	pc.challenge = nil
	nonce, sig := cmd.data[:16], cmd.data[16:]
	input := bytes.Join([][]byte{ch, nonce, pc.code}, nil)
	if pc.version == 2 {
		input = bytes.Join([][]byte{[]byte(labelTerminal), pc.certHash, ch, nonce, pc.code}, nil)
	}
	h := sha256.Sum256(input)
	if !ecdsa.Verify(pc.holder, h[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
		pc.reset()
		return sw(swVerifyFailed)
	}
	pc.state, pc.challenge, pc.nonce, pc.termSig = taTerminal, ch, append([]byte{}, nonce...), append([]byte{}, sig...)
	return sw(swOK)
}

// Domain labels of version 2 (docs/pinless.md §4), spelled out here rather
// than shared with offline/pinless so that the two sides check each other.
const (
	labelTerminal = "mynagate pinless v2 terminal"
	labelCard     = "mynagate pinless v2 card"
)

// sha256DigestInfo is the DER prefix of a SHA-256 DigestInfo.
var sha256DigestInfo = []byte{0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20}

// signPINless handles COMPUTE DIGITAL SIGNATURE without PIN: 80 2A 00 82 00
// in version 2, 80 2A 00 81 00 in version 1. The card signs only its own
// construct, never terminal-chosen data, and only once per terminal
// authentication. Version 2 signs with RSASSA-PSS, a format the PIN-level
// command (80 2A 00 80, PKCS#1 v1.5) never produces.
func (c *Card) signPINless(cmd command) []byte {
	pc := c.pinless
	if pc.state != taTerminal {
		return sw(swSecurity)
	}
	if c.current != EFAuthKey {
		return sw(swConditions)
	}
	if pc.version == 1 {
		if len(cmd.data) != 0 {
			return sw(swWrongLength)
		}
		m := sha256.Sum256(bytes.Join([][]byte{pc.nonce, pc.challenge, pc.code}, nil))
		pc.reset()
		return c.signRaw(append(append([]byte{}, sha256DigestInfo...), m[:]...))
	}
	if len(cmd.data) != 0 || cmd.ne != 256 || cmd.extended {
		return sw(swWrongLength)
	}
	m := sha256.Sum256(bytes.Join([][]byte{[]byte(labelCard), pc.certHash, pc.nonce, pc.challenge, pc.code, pc.termSig}, nil))
	pc.reset()
	sig, err := rsa.SignPSS(rand.Reader, c.key, crypto.SHA256, m[:], &rsa.PSSOptions{SaltLength: 32})
	if err != nil {
		return sw(swWrongData)
	}
	return append(sig, sw(swOK)...)
}

// SetChallengeSource replaces where the card draws its GET CHALLENGE bytes
// (crypto/rand by default). The test vectors of docs/pinless-vectors use it
// to replay a published challenge; a read error makes GET CHALLENGE answer
// 6F00. It does nothing on a card without PIN-less support.
func (c *Card) SetChallengeSource(r io.Reader) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pinless != nil {
		c.pinless.rand = r
	}
}

// institutionCert is the card's view of an institution certificate. The card
// parses it with its own code, written from docs/pinless.md rather than shared
// with offline/pinless, so that the two sides check each other.
type institutionCert struct {
	body                []byte // 7F4E TLV, what the authority signed
	authRef             [8]byte
	code                []byte
	holder              *ecdsa.PublicKey
	notBefore, notAfter time.Time
	rights              byte
	sig                 []byte
}

// institutionCertSize is the size of a version 1 certificate with its fixed
// field sizes (docs/pinless.md §2); any other size is malformed.
const institutionCertSize = 190

func parseInstitutionCert(b []byte) (*institutionCert, error) {
	if len(b) != institutionCertSize {
		return nil, fmt.Errorf("%d bytes, want %d", len(b), institutionCertSize)
	}
	var c institutionCert
	r := tlvReader{b: b}
	outer := tlvReader{b: r.next(0x7F21, -1)}
	if !r.done() {
		return nil, errors.New("trailing bytes")
	}
	start := outer.b
	body := tlvReader{b: outer.next(0x7F4E, -1)}
	c.body = start[:len(start)-len(outer.b)]
	c.sig = outer.next(0x5F37, 64)
	if v := body.next(0x5F29, 1); v == nil || v[0] != 1 {
		return nil, errors.New("version")
	}
	copy(c.authRef[:], body.next(0x42, 8))
	c.code = body.next(0x5F20, 8)
	key := tlvReader{b: body.next(0x7F49, -1)}
	pt := key.next(0x86, 65)
	nb, na := body.next(0x5F25, 6), body.next(0x5F24, 6)
	rights := body.next(0x53, 1)
	if r.err != nil || outer.err != nil || body.err != nil || key.err != nil || !outer.done() || !body.done() || !key.done() {
		return nil, errors.New("malformed")
	}
	var err error
	if c.holder, err = ecdsa.ParseUncompressedPublicKey(elliptic.P256(), pt); err != nil {
		return nil, err
	}
	if c.notBefore, err = bcdDate(nb); err != nil {
		return nil, err
	}
	if c.notAfter, err = bcdDate(na); err != nil {
		return nil, err
	}
	c.rights = rights[0]
	return &c, nil
}

// bcdDate reads YYMMDD, one decimal digit per byte, as a date in 2000-2099.
func bcdDate(b []byte) (time.Time, error) {
	for _, d := range b {
		if d > 9 {
			return time.Time{}, errors.New("date digit")
		}
	}
	y, m, d := 2000+int(b[0])*10+int(b[1]), time.Month(int(b[2])*10+int(b[3])), int(b[4])*10+int(b[5])
	t := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	if t.Month() != m || t.Day() != d {
		return time.Time{}, errors.New("no such date")
	}
	return t, nil
}

// tlvReader walks BER-TLVs with 1- or 2-byte tags and lengths up to 82 xx xx,
// in the shortest form only (DER, docs/pinless.md §2): 81 xx for 80-FF, 82 xx
// xx for 0100-FFFF. The first error sticks; later calls return nil.
type tlvReader struct {
	b   []byte
	err error
}

func (r *tlvReader) done() bool { return r.err == nil && len(r.b) == 0 }

// next reads the TLV with tag; size -1 accepts any length.
func (r *tlvReader) next(tag int, size int) []byte {
	if r.err != nil {
		return nil
	}
	b := r.b
	tl := 1
	if tag > 0xFF {
		tl = 2
	}
	if len(b) < tl+1 || (tl == 2 && int(b[0])<<8|int(b[1]) != tag) || (tl == 1 && int(b[0]) != tag) {
		r.err = fmt.Errorf("want tag %X", tag)
		return nil
	}
	b = b[tl:]
	n, hl := int(b[0]), 1
	switch {
	case b[0] == 0x81 && len(b) > 1:
		n, hl = int(b[1]), 2
	case b[0] == 0x82 && len(b) > 2:
		n, hl = int(b[1])<<8|int(b[2]), 3
	case b[0] >= 0x80:
		r.err = errors.New("length")
		return nil
	}
	if hl == 2 && n < 0x80 || hl == 3 && n < 0x100 {
		r.err = fmt.Errorf("tag %X: length %d not in its shortest form", tag, n)
		return nil
	}
	if len(b) < hl+n || size >= 0 && n != size {
		r.err = fmt.Errorf("tag %X length", tag)
		return nil
	}
	r.b = b[hl+n:]
	return b[hl : hl+n]
}
