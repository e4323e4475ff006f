// Package certchecktest makes J-LIS-shaped certificates for tests: roots that
// share the real J-LIS subject name under freshly generated keys, and card
// (end-entity) certificates they sign directly, as J-LIS does.
package certchecktest

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// JLISName is the subject every J-LIS user-authentication root generation has.
var JLISName = pkix.Name{
	Country:            []string{"JP"},
	Organization:       []string{"JPKI"},
	OrganizationalUnit: []string{"JPKI for user authentication", "Japan Agency for Local Authority Information Systems"},
}

// CA is a generated certificate authority. It is not safe for concurrent use.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer

	// leafKey is the subject key of every leaf this CA makes: generating an
	// RSA-2048 key per leaf would make tests slow, and checks never depend on
	// the leaf's own key.
	leafKey *rsa.PrivateKey
}

// NewRoot makes a self-signed RSA-2048 root named name, valid from notBefore
// to notAfter.
func NewRoot(t testing.TB, name pkix.Name, serial int64, notBefore, notAfter time.Time) *CA {
	t.Helper()
	return NewRootWithKeyID(t, name, serial, notBefore, notAfter, nil)
}

// NewRootWithKeyID is NewRoot with a chosen subject key identifier, which
// becomes the authority key identifier of every certificate the root signs
// (and so part of their card keys); nil derives it from the key.
func NewRootWithKeyID(t testing.TB, name pkix.Name, serial int64, notBefore, notAfter time.Time, keyID []byte) *CA {
	t.Helper()
	key := newKey(t)
	if keyID == nil {
		keyID = keyIDOf(t, &key.PublicKey)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serial),
		Subject:               name,
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		SubjectKeyId:          keyID,
	}
	return &CA{Cert: create(t, tmpl, tmpl, &key.PublicKey, key), Key: key}
}

// Intermediate makes a CA certificate named name, signed by ca.
func (ca *CA) Intermediate(t testing.TB, name pkix.Name, serial int64, notBefore, notAfter time.Time) *CA {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serial),
		Subject:               name,
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		SubjectKeyId:          keyIDOf(t, &key.PublicKey),
	}
	return &CA{Cert: create(t, tmpl, ca.Cert, &key.PublicKey, ca.Key), Key: key}
}

// Leaf makes a card user-authentication certificate signed by ca, with an
// opaque CN, digital-signature key usage and the authority key identifier set
// to ca's subject key identifier. All leaves of one CA share one subject key.
// edit, if not nil, may change the template
// before signing.
func (ca *CA) Leaf(t testing.TB, serial *big.Int, notBefore, notAfter time.Time, edit func(*x509.Certificate)) *x509.Certificate {
	t.Helper()
	if ca.leafKey == nil {
		ca.leafKey = newKey(t)
	}
	key := ca.leafKey
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "TEST" + serial.Text(16)},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		AuthorityKeyId:        ca.Cert.SubjectKeyId,
	}
	if edit != nil {
		edit(tmpl)
	}
	return create(t, tmpl, ca.Cert, &key.PublicKey, ca.Key)
}

// WritePEM writes certs to a new PEM file in t.TempDir and returns its path.
func WritePEM(t testing.TB, certs ...*x509.Certificate) string {
	t.Helper()
	var b []byte
	for _, c := range certs {
		b = append(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	p := filepath.Join(t.TempDir(), "roots.pem")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func newKey(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func keyIDOf(t testing.TB, pub *rsa.PublicKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha1.Sum(der)
	return sum[:]
}

func create(t testing.TB, tmpl, parent *x509.Certificate, pub any, signer crypto.Signer) *x509.Certificate {
	t.Helper()
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
