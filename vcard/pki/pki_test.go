package pki_test

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/csv"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mynagate/mynagate/vcard"
	"github.com/mynagate/mynagate/vcard/pki"
)

func readCert(t *testing.T, pemText string) *x509.Certificate {
	t.Helper()
	b, _ := pem.Decode([]byte(pemText))
	if b == nil {
		t.Fatal("no PEM block")
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestInit(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 4, 1, 9, 0, 0, 0, time.UTC)
	if err := pki.Init(dir, pki.Options{Cards: 3, Now: now}); err != nil {
		t.Fatal(err)
	}
	rootPEM, err := os.ReadFile(filepath.Join(dir, "root.pem"))
	if err != nil {
		t.Fatal(err)
	}
	wrongPEM, err := os.ReadFile(filepath.Join(dir, "wrong-root.pem"))
	if err != nil {
		t.Fatal(err)
	}
	root, wrong := readCert(t, string(rootPEM)), readCert(t, string(wrongPEM))
	if string(root.RawSubject) != string(wrong.RawSubject) || string(root.SubjectKeyId) == string(wrong.SubjectKeyId) {
		t.Error("wrong root must share the root's name and not its key")
	}
	// J-LIS roots carry four single-valued RDNs: C, O, OU, OU.
	var rdns pkix.RDNSequence
	if _, err := asn1.Unmarshal(root.RawSubject, &rdns); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, rdn := range rdns {
		for _, atv := range rdn {
			got = append(got, fmt.Sprint(atv.Value))
		}
		if len(rdn) != 1 {
			t.Errorf("multi-valued RDN %v", rdn)
		}
	}
	if want := "JP|JPKI-TEST|JPKI for user authentication|Japan Agency for Local Authority Information Systems"; strings.Join(got, "|") != want {
		t.Errorf("root subject %q, want %q", strings.Join(got, "|"), want)
	}
	pool := x509.NewCertPool()
	pool.AddCert(root)

	tests := []struct {
		profile string
		label   string
		wantErr error // from Verify against root.pem at now
	}{
		{"card-001", vcard.LabelMyNumberCard, nil},
		{"card-002", vcard.LabelMyNumberCard, nil},
		{"card-003", vcard.LabelMyNumberCard, nil},
		{"juki", vcard.LabelJukiCard, nil},
		{"phone", vcard.LabelAndroid, nil},
		{"pulled", vcard.LabelMyNumberCard, nil},
		{"wrong-root", vcard.LabelMyNumberCard, x509.UnknownAuthorityError{}},
		{"expired", vcard.LabelMyNumberCard, x509.CertificateInvalidError{}},
	}
	certs := map[string]*x509.Certificate{}
	for _, tt := range tests {
		t.Run(tt.profile, func(t *testing.T) {
			p, err := vcard.LoadProfile(filepath.Join(dir, tt.profile+".json"))
			if err != nil {
				t.Fatal(err)
			}
			if p.Label != tt.label {
				t.Errorf("label %q, want %q", p.Label, tt.label)
			}
			c := readCert(t, p.Certificate)
			certs[tt.profile] = c
			if n := len(c.Raw); n < 1025 || n > 1600 {
				t.Errorf("certificate is %d bytes, want 1.2-1.6 KB like a real one", n)
			}
			if c.KeyUsage != x509.KeyUsageDigitalSignature || len(c.AuthorityKeyId) == 0 || len(c.CRLDistributionPoints) != 1 {
				t.Errorf("key usage %v, AKI % X, CRL DP %v", c.KeyUsage, c.AuthorityKeyId, c.CRLDistributionPoints)
			}
			_, err = c.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
			switch tt.wantErr.(type) {
			case nil:
				if err != nil {
					t.Errorf("does not chain to root.pem: %v", err)
				}
			case x509.UnknownAuthorityError:
				if !errors.As(err, new(x509.UnknownAuthorityError)) {
					t.Errorf("Verify = %v, want unknown authority", err)
				}
			case x509.CertificateInvalidError:
				if !errors.As(err, new(x509.CertificateInvalidError)) {
					t.Errorf("Verify = %v, want expired", err)
				}
			}
		})
	}
	if p, err := vcard.LoadProfile(filepath.Join(dir, "transit.json")); err != nil || p.Label != "" {
		t.Errorf("transit profile: %v, label %q", err, p.Label)
	}

	f, err := os.Open(filepath.Join(dir, "whitelist.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(rows[0], ",") != strings.Join(pki.WhitelistHeader, ",") {
		t.Errorf("header %v", rows[0])
	}
	if len(rows) != 3 {
		t.Fatalf("whitelist has %d rows, want header + card-001, card-002", len(rows))
	}
	for i, name := range []string{"card-001", "card-002"} {
		c, row := certs[name], rows[i+1]
		if row[0] != hex.EncodeToString(c.AuthorityKeyId) || row[1] != strings.ToUpper(c.SerialNumber.Text(16)) || row[3] != "ticket" {
			t.Errorf("row for %s: %v", name, row)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "README.txt")); err != nil {
		t.Error(err)
	}
}

func TestInitRejectsCardCount(t *testing.T) {
	if err := pki.Init(t.TempDir(), pki.Options{Cards: -1}); err == nil {
		t.Error("Init accepted -1 cards")
	}
}
