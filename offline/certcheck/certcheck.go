// Package certcheck checks a card's user-authentication certificate offline: it
// must be signed by a pinned J-LIS root and be valid at the gate clock.
//
// The card also offers its CA certificate (EF 000B); this package never trusts
// it. Only certificates loaded with LoadRoots anchor a chain. J-LIS issues
// several root generations under one identical subject name, so the issuer of a
// certificate is chosen by verifying the signature against every pinned
// certificate carrying the issuer's name, never by the name alone.
//
// The J-LIS shape is root → end entity: the root signs the card certificate
// directly. An intermediate CA is supported only if it is pinned too (put it in
// one of the PEM files given to LoadRoots); it must itself be signed by a pinned
// root, and that is checked when the roots are loaded.
package certcheck

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/mynagate/mynagate/event"
)

// DefaultSkew is the clock tolerance LoadRoots sets: a gate clock may drift
// between NTP syncs, and a card must not be denied for a few seconds of drift.
const DefaultSkew = 5 * time.Minute

// Error is a failed check. Reason is the stable code the gate records:
// event.ReasonUnknownRoot, ReasonCertExpired, ReasonCertNotYetValid or
// ReasonCertInvalid.
type Error struct {
	Reason event.Reason
	Err    error
}

// Error implements error.
func (e *Error) Error() string { return "certcheck: " + string(e.Reason) + ": " + e.Err.Error() }

// Unwrap returns the underlying cause.
func (e *Error) Unwrap() error { return e.Err }

func fail(r event.Reason, format string, args ...any) error {
	return &Error{Reason: r, Err: fmt.Errorf(format, args...)}
}

// Roots is a pinned set of trust anchors (and optionally pinned intermediates).
// It is safe for concurrent use once loaded; do not change Skew while Check
// runs.
type Roots struct {
	// Skew is how far the gate clock may be off: a certificate is accepted from
	// NotBefore-Skew to NotAfter+Skew. LoadRoots sets DefaultSkew.
	Skew time.Duration

	// anchors are the pinned self-signed roots; intermediates the pinned CAs
	// that chain to one of them, each with the root that signed it.
	anchors       []*x509.Certificate
	intermediates []intermediate
}

type intermediate struct {
	cert, root *x509.Certificate
}

// LoadRoots reads one or more PEM files, each holding one or more CERTIFICATE
// blocks, and pins them. Every certificate must be a CA. Self-signed ones are
// roots; any other must be signed by one of the pinned roots (an intermediate).
func LoadRoots(pemFiles ...string) (*Roots, error) {
	if len(pemFiles) == 0 {
		return nil, errors.New("certcheck: load roots: no PEM file given; pass the J-LIS user-authentication root certificates")
	}
	var all []*x509.Certificate
	for _, f := range pemFiles {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("certcheck: load roots: %w", err)
		}
		certs, err := parsePEM(b)
		if err != nil {
			return nil, fmt.Errorf("certcheck: load roots: %s: %w", f, err)
		}
		all = append(all, certs...)
	}
	return NewRoots(all...)
}

// NewRoots pins already parsed certificates, with the same rules as LoadRoots.
func NewRoots(certs ...*x509.Certificate) (*Roots, error) {
	r := &Roots{Skew: DefaultSkew}
	var others []*x509.Certificate
	for _, c := range certs {
		if !c.BasicConstraintsValid || !c.IsCA {
			return nil, fmt.Errorf("certcheck: pin %q (serial %X): not a CA certificate; pin only root or intermediate CA certificates", c.Subject, c.SerialNumber)
		}
		if bytes.Equal(c.RawSubject, c.RawIssuer) && c.CheckSignatureFrom(c) == nil {
			r.anchors = append(r.anchors, c)
		} else {
			others = append(others, c)
		}
	}
	if len(r.anchors) == 0 {
		return nil, errors.New("certcheck: no self-signed root among the pinned certificates; pin the J-LIS root itself, not only an intermediate")
	}
	for _, c := range others {
		root := r.signer(c, r.anchors)
		if root == nil {
			return nil, fmt.Errorf("certcheck: pinned intermediate %q (serial %X) is not signed by any pinned root; pin its root too", c.Subject, c.SerialNumber)
		}
		r.intermediates = append(r.intermediates, intermediate{cert: c, root: root})
	}
	return r, nil
}

func parsePEM(b []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", len(certs)+1, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, errors.New("no CERTIFICATE block found; is this a PEM file?")
	}
	return certs, nil
}

// signer returns the candidate whose key verifies c's signature, trying only
// candidates named as c's issuer. Several may share the name (J-LIS root
// generations); the signature decides. A candidate whose subject key id
// matches c's authority key id is tried first, which saves a failing RSA
// verification on the common path, but the match alone never selects it.
func (r *Roots) signer(c *x509.Certificate, candidates []*x509.Certificate) *x509.Certificate {
	try := func(hinted bool) *x509.Certificate {
		for _, p := range candidates {
			if !bytes.Equal(p.RawSubject, c.RawIssuer) {
				continue
			}
			if h := len(c.AuthorityKeyId) > 0 && bytes.Equal(p.SubjectKeyId, c.AuthorityKeyId); h != hinted {
				continue
			}
			if c.CheckSignatureFrom(p) == nil {
				return p
			}
		}
		return nil
	}
	if p := try(true); p != nil {
		return p
	}
	return try(false)
}

