package crl_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"math/big"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mynagate/mynagate/internal/taptest"
	"github.com/mynagate/mynagate/offline/cardkey"
	"github.com/mynagate/mynagate/offline/certcheck"
	"github.com/mynagate/mynagate/offline/crl"
	"github.com/mynagate/mynagate/vcard/pki"
)

func certOf(t testing.TB, profile string) *x509.Certificate {
	t.Helper()
	blk, _ := pem.Decode([]byte(taptest.Profile(t, profile).Certificate))
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func roots(t testing.TB) *certcheck.Roots {
	t.Helper()
	r, err := certcheck.LoadRoots(filepath.Join(taptest.PKI(t), "root.pem"))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// impostor signs a CRL with a fresh key under the test root's name, as the
// J-LIS root generations share one name.
func impostor(t *testing.T, extra []pkix.Extension) []byte {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pki.RootSubject, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign, BasicConstraintsValid: true, IsCA: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	now := time.Now()
	b, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{Number: big.NewInt(1), ThisUpdate: now, NextUpdate: now.Add(time.Hour), ExtraExtensions: extra}, ca, key)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCheck(t *testing.T) {
	revoked := certOf(t, "card-004.json")
	this := time.Now().UTC().Truncate(time.Second)
	der, err := pki.IssueCRL(taptest.PKI(t), pki.CRLRequest{Serials: []*big.Int{revoked.SerialNumber, big.NewInt(42)}, Number: 7, ThisUpdate: this, NextUpdate: this.Add(24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	pemCRL := pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der})
	for _, in := range [][]byte{der, pemCRL} {
		l, err := crl.Check(in, roots(t))
		if err != nil {
			t.Fatal(err)
		}
		if l.Entries != 2 || l.Number != "7" || !l.ThisUpdate.Equal(this) || !l.NextUpdate.Equal(this.Add(24*time.Hour)) || string(l.IssuerKeyID) != string(revoked.AuthorityKeyId) {
			t.Errorf("info %+v", l.Info)
		}
		keys, err := l.Keys(cardkey.NewSoftware([]byte("0123456789abcdef0123456789abcdef")))
		if err != nil {
			t.Fatal(err)
		}
		want, _ := cardkey.ForCert(cardkey.NewSoftware([]byte("0123456789abcdef0123456789abcdef")), revoked)
		if keys[0] != want {
			t.Errorf("card key of the revoked card %s, want %s (the key its tap computes)", keys[0], want)
		}
		if l.Stale(this.Add(23*time.Hour)) || !l.Stale(this.Add(25*time.Hour)) {
			t.Error("Stale does not follow next update")
		}
	}

	tampered := append([]byte{}, der...)
	tampered[len(tampered)-1] ^= 1
	delta := impostor(t, []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 27}, Value: []byte{0x02, 0x01, 0x01}}})
	for _, tc := range []struct {
		name string
		in   []byte
		want string
	}{
		{"not a CRL", []byte("hello"), "parse"},
		{"certificate PEM", []byte(taptest.Profile(t, "card-001.json").Certificate), `PEM block "CERTIFICATE"`},
		{"tampered signature", tampered, "does not verify"},
		{"same name, another key", impostor(t, nil), "does not verify"},
		{"delta CRL", delta, "delta CRL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := crl.Check(tc.in, roots(t))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Check error = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

// FuzzParse feeds Parse outside bytes: a CRL file comes from the operator.
func FuzzParse(f *testing.F) {
	der, err := pki.IssueCRL(taptest.PKI(f), pki.CRLRequest{Serials: []*big.Int{big.NewInt(1), big.NewInt(0x7FFFFFFF)}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(der)
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der}))
	f.Add([]byte("-----BEGIN X509 CRL-----\n-----END X509 CRL-----\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := crl.Parse(b)
		if err == nil && l == nil {
			t.Fatal("nil list without an error")
		}
	})
}
