// Package pki writes a test PKI in the shape of J-LIS's user-authentication
// hierarchy, and virtual-card profiles that use it: a pinned root, a "wrong"
// root with the same name, valid, expired and special cards, and a whitelist of
// the valid cards but the last one.
package pki

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Options tune Init. The zero value writes five numbered cards dated now.
type Options struct {
	// Cards is how many numbered valid cards to write (card-001.json ...);
	// 0 means 5. The whitelist lists all but the last.
	Cards int
	// Now anchors every validity period; zero means time.Now().
	Now time.Time
}

// PIN is the user-authentication PIN of every generated card.
const PIN = "1234"

// RootSubject is the test root's name: J-LIS's user-authentication root with
// O=JPKI-TEST, the name J-LIS gives its test hierarchy. The two OUs are
// separate RDNs as in J-LIS's roots, hence ExtraNames (pkix.Name would put
// them into one multi-valued RDN).
var RootSubject = pkix.Name{
	Country:      []string{"JP"},
	Organization: []string{"JPKI-TEST"},
	ExtraNames: []pkix.AttributeTypeAndValue{
		{Type: oidOU, Value: "JPKI for user authentication"},
		{Type: oidOU, Value: "Japan Agency for Local Authority Information Systems"},
	},
}

// Test-only identifiers: OIDs under the ITU-T example arc 2.999 and URLs in
// .invalid, so no generated certificate can be mistaken for a real one.
var (
	oidPolicy       = asn1.ObjectIdentifier{2, 999, 392, 200149, 8, 5, 1, 3, 30}
	oidCPS          = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 2, 1}
	oidCertPolicies = asn1.ObjectIdentifier{2, 5, 29, 32}
	oidIssuerAlt    = asn1.ObjectIdentifier{2, 5, 29, 18}
	oidOU           = asn1.ObjectIdentifier{2, 5, 4, 11}
)

const (
	cpsURL  = "http://www.jpki-test.invalid/cps/auth/"
	crlURL  = "http://crl.jpki-test.invalid/auth/crl/jpki-test-auth-ca.crl"
	ocspURL = "http://ocsp.jpki-test.invalid/auth"
)

// authority is a CA certificate with its key.
type authority struct {
	cert *x509.Certificate
	key  *rsa.PrivateKey
}

func newRoot(now time.Time) (authority, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return authority{}, fmt.Errorf("generate root key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               RootSubject,
		NotBefore:             now.AddDate(-1, 0, 0),
		NotAfter:              now.AddDate(9, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		SignatureAlgorithm:    x509.SHA256WithRSA,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return authority{}, fmt.Errorf("sign root: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return authority{}, fmt.Errorf("parse root: %w", err)
	}
	return authority{cert: cert, key: key}, nil
}

// randomSerial is a positive 63-bit serial, random like J-LIS's.
func randomSerial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 63))
	if err != nil {
		panic("pki: crypto/rand failed: " + err.Error())
	}
	return n.Add(n, big.NewInt(1))
}

// opaqueCN mimics the user-authentication certificate's subject CN: an opaque
// identifier with nothing personal in it.
func opaqueCN() string {
	b := make([]byte, 12)
	rand.Read(b) //nolint:errcheck // crypto/rand never fails on Linux
	return strings.ToUpper(fmt.Sprintf("%x", b))
}

// userExtensions are the extensions real user-authentication certificates
// carry besides key usage and key identifiers; they make the DER 1.2-1.6 KB so
// a reader needs the same 5-7 short READ BINARY chunks as on a real card.
func userExtensions() ([]pkix.Extension, error) {
	type qualifier struct {
		ID  asn1.ObjectIdentifier
		URI string `asn1:"ia5"`
	}
	type policy struct {
		ID         asn1.ObjectIdentifier
		Qualifiers []qualifier
	}
	pol, err := asn1.Marshal([]policy{{ID: oidPolicy, Qualifiers: []qualifier{{ID: oidCPS, URI: cpsURL}}}})
	if err != nil {
		return nil, err
	}
	// IssuerAltName as a directoryName in Japanese, like J-LIS's.
	dn, err := asn1.Marshal(pkix.Name{
		Country:            []string{"JP"},
		Organization:       []string{"公的個人認証サービス(テスト)"},
		OrganizationalUnit: []string{"公的個人認証サービス利用者証明用"},
	}.ToRDNSequence())
	if err != nil {
		return nil, err
	}
	ian, err := asn1.Marshal([]asn1.RawValue{{Class: asn1.ClassContextSpecific, Tag: 4, IsCompound: true, Bytes: dn}})
	if err != nil {
		return nil, err
	}
	return []pkix.Extension{
		{Id: oidCertPolicies, Critical: true, Value: pol},
		{Id: oidIssuerAlt, Value: ian},
	}, nil
}

// issueUser makes a user-authentication certificate and key valid from
// notBefore to notAfter.
func issueUser(ca authority, notBefore, notAfter time.Time) (*x509.Certificate, *rsa.PrivateKey, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, nil, fmt.Errorf("generate card key: %w", err)
	}
	ext, err := userExtensions()
	if err != nil {
		return nil, nil, fmt.Errorf("encode extensions: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               pkix.Name{Country: []string{"JP"}, CommonName: opaqueCN()},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: false,
		CRLDistributionPoints: []string{crlURL},
		OCSPServer:            []string{ocspURL},
		ExtraExtensions:       ext,
		SignatureAlgorithm:    x509.SHA256WithRSA,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return nil, nil, fmt.Errorf("sign card certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, fmt.Errorf("parse card certificate: %w", err)
	}
	return cert, key, nil
}

func certPEM(c *x509.Certificate) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}))
}

func keyPEM(k any) (string, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return "", err
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})), nil
}

func writeFile(dir, name string, b []byte, mode os.FileMode) error {
	if err := os.WriteFile(filepath.Join(dir, name), b, mode); err != nil {
		return fmt.Errorf("pki: write %s: %w", name, err)
	}
	return nil
}
