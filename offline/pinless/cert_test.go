package pinless

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"os"
	"strings"
	"testing"
	"time"
)

func loadKey(t testing.TB, name string) *ecdsa.PrivateKey {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return k.(*ecdsa.PrivateKey)
}

func loadFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestIssueParseRoundTrip(t *testing.T) {
	authority := loadKey(t, "pinless-authority.key")
	inst := loadKey(t, "institution.key")
	in := &Certificate{
		InstitutionCode: "13000001",
		PublicKey:       &inst.PublicKey,
		NotBefore:       time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:        time.Date(2027, 3, 31, 0, 0, 0, 0, time.UTC),
		Rights:          RightSign,
	}
	b, err := Issue(in, authority)
	if err != nil {
		t.Fatal(err)
	}
	c, err := ParseCertificate(b)
	if err != nil {
		t.Fatal(err)
	}
	if c.InstitutionCode != in.InstitutionCode || !c.PublicKey.Equal(in.PublicKey) || !c.NotBefore.Equal(in.NotBefore) ||
		!c.NotAfter.Equal(in.NotAfter) || c.Rights != RightSign || c.AuthorityRef != AuthorityRef(&authority.PublicKey) {
		t.Errorf("round trip changed the certificate: %+v", c)
	}
	if err := c.CheckSignature(&authority.PublicKey); err != nil {
		t.Error(err)
	}
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err := c.CheckSignature(&other.PublicKey); err == nil {
		t.Error("signature checked with another authority's key")
	}
}

// TestFixtureLayout pins the wire format of docs/pinless.md §2 on the
// generated certificate: tags, lengths and field order.
func TestFixtureLayout(t *testing.T) {
	b := loadFile(t, "institution.cvc")
	prefix := []byte{0x7F, 0x21, 0x81, 0xBA, 0x7F, 0x4E, 0x74, 0x5F, 0x29, 0x01, 0x01, 0x42, 0x08}
	if len(b) != 190 || !bytes.HasPrefix(b, prefix) {
		t.Fatalf("institution.cvc: %d bytes, starts % X; want 190 starting % X", len(b), b[:min(len(b), 13)], prefix)
	}
	c, err := ParseCertificate(b)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(loadFile(t, "pinless-authority.pem"))
	pub, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.CheckSignature(pub.(*ecdsa.PublicKey)); err != nil {
		t.Error(err)
	}
}

func TestParseCertificateErrors(t *testing.T) {
	good := loadFile(t, "institution.cvc")
	mutate := func(f func(b []byte) []byte) []byte { return f(append([]byte{}, good...)) }
	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{"empty", nil, "truncated"},
		{"wrong outer tag", mutate(func(b []byte) []byte { b[1] = 0x22; return b }), "tag"},
		{"trailing byte", append(append([]byte{}, good...), 0), "trailing"},
		{"truncated", good[:100], "past the end"},
		{"version 2", mutate(func(b []byte) []byte { b[10] = 2; return b }), "version"},
		{"code not digits", mutate(func(b []byte) []byte { b[24] = 'A'; return b }), "institution code"},
		{"date digit", mutate(func(b []byte) []byte { b[len(b)-67-3-8+2] = 0x0A; return b }), "date"},
		{"non-minimal length", append([]byte{0x7F, 0x21, 0x81, 0x01}, 0x00), "length"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseCertificate(tt.in)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ParseCertificate error = %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}

func FuzzParseCertificate(f *testing.F) {
	f.Add(loadFile(f, "institution.cvc"))
	f.Add(loadFile(f, "institution-expired.cvc"))
	f.Add([]byte{0x7F, 0x21, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseCertificate(b)
		if err != nil {
			return
		}
		if c.PublicKey == nil || len(c.Signature) != 64 || checkCode(c.InstitutionCode) != nil {
			t.Fatalf("accepted an incomplete certificate: %+v", c)
		}
		// Whatever parses must re-encode to the same bytes: the format has
		// one encoding per certificate.
		if !bytes.Equal(c.Raw, b) || !bytes.Equal(c.RawBody, b[len(b)-len(c.RawBody)-67:len(b)-67]) {
			t.Fatalf("raw fields do not match the input")
		}
	})
}
