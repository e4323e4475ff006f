// Package crl imports X.509 certificate revocation lists (RFC 5280) of the
// J-LIS user-authentication CA: it parses a CRL (DER or PEM), checks its
// signature against a pinned CA, and turns every revoked (issuer, serial) into
// the card key by which gates and lists know the card (package cardkey). It
// keeps no personal data: a CRL names certificates by serial only.
package crl

import (
	"bytes"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/mynagate/mynagate/offline/cardkey"
	"github.com/mynagate/mynagate/offline/certcheck"
)

// oidDeltaCRLIndicator marks a delta CRL (RFC 5280 §5.2.4), which lists only
// changes since a base CRL; only complete CRLs are imported.
var oidDeltaCRLIndicator = asn1.ObjectIdentifier{2, 5, 29, 27}

// Info describes a checked CRL: who issued it, its number and dates.
type Info struct {
	// Issuer is the CA's subject, as text.
	Issuer string `json:"issuer"`
	// IssuerKeyID is the CA's subject key identifier: the authority key
	// identifier of the certificates it revokes, half of their card keys.
	IssuerKeyID []byte `json:"issuer_key_id"`
	// Number is the CRL number extension in decimal, "" when absent.
	Number string `json:"number,omitempty"`
	// ThisUpdate is when the CRL was issued; NextUpdate when the next one is
	// due. A CRL past NextUpdate is stale.
	ThisUpdate time.Time `json:"this_update"`
	NextUpdate time.Time `json:"next_update"`
	// Entries is the number of revoked certificates it lists.
	Entries int `json:"entries"`
}

// Stale reports whether the CRL is past its next update at now: a newer one
// exists and revocations since are unknown.
func (i Info) Stale(now time.Time) bool { return now.After(i.NextUpdate) }

// List is a CRL whose signature has been checked against a pinned CA.
type List struct {
	Info
	serials [][]byte
}

// Parse decodes a CRL from DER or from PEM ("X509 CRL" block). It does not
// check the signature; Check does.
func Parse(b []byte) (*x509.RevocationList, error) {
	der := b
	if blk, _ := pem.Decode(b); blk != nil {
		if blk.Type != "X509 CRL" {
			return nil, fmt.Errorf("crl: PEM block %q, want \"X509 CRL\"", blk.Type)
		}
		der = blk.Bytes
	} else if bytes.HasPrefix(bytes.TrimSpace(b), []byte("-----BEGIN")) {
		return nil, errors.New("crl: malformed PEM")
	}
	l, err := x509.ParseRevocationList(der)
	if err != nil {
		return nil, fmt.Errorf("crl: parse: %w (is the file a DER or PEM X.509 CRL?)", err)
	}
	return l, nil
}

// Check parses b, requires a complete CRL with a next update, and checks its
// signature against the pinned CA that issued it.
func Check(b []byte, roots *certcheck.Roots) (*List, error) {
	l, err := Parse(b)
	if err != nil {
		return nil, err
	}
	for _, e := range l.Extensions {
		if e.Id.Equal(oidDeltaCRLIndicator) {
			return nil, errors.New("crl: a delta CRL; import the complete CRL it is based on")
		}
	}
	ca, err := roots.CRLIssuer(l)
	if err != nil {
		return nil, fmt.Errorf("crl: %w", err)
	}
	if len(ca.SubjectKeyId) == 0 {
		return nil, fmt.Errorf("crl: issuing CA %q has no subject key identifier, so its certificates' card keys cannot be computed", ca.Subject)
	}
	if len(l.AuthorityKeyId) > 0 && !bytes.Equal(l.AuthorityKeyId, ca.SubjectKeyId) {
		return nil, fmt.Errorf("crl: authority key identifier %X is not the key %X that signed it; the CRL is malformed", l.AuthorityKeyId, ca.SubjectKeyId)
	}
	if l.NextUpdate.IsZero() {
		return nil, errors.New("crl: no next update; without one a gate cannot tell a stale CRL (RFC 5280 requires it)")
	}
	out := &List{Info: Info{Issuer: ca.Subject.String(), IssuerKeyID: bytes.Clone(ca.SubjectKeyId),
		ThisUpdate: l.ThisUpdate, NextUpdate: l.NextUpdate, Entries: len(l.RevokedCertificateEntries)}}
	if l.Number != nil {
		out.Number = l.Number.String()
	}
	out.serials = make([][]byte, len(l.RevokedCertificateEntries))
	for i, e := range l.RevokedCertificateEntries {
		if e.SerialNumber == nil || e.SerialNumber.Sign() <= 0 {
			return nil, fmt.Errorf("crl: entry %d: serial number not positive", i)
		}
		out.serials[i] = e.SerialNumber.Bytes()
	}
	return out, nil
}

// Keys returns the card key of every revoked certificate, in the CRL's order,
// computed with k (the HSM-held secret on a gate). Keys are computed in
// parallel; k must be safe for concurrent use, as every cardkey.Keyer is.
func (l *List) Keys(k cardkey.Keyer) ([]cardkey.Key, error) {
	keys := make([]cardkey.Key, len(l.serials))
	workers := min(runtime.GOMAXPROCS(0), max(1, len(l.serials)/1024))
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(l.serials); i += workers {
				var err error
				if keys[i], err = k.CardKey(l.IssuerKeyID, l.serials[i]); err != nil {
					errs[w] = fmt.Errorf("crl: card key of serial %X: %w", l.serials[i], err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return keys, nil
}
