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
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/mynagate/mynagate/offline/pinless"
)

// ecKey reads a PKCS#8 P-256 key from testdata/pki.
func ecKey(t *testing.T, name string) *ecdsa.PrivateKey {
	t.Helper()
	b, err := os.ReadFile("testdata/pki/" + name)
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

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/pki/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// issue makes an institution certificate for the test institution key.
func issue(t *testing.T, authority *ecdsa.PrivateKey, from, to time.Time, rights pinless.Rights) []byte {
	t.Helper()
	b, err := pinless.Issue(&pinless.Certificate{
		InstitutionCode: "13000001", PublicKey: &ecKey(t, "institution.key").PublicKey,
		NotBefore: from, NotAfter: to, Rights: rights,
	}, authority)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func pso(cert []byte) string { return fmt.Sprintf("002A00BE%02X%X", len(cert), cert) }

// extAuth builds EXTERNAL AUTHENTICATE for challenge with the institution key.
func extAuth(t *testing.T, key *ecdsa.PrivateKey, challenge, nonce []byte, code string) string {
	t.Helper()
	h := sha256.Sum256(bytes.Join([][]byte{challenge, nonce, []byte(code)}, nil))
	r, s, err := ecdsa.Sign(rand.Reader, key, h[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return fmt.Sprintf("00820000%02X%X%X", 16+64, nonce, sig)
}

// challenge sends GET CHALLENGE and returns the 8 bytes.
func challenge(t *testing.T, c *Card) []byte {
	t.Helper()
	r := c.Process(mustHex(t, "0084000008"))
	if len(r) != 10 || !bytes.HasSuffix(r, []byte{0x90, 0x00}) {
		t.Fatalf("GET CHALLENGE: % X", r)
	}
	return r[:8]
}

func TestPINlessSignature(t *testing.T) {
	c, p := testCard(t, "card-001")
	inst := ecKey(t, "institution.key")
	nonce := bytes.Repeat([]byte{0x5A}, 16)
	run(t, c, []string{selectAP + " -> 9000", pso(readFile(t, "institution.cvc")) + " -> 9000"})
	ch := challenge(t, c)
	run(t, c, []string{extAuth(t, inst, ch, nonce, "13000001") + " -> 9000", selectAuthKey + " -> 9000"})
	r := c.Process(mustHex(t, "802A008100"))
	if len(r) != 258 {
		t.Fatalf("PIN-less signature: % X", r[len(r)-2:])
	}
	der, _ := p.certDER(p.Certificate, "certificate")
	cert, _ := x509.ParseCertificate(der)
	m := sha256.Sum256(bytes.Join([][]byte{nonce, ch, []byte("13000001")}, nil))
	if err := rsa.VerifyPKCS1v15(cert.PublicKey.(*rsa.PublicKey), crypto.SHA256, m[:], r[:256]); err != nil {
		t.Fatalf("PIN-less signature does not verify: %v", err)
	}
	// One signature per terminal authentication.
	run(t, c, []string{"802A008100 -> 6982"})
}

func TestPINlessStatusWords(t *testing.T) {
	otherAuthority, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	authority := ecKey(t, "pinless-authority.key")
	inst := ecKey(t, "institution.key")
	valid := readFile(t, "institution.cvc")
	tampered := append([]byte{}, valid...)
	tampered[len(tampered)-1] ^= 1
	day := time.Now().UTC().Truncate(24 * time.Hour)
	sel := selectAP + " -> 9000"
	okPSO := pso(valid) + " -> 9000"
	tests := []struct {
		name    string
		profile string
		steps   func(c *Card) []string
	}{
		{"card without PIN-less: PSO", "no-pinless", func(*Card) []string { return []string{sel, pso(valid) + " -> 6E00"} }},
		{"card without PIN-less: GET CHALLENGE", "no-pinless", func(*Card) []string { return []string{sel, "0084000008 -> 6D00"} }},
		{"card without PIN-less: EF 0016", "juki", func(*Card) []string { return []string{sel, "00A4020C020016 -> 6A82"} }},
		{"EF 0016 holds the authority key", "card-001", func(*Card) []string {
			return []string{sel, "00A4020C020016 -> 9000", "00B0000000 -> 77:9000"}
		}},
		{"PSO before SELECT AP", "card-001", func(*Card) []string { return []string{pso(valid) + " -> 6985"} }},
		{"PSO garbage", "card-001", func(*Card) []string { return []string{sel, "002A00BE037F2100 -> 6A80"} }},
		{"PSO tampered", "card-001", func(*Card) []string { return []string{sel, pso(tampered) + " -> 6300"} }},
		{"PSO other authority", "card-001", func(*Card) []string {
			return []string{sel, pso(issue(t, otherAuthority, day, day.AddDate(1, 0, 0), pinless.RightSign)) + " -> 6A88"}
		}},
		{"PSO expired", "card-001", func(*Card) []string { return []string{sel, pso(readFile(t, "institution-expired.cvc")) + " -> 6984"} }},
		{"PSO without the right", "card-001", func(*Card) []string {
			return []string{sel, pso(issue(t, authority, day, day.AddDate(1, 0, 0), 0)) + " -> 6982"}
		}},
		{"GET CHALLENGE wrong Le", "card-001", func(*Card) []string { return []string{sel, "0084000010 -> 6700", "00840000 -> 6700"} }},
		{"GET CHALLENGE wrong P1", "card-001", func(*Card) []string { return []string{sel, "0084010008 -> 6A86"} }},
		{"EXTERNAL AUTHENTICATE without certificate", "card-001", func(c *Card) []string {
			run(t, c, []string{sel})
			return []string{extAuth(t, inst, challenge(t, c), make([]byte, 16), "13000001") + " -> 6985"}
		}},
		{"EXTERNAL AUTHENTICATE without challenge", "card-001", func(*Card) []string {
			return []string{sel, okPSO, extAuth(t, inst, make([]byte, 8), make([]byte, 16), "13000001") + " -> 6985"}
		}},
		{"EXTERNAL AUTHENTICATE wrong length", "card-001", func(c *Card) []string {
			run(t, c, []string{sel, okPSO})
			challenge(t, c)
			return []string{"0082000001AA -> 6700"}
		}},
		{"EXTERNAL AUTHENTICATE over another code", "card-001", func(c *Card) []string {
			run(t, c, []string{sel, okPSO})
			ch := challenge(t, c)
			return []string{extAuth(t, inst, ch, make([]byte, 16), "13000002") + " -> 6300",
				// A failure drops the certificate: a fresh PSO is needed.
				extAuth(t, inst, ch, make([]byte, 16), "13000001") + " -> 6985"}
		}},
		{"EXTERNAL AUTHENTICATE replays a used challenge", "card-001", func(c *Card) []string {
			run(t, c, []string{sel, okPSO})
			ch := challenge(t, c)
			ea := extAuth(t, inst, ch, make([]byte, 16), "13000001")
			run(t, c, []string{ea + " -> 9000"})
			challenge(t, c)
			return []string{ea + " -> 6300"}
		}},
		{"PIN-less signature without terminal authentication", "card-001", func(*Card) []string {
			return []string{sel, okPSO, selectAuthKey + " -> 9000", "802A008100 -> 6982"}
		}},
		{"reselecting the AP drops terminal authentication", "card-001", func(c *Card) []string {
			run(t, c, []string{sel, okPSO})
			run(t, c, []string{extAuth(t, inst, challenge(t, c), make([]byte, 16), "13000001") + " -> 9000"})
			return []string{sel, selectAuthKey + " -> 9000", "802A008100 -> 6982"}
		}},
		{"PIN-less signature needs EF 0017", "card-001", func(c *Card) []string {
			run(t, c, []string{sel, okPSO})
			run(t, c, []string{extAuth(t, inst, challenge(t, c), make([]byte, 16), "13000001") + " -> 9000"})
			return []string{"802A008100 -> 6985"}
		}},
		{"PIN-less signature takes no data", "card-001", func(c *Card) []string {
			run(t, c, []string{sel, okPSO})
			run(t, c, []string{extAuth(t, inst, challenge(t, c), make([]byte, 16), "13000001") + " -> 9000"})
			return []string{selectAuthKey + " -> 9000", "802A008101AA00 -> 6700"}
		}},
		{"terminal authentication does not unlock the PIN signature", "card-001", func(c *Card) []string {
			run(t, c, []string{sel, okPSO})
			run(t, c, []string{extAuth(t, inst, challenge(t, c), make([]byte, 16), "13000001") + " -> 9000"})
			return []string{selectAuthKey + " -> 9000", signAPDU(t, "x") + " -> 6982"}
		}},
		{"card date moves forward", "card-001", func(*Card) []string {
			shortLived := issue(t, authority, day.AddDate(0, 0, -1), day.AddDate(0, 0, 50), pinless.RightSign)
			later := issue(t, authority, day.AddDate(0, 0, 100), day.AddDate(1, 0, 0), pinless.RightSign)
			return []string{sel, pso(shortLived) + " -> 9000", pso(later) + " -> 9000", pso(shortLived) + " -> 6984"}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := testCard(t, tt.profile)
			run(t, c, tt.steps(c))
		})
	}
}

// FuzzInstitutionCertificate feeds the card's certificate parser directly;
// PSO VERIFY CERTIFICATE hands it outside bytes.
func FuzzInstitutionCertificate(f *testing.F) {
	f.Add(readFile(f, "institution.cvc"))
	f.Add([]byte{0x7F, 0x21, 0x00})
	f.Add([]byte{0x7F, 0x21, 0x82, 0x00, 0x01, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := parseInstitutionCert(b)
		if err == nil && (c.holder == nil || len(c.sig) != 64 || len(c.code) != 8) {
			t.Fatalf("accepted an incomplete certificate: %+v", c)
		}
	})
}
