package vcard

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
)

const (
	selectAP      = "00A4040C0AD392F000260100000001"
	selectCert    = "00A4020C02000A"
	selectAuthPIN = "00A4020C020018"
	selectAuthKey = "00A4020C020017"
	verifyPIN     = "00200080043132333404"
	sha256Prefix  = "3031300d060960864801650304020105000420"
)

// testCard loads a profile from testdata/pki (written by jpkicard pki init).
func testCard(t testing.TB, name string) (*Card, *Profile) {
	t.Helper()
	p, err := LoadProfile("testdata/pki/" + name + ".json")
	if err != nil {
		t.Fatal(err)
	}
	return NewCard(p), p
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

// signAPDU is COMPUTE DIGITAL SIGNATURE over the SHA-256 DigestInfo of msg.
func signAPDU(t testing.TB, msg string) string {
	t.Helper()
	d := sha256.Sum256([]byte(msg))
	di := append(mustHex(t, sha256Prefix), d[:]...)
	return fmt.Sprintf("802A0080%02X%X00", len(di), di)
}

// run sends each step "APDU -> [N:]SW", checking the status word and, with N,
// the length of the response data.
func run(t *testing.T, c *Card, steps []string) {
	t.Helper()
	for i, s := range steps {
		cmd, want, ok := strings.Cut(s, "->")
		if !ok {
			t.Fatalf("step %d %q: want \"APDU -> SW\"", i, s)
		}
		want = strings.TrimSpace(want)
		wantLen := 0
		if n, w, ok := strings.Cut(want, ":"); ok {
			wantLen, _ = strconv.Atoi(n)
			want = w
		}
		resp := c.Process(mustHex(t, cmd))
		if len(resp) < 2 {
			t.Fatalf("step %d %s: response % X too short", i, cmd, resp)
		}
		gotSW := strings.ToUpper(hex.EncodeToString(resp[len(resp)-2:]))
		if gotSW != strings.ToUpper(want) || len(resp)-2 != wantLen {
			t.Fatalf("step %d %s: got %d bytes SW %s, want %d bytes SW %s", i, strings.TrimSpace(cmd), len(resp)-2, gotSW, wantLen, want)
		}
	}
}

func TestProcessStatusWords(t *testing.T) {
	sel := selectAP + " -> 9000"
	tests := []struct {
		name    string
		profile string
		steps   []string
	}{
		{"select AP", "card-001", []string{sel}},
		{"select AP asking for FCI", "card-001", []string{"00A4040C0AD392F00026010000000100 -> 9000", "00A404000AD392F000260100000001 -> 6A86"}},
		{"select unknown AID", "card-001", []string{"00A4040C07A0000000031010 -> 6A82"}},
		{"select AP on transit card", "transit", []string{selectAP + " -> 6A82", selectCert + " -> 6A82"}},
		{"select EF before AP", "card-001", []string{selectCert + " -> 6A82"}},
		{"select unknown EF", "card-001", []string{sel, "00A4020C020099 -> 6A82"}},
		{"select EF with 3-byte id", "card-001", []string{sel, "00A4020C0300000A -> 6700"}},
		{"select EF P2 00", "card-001", []string{sel, "00A4020002000A -> 6A86"}},
		{"select P1 08", "card-001", []string{sel, "00A4080C02000A -> 6A86"}},
		{"select EF 0016 absent", "no-pinless", []string{sel, "00A4020C020016 -> 6A82"}},
		{"read without EF", "card-001", []string{sel, "00B0000000 -> 6985"}},
		{"read token info", "card-001", []string{sel, "00A4020C020006 -> 9000", "00B0000000 -> 32:9000"}},
		{"read cert header", "card-001", []string{sel, selectCert + " -> 9000", "00B0000004 -> 4:9000", "00B0000000 -> 256:9000"}},
		{"read CA cert", "card-001", []string{sel, "00A4020C02000B -> 9000", "00B0000004 -> 4:9000"}},
		{"read past end", "card-001", []string{sel, selectCert + " -> 9000", "00B07F0000 -> 6B00"}},
		{"read by short EF id", "card-001", []string{sel, "00B08A0000 -> 256:9000", "00B0000004 -> 4:9000"}},
		{"read by short EF id before AP", "card-001", []string{"00B08A0000 -> 6A82"}},
		{"read by unknown short EF id", "card-001", []string{sel, "00B0990000 -> 6A82"}},
		{"read short EF id with bad bits", "card-001", []string{sel, "00B0EA0000 -> 6A86"}},
		{"extended read refused", "card-001", []string{sel, "00B08A00000000 -> 6700"}},
		{"read with data", "card-001", []string{sel, selectCert + " -> 9000", "00B000000100 -> 6700"}},
		{"read without Le", "card-001", []string{sel, selectCert + " -> 9000", "00B00000 -> 6700"}},
		{"read signature cert", "card-001", []string{sel, "00A4020C020001 -> 9000", "00B0000004 -> 6982"}},
		{"read key file", "card-001", []string{sel, selectAuthKey + " -> 9000", "00B0000004 -> 6981"}},
		{"wrong CLA for SELECT", "card-001", []string{"80A4040C0AD392F000260100000001 -> 6E00"}},
		{"wrong CLA for signature", "no-pinless", []string{sel, selectAuthKey + " -> 9000", "002A008001AA00 -> 6E00"}},
		{"PSO with wrong P1-P2", "card-001", []string{sel, selectAuthKey + " -> 9000", "002A008001AA00 -> 6A86"}},
		{"unknown INS", "card-001", []string{"00CA010000 -> 6D00"}},
		{"unknown CLA", "card-001", []string{"90CA010000 -> 6E00"}},
		{"malformed APDU", "card-001", []string{"00A404 -> 6700"}},
		{"PIN query without PIN EF", "card-001", []string{sel, "00200080 -> 6985"}},
		{"PIN query", "card-001", []string{sel, selectAuthPIN + " -> 9000", "00200080 -> 63C3"}},
		{"signature password query", "card-001", []string{sel, "00A4020C02001B -> 9000", "00200080 -> 63C5", "00200080083132333435363738 -> 6A81"}},
		{"VERIFY wrong P2", "card-001", []string{sel, selectAuthPIN + " -> 9000", "00200081 -> 6A86"}},
		{"VERIFY wrong length", "card-001", []string{sel, selectAuthPIN + " -> 9000", "00200080053132333435 -> 6700", "00200080 -> 63C3"}},
		{"VERIFY wrong then right", "card-001", []string{sel, selectAuthPIN + " -> 9000",
			"002000800439393939 -> 63C2", "00200080 -> 63C2", "0020008004" + "31323334 -> 9000", "00200080 -> 63C3"}},
		{"PIN blocked", "card-001", []string{sel, selectAuthPIN + " -> 9000",
			"002000800439393939 -> 63C2", "002000800439393939 -> 63C1", "002000800439393939 -> 63C0",
			"0020008004" + "31323334 -> 6984", "00200080 -> 63C0"}},
		{"sign without EF", "card-001", []string{sel, signAPDU(t, "x") + " -> 6985"}},
		{"sign without PIN", "card-001", []string{sel, selectAuthKey + " -> 9000", signAPDU(t, "x") + " -> 6982"}},
		{"sign with signature key", "card-001", []string{sel, "00A4020C02001A -> 9000", signAPDU(t, "x") + " -> 6982"}},
		{"sign wrong P2", "card-001", []string{sel, selectAuthPIN + " -> 9000", "0020008004" + "31323334 -> 9000", selectAuthKey + " -> 9000", "802A008301AA00 -> 6A86"}},
		{"sign", "card-001", []string{sel, selectAuthPIN + " -> 9000", "0020008004" + "31323334 -> 9000", selectAuthKey + " -> 9000", signAPDU(t, "x") + " -> 256:9000"}},
		{"sign too long", "card-001", []string{sel, selectAuthPIN + " -> 9000", "0020008004" + "31323334 -> 9000", selectAuthKey + " -> 9000",
			"802A0080F6" + strings.Repeat("AA", 246) + "00 -> 6700"}},
		{"reselecting AP drops PIN", "card-001", []string{sel, selectAuthPIN + " -> 9000", "0020008004" + "31323334 -> 9000", sel, selectAuthKey + " -> 9000", signAPDU(t, "x") + " -> 6982"}},
		{"phone guards cert with PIN", "phone", []string{sel, selectCert + " -> 9000", "00B0000004 -> 6982",
			selectAuthPIN + " -> 9000", "0020008004" + "31323334 -> 9000", selectCert + " -> 9000", "00B0000004 -> 4:9000"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := testCard(t, tt.profile)
			run(t, c, tt.steps)
		})
	}
}

// readEF reads a whole transparent EF as JPKI.md describes for certificates:
// a 4-byte header, then 256-byte chunks up to the DER length.
func readEF(t *testing.T, c *Card, fid string) (der []byte, apdus int) {
	t.Helper()
	run(t, c, []string{selectAP + " -> 9000", "00A4020C02" + fid + " -> 9000"})
	hdr := c.Process(mustHex(t, "00B0000004"))
	if len(hdr) != 6 || hdr[0] != 0x30 || hdr[1] != 0x82 {
		t.Fatalf("header % X is not 30 82 LL LL 90 00", hdr)
	}
	total := 4 + (int(hdr[2])<<8 | int(hdr[3]))
	for len(der) < total {
		n := min(256, total-len(der))
		r := c.Process([]byte{0x00, 0xB0, byte(len(der) >> 8), byte(len(der)), byte(n)})
		if !bytes.HasSuffix(r, []byte{0x90, 0x00}) || len(r) != n+2 {
			t.Fatalf("read at %d: % X", len(der), r[max(0, len(r)-2):])
		}
		der = append(der, r[:n]...)
		apdus++
	}
	return der, apdus
}

func TestReadCertificates(t *testing.T) {
	for _, name := range []string{"card-001", "card-002"} {
		t.Run(name, func(t *testing.T) {
			c, p := testCard(t, name)
			want, _ := p.certDER(p.Certificate, "certificate")
			got, chunks := readEF(t, c, "000A")
			if !bytes.Equal(got, want) {
				t.Fatal("EF 000A does not hold the profile's certificate")
			}
			if chunks < 5 || chunks > 7 {
				t.Errorf("certificate took %d chunks, want 5-7 like a real card", chunks)
			}
			// The filler after the DER is what a reader sees when it reads
			// whole chunks instead of following the DER length.
			tail := c.Process([]byte{0x00, 0xB0, byte(len(want) >> 8), byte(len(want)), 0x00})
			if len(tail)-2 != p.Padding || p.Padding > 0 && tail[0] != p.PaddingByte {
				t.Errorf("after the DER: % X, want %d bytes of %02X", tail[:min(8, len(tail))], p.Padding, p.PaddingByte)
			}
			ca, _ := p.certDER(p.CACertificate, "ca_certificate")
			if got, _ := readEF(t, c, "000B"); !bytes.Equal(got, ca) {
				t.Error("EF 000B does not hold the profile's CA certificate")
			}
		})
	}
}

func TestExtendedRead(t *testing.T) {
	c, p := testCard(t, "card-002")
	run(t, c, []string{selectAP + " -> 9000"})
	r := c.Process(mustHex(t, "00B08A00000000"))
	der, _ := p.certDER(p.Certificate, "certificate")
	want := append(append(der, bytes.Repeat([]byte{p.PaddingByte}, p.Padding)...), 0x90, 0x00)
	if !bytes.Equal(r, want) {
		t.Errorf("extended READ BINARY returned %d bytes, want EF 000A whole (%d bytes) and 9000", len(r), len(want))
	}
}

func TestTokenInfoLabel(t *testing.T) {
	for _, name := range []string{"card-001", "juki", "phone"} {
		c, p := testCard(t, name)
		run(t, c, []string{selectAP + " -> 9000", "00A4020C020006 -> 9000"})
		r := c.Process(mustHex(t, "00B0000000"))
		if got := strings.TrimRight(string(r[:32]), " "); got != p.Label {
			t.Errorf("%s: label %q, want %q", name, got, p.Label)
		}
	}
}

func TestSignatureVerifies(t *testing.T) {
	c, p := testCard(t, "card-001")
	run(t, c, []string{selectAP + " -> 9000", selectAuthPIN + " -> 9000", verifyPIN[:len(verifyPIN)-2] + " -> 9000", selectAuthKey + " -> 9000"})
	r := c.Process(mustHex(t, signAPDU(t, "nonce")))
	der, _ := p.certDER(p.Certificate, "certificate")
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	d := sha256.Sum256([]byte("nonce"))
	if err := rsa.VerifyPKCS1v15(cert.PublicKey.(*rsa.PublicKey), crypto.SHA256, d[:], r[:len(r)-2]); err != nil {
		t.Fatalf("card signature does not verify with the certificate's key: %v", err)
	}
}

func TestResetKeepsCounter(t *testing.T) {
	c, _ := testCard(t, "card-001")
	run(t, c, []string{selectAP + " -> 9000", selectAuthPIN + " -> 9000", "002000800439393939 -> 63C2"})
	c.Reset()
	run(t, c, []string{selectAuthPIN + " -> 6A82", selectAP + " -> 9000", selectAuthPIN + " -> 9000", "00200080 -> 63C2"})
	if c.PINTriesLeft() != 2 {
		t.Errorf("PINTriesLeft = %d, want 2", c.PINTriesLeft())
	}
}

func TestFaults(t *testing.T) {
	t.Run("force_sw", func(t *testing.T) {
		c, _ := testCard(t, "card-001")
		if err := c.SetFaults(Faults{ForceSW: "6F00", ForceSWAfterAPDUs: 1}); err != nil {
			t.Fatal(err)
		}
		if err := c.SetFaults(Faults{ForceSW: "6F"}); err == nil {
			t.Fatal("SetFaults accepted force_sw 6F")
		}
		if err := c.SetFaults(Faults{ForceSW: "6F00", ForceSWAfterAPDUs: 1}); err != nil {
			t.Fatal(err)
		}
		run(t, c, []string{selectAP + " -> 9000", selectCert + " -> 6F00", "00B0000004 -> 6F00"})
	})
	t.Run("garble", func(t *testing.T) {
		c, _ := testCard(t, "card-001")
		if err := c.SetFaults(Faults{GarbleAfterAPDUs: 2}); err != nil {
			t.Fatal(err)
		}
		run(t, c, []string{selectAP + " -> 9000", selectCert + " -> 9000"})
		if r := c.Process(mustHex(t, "00B0000004")); len(r) != 3 {
			t.Errorf("garbled response % X, want the first 3 of 6 bytes", r)
		}
	})
	t.Run("pulled", func(t *testing.T) {
		c, p := testCard(t, "pulled")
		for i := range p.RemoveAfterAPDUs {
			if c.pulled() {
				t.Fatalf("pulled before APDU %d", i+1)
			}
			c.Process(mustHex(t, selectAP))
		}
		if !c.pulled() {
			t.Errorf("not pulled after %d APDUs", p.RemoveAfterAPDUs)
		}
	})
}

func TestTranscriptConcurrentReads(t *testing.T) {
	c, _ := testCard(t, "card-001")
	var wg sync.WaitGroup
	wg.Go(func() {
		for range 100 {
			c.Process(mustHex(t, selectAP))
		}
	})
	wg.Go(func() {
		for range 100 {
			for _, e := range c.Transcript() {
				if len(e.Response) != 2 {
					t.Errorf("torn exchange % X", e.Response)
					return
				}
			}
		}
	})
	wg.Wait()
	if n := len(c.Transcript()); n != 100 {
		t.Errorf("transcript has %d exchanges, want 100", n)
	}
}