func (r *Roots) named(c *x509.Certificate) bool {
	for _, p := range r.anchors {
		if bytes.Equal(p.RawSubject, c.RawIssuer) {
			return true
		}
	}
	for _, in := range r.intermediates {
		if bytes.Equal(in.cert.RawSubject, c.RawIssuer) {
			return true
		}
	}
	return false
}

// CheckDER parses a certificate as read from the card and checks it. A
// certificate that does not parse is ReasonCertInvalid.
func (r *Roots) CheckDER(der []byte, at time.Time) (*x509.Certificate, error) {
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, &Error{Reason: event.ReasonCertInvalid, Err: fmt.Errorf("parse certificate: %w", err)}
	}
	return c, r.Check(c, at)
}

// Check verifies that cert is an end-entity certificate signed by a pinned root
// (directly, or through a pinned intermediate) and that it and every
// certificate above it are valid at the gate clock at, within Skew. Errors are
// *Error.
func (r *Roots) Check(cert *x509.Certificate, at time.Time) error {
	if cert == nil {
		return fail(event.ReasonCertInvalid, "no certificate")
	}
	if cert.BasicConstraintsValid && cert.IsCA {
		return fail(event.ReasonCertInvalid, "certificate %X is a CA certificate, not a card's", cert.SerialNumber)
	}
	if cert.KeyUsage != 0 && cert.KeyUsage&x509.KeyUsageDigitalSignature == 0 {
		return fail(event.ReasonCertInvalid, "certificate %X does not allow digital signatures (key usage %#x)", cert.SerialNumber, cert.KeyUsage)
	}
	if len(cert.UnhandledCriticalExtensions) > 0 {
		return fail(event.ReasonCertInvalid, "certificate %X has unknown critical extension %v", cert.SerialNumber, cert.UnhandledCriticalExtensions[0])
	}
	if cert.SerialNumber == nil || cert.SerialNumber.Sign() <= 0 {
		return fail(event.ReasonCertInvalid, "certificate serial number is not positive")
	}

	chain := []*x509.Certificate{cert}
	if root := r.signer(cert, r.anchors); root != nil {
		chain = append(chain, root)
	} else {
		var mids []*x509.Certificate
		for _, in := range r.intermediates {
			mids = append(mids, in.cert)
		}
		mid := r.signer(cert, mids)
		if mid == nil {
			if r.named(cert) {
				return fail(event.ReasonUnknownRoot, "certificate %X names issuer %q but no pinned certificate of that name verifies its signature (a root generation not pinned, or a forged certificate)", cert.SerialNumber, cert.Issuer)
			}
			return fail(event.ReasonUnknownRoot, "certificate %X is issued by %q, which is not pinned", cert.SerialNumber, cert.Issuer)
		}
		for _, in := range r.intermediates {
			if in.cert == mid {
				chain = append(chain, mid, in.root)
				break
			}
		}
	}

	for i, c := range chain {
		what := "certificate"
		if i > 0 {
			what = "issuing CA " + c.Subject.String()
		}
		if at.Add(r.Skew).Before(c.NotBefore) {
			return fail(event.ReasonCertNotYetValid, "%s %X is valid from %s, gate clock is %s", what, c.SerialNumber, c.NotBefore.UTC().Format(time.RFC3339), at.UTC().Format(time.RFC3339))
		}
		if at.Add(-r.Skew).After(c.NotAfter) {
			return fail(event.ReasonCertExpired, "%s %X expired at %s, gate clock is %s", what, c.SerialNumber, c.NotAfter.UTC().Format(time.RFC3339), at.UTC().Format(time.RFC3339))
		}
	}
	return nil
}

// CRLIssuer returns the pinned CA (root or intermediate) that signed the
// revocation list: named as its issuer and whose key verifies its signature.
// Several J-LIS root generations share one name; the signature decides.
func (r *Roots) CRLIssuer(l *x509.RevocationList) (*x509.Certificate, error) {
	named := false
	cas := append([]*x509.Certificate{}, r.anchors...)
	for _, in := range r.intermediates {
		cas = append(cas, in.cert)
	}
	for _, ca := range cas {
		if !bytes.Equal(ca.RawSubject, l.RawIssuer) {
			continue
		}
		named = true
		if l.CheckSignatureFrom(ca) == nil {
			return ca, nil
		}
	}
	if !named {
		return nil, fmt.Errorf("certcheck: the revocation list's issuer %q is not a pinned CA; pin its root (roots in the config, or --roots)", l.Issuer)
	}
	return nil, fmt.Errorf("certcheck: the revocation list's signature does not verify with any pinned CA named %q; the file is damaged or forged", l.Issuer)
}
