package pinless

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"time"
)

// Tags of the institution certificate (docs/pinless.md §2), after the card
// verifiable certificates of BSI TR-03110.
const (
	tagCert      = 0x7F21
	tagBody      = 0x7F4E
	tagVersion   = 0x5F29
	tagAuthority = 0x42
	tagHolder    = 0x5F20
	tagPublicKey = 0x7F49
	tagPoint     = 0x86
	tagNotBefore = 0x5F25
	tagNotAfter  = 0x5F24
	tagRights    = 0x53
	tagSignature = 0x5F37
)

// Version is the only certificate format version defined.
const Version = 1

// Rights is the bitmap of what an institution certificate allows.
type Rights byte

// RightSign allows the PIN-less user-authentication signature.
const RightSign Rights = 0x01

// Certificate is a PIN-less institution certificate: the 特定機関 terminal's
// P-256 key and institution code, signed by the PIN-less authority whose
// public key the card holds in EF 0016.
type Certificate struct {
	// AuthorityRef names the authority key: AuthorityRef of its public key.
	AuthorityRef [8]byte
	// InstitutionCode is the 特定機関コード, 8 ASCII digits.
	InstitutionCode string
	// PublicKey is the institution's P-256 key (held in the gate's HSM).
	PublicKey *ecdsa.PublicKey
	// NotBefore and NotAfter are whole days (UTC); the certificate is valid
	// through the whole NotAfter day.
	NotBefore, NotAfter time.Time
	// Rights is the bitmap of allowed operations.
	Rights Rights
	// Signature is the authority's ECDSA P-256 signature, r || s.
	Signature []byte
	// Raw is the whole certificate; RawBody the signed 7F4E TLV.
	Raw, RawBody []byte
}

// AuthorityRef derives the 8-byte key reference of an authority public key:
// the first 8 bytes of SHA-256 over its uncompressed point.
func AuthorityRef(pub *ecdsa.PublicKey) [8]byte {
	pt, _ := pub.Bytes() // never fails for a valid P-256 key
	h := sha256.Sum256(pt)
	var r [8]byte
	copy(r[:], h[:8])
	return r
}

// Issue encodes c's fields (AuthorityRef is derived from authority) and signs
// the body with the authority key. It returns the certificate bytes.
func Issue(c *Certificate, authority crypto.Signer) ([]byte, error) {
	apub, ok := authority.Public().(*ecdsa.PublicKey)
	if !ok || apub.Curve != elliptic.P256() {
		return nil, errors.New("pinless: issue: authority key must be ECDSA P-256")
	}
	if err := checkCode(c.InstitutionCode); err != nil {
		return nil, fmt.Errorf("pinless: issue: %w", err)
	}
	pt, err := c.PublicKey.Bytes()
	if err != nil || c.PublicKey.Curve != elliptic.P256() {
		return nil, errors.New("pinless: issue: institution key must be ECDSA P-256")
	}
	ref := AuthorityRef(apub)
	body := tlv(tagBody, bytes.Join([][]byte{
		tlv(tagVersion, []byte{Version}),
		tlv(tagAuthority, ref[:]),
		tlv(tagHolder, []byte(c.InstitutionCode)),
		tlv(tagPublicKey, tlv(tagPoint, pt)),
		tlv(tagNotBefore, encodeDate(c.NotBefore)),
		tlv(tagNotAfter, encodeDate(c.NotAfter)),
		tlv(tagRights, []byte{byte(c.Rights)}),
	}, nil))
	sig, err := signRaw(authority, body)
	if err != nil {
		return nil, fmt.Errorf("pinless: issue: %w", err)
	}
	return tlv(tagCert, append(body, tlv(tagSignature, sig)...)), nil
}

