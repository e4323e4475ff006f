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

// extAuth builds the version 2 EXTERNAL AUTHENTICATE for challenge with the
// institution key, for the certificate cert sent in PSO. Written from
// docs/pinless.md §4, not with offline/pinless.
func extAuth(t *testing.T, key *ecdsa.PrivateKey, cert, challenge, nonce []byte, code string) string {
	t.Helper()
	ch := sha256.Sum256(cert)
	sig := sign64(t, key, bytes.Join([][]byte{[]byte("mynagate pinless v2 terminal"), ch[:], challenge, nonce, []byte(code)}, nil))
	return fmt.Sprintf("00820200%02X%X%X", 16+64, nonce, sig)
}

// extAuthV1 builds the version 1 EXTERNAL AUTHENTICATE.
func extAuthV1(t *testing.T, key *ecdsa.PrivateKey, challenge, nonce []byte, code string) string {
	t.Helper()
	sig := sign64(t, key, bytes.Join([][]byte{challenge, nonce, []byte(code)}, nil))
	return fmt.Sprintf("00820000%02X%X%X", 16+64, nonce, sig)
}

// sign64 is ECDSA P-256 over SHA-256(msg), hashed once, as r || s.
func sign64(t *testing.T, key *ecdsa.PrivateKey, msg []byte) []byte {
	t.Helper()
	h := sha256.Sum256(msg)
	r, s, err := ecdsa.Sign(rand.Reader, key, h[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return sig
}

// v1Card is card-001 built to the version 1 protocol.
func v1Card(t *testing.T) (*Card, *Profile) {
	t.Helper()
	p, err := LoadProfile("testdata/pki/card-001.json")
	if err != nil {
		t.Fatal(err)
	}
	p.Version = 1
	return NewCard(p), p
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
	cert := readFile(t, "institution.cvc")
	nonce := bytes.Repeat([]byte{0x5A}, 16)
	run(t, c, []string{selectAP + " -> 9000", pso(cert) + " -> 9000"})
	ch := challenge(t, c)
	ea := extAuth(t, inst, cert, ch, nonce, "13000001")
	run(t, c, []string{ea + " -> 9000", selectAuthKey + " -> 9000"})
	r := c.Process(mustHex(t, "802A008200"))
	if len(r) != 258 {
		t.Fatalf("PIN-less signature: % X", r[len(r)-2:])
	}
	der, _ := p.certDER(p.Certificate, "certificate")
	cardCert, _ := x509.ParseCertificate(der)
	certHash := sha256.Sum256(cert)
	sigT := mustHex(t, ea)[5+16:]
	m := sha256.Sum256(bytes.Join([][]byte{[]byte("mynagate pinless v2 card"), certHash[:], nonce, ch, []byte("13000001"), sigT}, nil))
	pub := cardCert.PublicKey.(*rsa.PublicKey)
	if err := rsa.VerifyPSS(pub, crypto.SHA256, m[:], r[:256], &rsa.PSSOptions{SaltLength: 32}); err != nil {
		t.Fatalf("PIN-less signature does not verify as RSASSA-PSS over M: %v", err)
	}
	if rsa.VerifyPKCS1v15(pub, crypto.SHA256, m[:], r[:256]) == nil {
		t.Fatal("the version 2 signature is PKCS#1 v1.5, the PIN-level form")
	}
	// One signature per terminal authentication.
	run(t, c, []string{"802A008200 -> 6982"})
}

func TestPINlessSignatureV1(t *testing.T) {
	c, p := v1Card(t)
	inst := ecKey(t, "institution.key")
	nonce := bytes.Repeat([]byte{0x5A}, 16)
	run(t, c, []string{selectAP + " -> 9000", pso(readFile(t, "institution.cvc")) + " -> 9000"})
	ch := challenge(t, c)
	run(t, c, []string{extAuthV1(t, inst, ch, nonce, "13000001") + " -> 9000", selectAuthKey + " -> 9000"})
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
			return []string{extAuth(t, inst, valid, challenge(t, c), make([]byte, 16), "13000001") + " -> 6985"}
		}},
		{"EXTERNAL AUTHENTICATE without challenge", "card-001", func(*Card) []string {
			return []string{sel, okPSO, extAuth(t, inst, valid, make([]byte, 8), make([]byte, 16), "13000001") + " -> 6985"}
		}},
		{"EXTERNAL AUTHENTICATE wrong length", "card-001", func(c *Card) []string {
			run(t, c, []string{sel, okPSO})
			challenge(t, c)
			return []string{"0082020001AA -> 6700"}
		}},
		{"EXTERNAL AUTHENTICATE over another code", "card-001", func(c *Card) []string {
			run(t, c, []string{sel, okPSO})
			ch := challenge(t, c)
			return []string{extAuth(t, inst, valid, ch, make([]byte, 16), "13000002") + " -> 6300",
				// A failure drops the certificate: a fresh PSO is needed.
				extAuth(t, inst, valid, ch, make([]byte, 16), "13000001") + " -> 6985"}
		}},
		{"EXTERNAL AUTHENTICATE replays a used challenge", "card-001", func(c *Card) []string {
			run(t, c, []string{sel, okPSO})
			ch := challenge(t, c)
			ea := extAuth(t, inst, valid, ch, make([]byte, 16), "13000001")
			run(t, c, []string{ea + " -> 9000"})
			challenge(t, c)
			return []string{ea + " -> 6300"}
		}},
		{"PIN-less signature without terminal authentication", "card-001", func(*Card) []string {
			return []string{sel, okPSO, selectAuthKey + " -> 9000", "802A008200 -> 6982"}
		}},
		{"reselecting the AP drops terminal authentication", "card-001", func(c *Card) []string {
			run(t, c, []string{sel, okPSO})
			run(t, c, []string{extAuth(t, inst, valid, challenge(t, c), make([]byte, 16), "13000001") + " -> 9000"})
			return []string{sel, selectAuthKey + " -> 9000", "802A008200 -> 6982"}
		}},
		{"PIN-less signature needs EF 0017", "card-001", func(c *Card) []string {
			run(t, c, []string{sel, okPSO})
			run(t, c, []string{extAuth(t, inst, valid, challenge(t, c), make([]byte, 16), "13000001") + " -> 9000"})
			return []string{"802A008200 -> 6985"}
		}},
		{"PIN-less signature takes no data", "card-001", func(c *Card) []string {
			run(t, c, []string{sel, okPSO})
			run(t, c, []string{extAuth(t, inst, valid, challenge(t, c), make([]byte, 16), "13000001") + " -> 9000"})
			return []string{selectAuthKey + " -> 9000", "802A008201AA00 -> 6700"}
		}},
		{"terminal authentication does not unlock the PIN signature", "card-001", func(c *Card) []string {
			run(t, c, []string{sel, okPSO})
			run(t, c, []string{extAuth(t, inst, valid, challenge(t, c), make([]byte, 16), "13000001") + " -> 9000"})
			return []string{selectAuthKey + " -> 9000", signAPDU(t, "x") + " -> 6982"}
		}},
		{"PIN-less signature needs Le 00", "card-001", func(c *Card) []string {
			run(t, c, []string{sel, okPSO})
			run(t, c, []string{extAuth(t, inst, valid, challenge(t, c), make([]byte, 16), "13000001") + " -> 9000"})
			return []string{selectAuthKey + " -> 9000", "802A0082 -> 6700", "802A008280 -> 6700",
				// The length error does not spend the authentication.
				"802A008200 -> 256:9000"}
		}},
		{"a verified PIN does not unlock the PIN-less signature", "card-001", func(*Card) []string {
			return []string{sel, selectAuthPIN + " -> 9000", verifyPIN[:len(verifyPIN)-2] + " -> 9000", selectAuthKey + " -> 9000", "802A008200 -> 6982"}
		}},
		{"version 1 EXTERNAL AUTHENTICATE on a version 2 card", "card-001", func(c *Card) []string {
			run(t, c, []string{sel, okPSO})
			ch := challenge(t, c)
			return []string{extAuthV1(t, inst, ch, make([]byte, 16), "13000001") + " -> 6A86",
				// P1-P2 is checked first and spends nothing.
				extAuth(t, inst, valid, ch, make([]byte, 16), "13000001") + " -> 9000",
				selectAuthKey + " -> 9000", "802A008100 -> 6A86", "802A008200 -> 256:9000"}
		}},
		{"SIG_T over another certificate", "card-001", func(c *Card) []string {
			run(t, c, []string{sel, okPSO})
			return []string{extAuth(t, inst, tampered, challenge(t, c), make([]byte, 16), "13000001") + " -> 6300"}
		}},
		{"GET CHALLENGE keeps the certificate", "card-001", func(c *Card) []string {
			run(t, c, []string{sel, okPSO})
			challenge(t, c)
			return []string{extAuth(t, inst, valid, challenge(t, c), make([]byte, 16), "13000001") + " -> 9000"}
		}},
		{"PSO with a length not in its shortest form", "card-001", func(*Card) []string {
			long := append([]byte{0x7F, 0x21, 0x82, 0x00, 0xBA}, valid[4:]...)
			return []string{sel, pso(long) + " -> 6A80", extAuth(t, inst, valid, make([]byte, 8), make([]byte, 16), "13000001") + " -> 6985"}
		}},
		{"PSO of 191 bytes", "card-001", func(*Card) []string { return []string{sel, pso(append(valid[:len(valid):len(valid)], 0)) + " -> 6A80"} }},
		{"PSO of 189 bytes", "card-001", func(*Card) []string { return []string{sel, pso(valid[:len(valid)-1]) + " -> 6A80"} }},
		{"GET CHALLENGE without random bytes drops the certificate", "card-001", func(c *Card) []string {
			run(t, c, []string{sel, okPSO})
			c.SetChallengeSource(bytes.NewReader([]byte{1, 2, 3, 4, 5, 6, 7, 8}))
			return []string{"0084000008 -> 8:9000", "0084000008 -> 6F00",
				extAuth(t, inst, valid, []byte{1, 2, 3, 4, 5, 6, 7, 8}, make([]byte, 16), "13000001") + " -> 6985"}
		}},
		{"a failed SELECT of the AP changes nothing", "card-001", func(c *Card) []string {
			run(t, c, []string{sel, okPSO})
			run(t, c, []string{extAuth(t, inst, valid, challenge(t, c), make([]byte, 16), "13000001") + " -> 9000"})
			return []string{"00A4040C0AD392F000260100000002 -> 6A82", "00A404000AD392F000260100000001 -> 6A86",
				selectAuthKey + " -> 9000", "802A008200 -> 256:9000"}
		}},
		{"GET CHALLENGE before SELECT AP", "card-001", func(*Card) []string { return []string{"0084000008 -> 8:9000"} }},
		{"GET CHALLENGE with CLA 80", "card-001", func(*Card) []string { return []string{sel, "8084000008 -> 6D00"} }},
		{"unknown instruction", "card-001", func(*Card) []string { return []string{sel, "00CA000000 -> 6D00", "B084000008 -> 6E00"} }},
		{"card date survives a reset", "card-001", func(c *Card) []string {
			later := issue(t, authority, day.AddDate(0, 0, 100), day.AddDate(1, 0, 0), pinless.RightSign)
			shortLived := issue(t, authority, day.AddDate(0, 0, -1), day.AddDate(0, 0, 50), pinless.RightSign)
			run(t, c, []string{sel, pso(later) + " -> 9000"})
			c.Reset()
			return []string{sel, pso(shortLived) + " -> 6984"}
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