// ParseCertificate decodes an institution certificate strictly: the tags in
// their order, minimal lengths, nothing left over. It does not check the
// signature; see CheckSignature.
func ParseCertificate(b []byte) (*Certificate, error) {
	inner, rest, err := readTLV(b, tagCert)
	if err != nil || len(rest) != 0 {
		return nil, fmt.Errorf("pinless: certificate: %w", orTrailing(err))
	}
	c := &Certificate{Raw: b}
	body, sigTLV, err := readTLV(inner, tagBody)
	if err != nil {
		return nil, fmt.Errorf("pinless: certificate body: %w", err)
	}
	c.RawBody = inner[:len(inner)-len(sigTLV)]
	sig, rest, err := readTLV(sigTLV, tagSignature)
	if err != nil || len(rest) != 0 || len(sig) != 64 {
		return nil, fmt.Errorf("pinless: certificate signature: want 64 bytes r||s: %w", orTrailing(err))
	}
	c.Signature = sig
	fields := []struct {
		tag  int
		size int // 0 = variable
		set  func([]byte) error
	}{
		{tagVersion, 1, func(v []byte) error {
			if v[0] != Version {
				return fmt.Errorf("version %d, want %d", v[0], Version)
			}
			return nil
		}},
		{tagAuthority, 8, func(v []byte) error { copy(c.AuthorityRef[:], v); return nil }},
		{tagHolder, 8, func(v []byte) error { c.InstitutionCode = string(v); return checkCode(c.InstitutionCode) }},
		{tagPublicKey, 0, func(v []byte) error {
			pt, rest, err := readTLV(v, tagPoint)
			if err != nil || len(rest) != 0 {
				return fmt.Errorf("public key: %w", orTrailing(err))
			}
			c.PublicKey, err = ecdsa.ParseUncompressedPublicKey(elliptic.P256(), pt)
			if err != nil {
				return fmt.Errorf("public key: %w", err)
			}
			return nil
		}},
		{tagNotBefore, 6, func(v []byte) (err error) { c.NotBefore, err = decodeDate(v); return err }},
		{tagNotAfter, 6, func(v []byte) (err error) { c.NotAfter, err = decodeDate(v); return err }},
		{tagRights, 1, func(v []byte) error { c.Rights = Rights(v[0]); return nil }},
	}
	for _, f := range fields {
		var v []byte
		v, body, err = readTLV(body, f.tag)
		if err == nil && f.size != 0 && len(v) != f.size {
			err = fmt.Errorf("length %d, want %d", len(v), f.size)
		}
		if err == nil {
			err = f.set(v)
		}
		if err != nil {
			return nil, fmt.Errorf("pinless: certificate field %X: %w", f.tag, err)
		}
	}
	if len(body) != 0 {
		return nil, fmt.Errorf("pinless: certificate body: %w", orTrailing(nil))
	}
	if c.NotAfter.Before(c.NotBefore) {
		return nil, errors.New("pinless: certificate expires before it starts")
	}
	return c, nil
}

// CheckSignature verifies the authority's signature over the body.
func (c *Certificate) CheckSignature(authority *ecdsa.PublicKey) error {
	if AuthorityRef(authority) != c.AuthorityRef {
		return fmt.Errorf("pinless: certificate names authority %X, key is %X", c.AuthorityRef, AuthorityRef(authority))
	}
	h := sha256.Sum256(c.RawBody)
	r, s := new(big.Int).SetBytes(c.Signature[:32]), new(big.Int).SetBytes(c.Signature[32:])
	if !ecdsa.Verify(authority, h[:], r, s) {
		return errors.New("pinless: certificate signature invalid")
	}
	return nil
}

func checkCode(code string) error {
	if len(code) != 8 {
		return fmt.Errorf("institution code %q: want 8 ASCII digits", code)
	}
	for _, ch := range []byte(code) {
		if ch < '0' || ch > '9' {
			return fmt.Errorf("institution code %q: want 8 ASCII digits", code)
		}
	}
	return nil
}

// signRaw signs SHA-256(msg) and returns r || s, 32 bytes each, whatever
// encoding the signer (software key, crypto11) returns: ASN.1 per crypto.Signer.
func signRaw(s crypto.Signer, msg []byte) ([]byte, error) {
	h := sha256.Sum256(msg)
	der, err := s.Sign(rand.Reader, h[:], crypto.SHA256)
	if err != nil {
		return nil, err
	}
	var sig struct{ R, S *big.Int }
	if rest, err := asn1.Unmarshal(der, &sig); err != nil || len(rest) != 0 {
		return nil, fmt.Errorf("signer returned a malformed ECDSA signature")
	}
	out := make([]byte, 64)
	sig.R.FillBytes(out[:32])
	sig.S.FillBytes(out[32:])
	return out, nil
}

// encodeDate writes YYMMDD as six bytes of one decimal digit each.
func encodeDate(t time.Time) []byte {
	t = t.UTC()
	s := fmt.Sprintf("%02d%02d%02d", t.Year()%100, int(t.Month()), t.Day())
	b := []byte(s)
	for i := range b {
		b[i] -= '0'
	}
	return b
}

func decodeDate(b []byte) (time.Time, error) {
	var n [6]int
	for i, d := range b {
		if d > 9 {
			return time.Time{}, fmt.Errorf("date digit %d out of range", d)
		}
		n[i] = int(d)
	}
	y, m, d := 2000+n[0]*10+n[1], n[2]*10+n[3], n[4]*10+n[5]
	t := time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC)
	if t.Month() != time.Month(m) || t.Day() != d {
		return time.Time{}, fmt.Errorf("date %04d-%02d-%02d does not exist", y, m, d)
	}
	return t, nil
}
