package vcard

import (
	"bytes"
	"testing"
)

// FuzzProcess feeds arbitrary bytes to a card (with PIN-less support) after
// a PIN verification and one arbitrary APDU: every input must give a response
// of at least a status word, never a panic.
func FuzzProcess(f *testing.F) {
	for _, s := range []string{selectAP, selectCert, "00B0000004", "00B08A00000000", "00200080", verifyPIN, "802A008001AA00", "00", ""} {
		f.Add(mustHex(f, s), mustHex(f, s))
	}
	f.Add(mustHex(f, pso(readFile(f, "institution.cvc"))), mustHex(f, "0084000008"))
	f.Add(mustHex(f, "0084000008"), mustHex(f, "00820000500000"))
	c, _ := testCard(f, "card-002")
	setup := [][]byte{mustHex(f, selectAP), mustHex(f, selectAuthPIN), mustHex(f, verifyPIN[:len(verifyPIN)-2]), mustHex(f, selectAuthKey)}
	f.Fuzz(func(t *testing.T, first, apdu []byte) {
		c.Reset()
		c.transcript = nil // keep memory flat over millions of runs
		for _, s := range setup {
			c.Process(s)
		}
		c.Process(first)
		r := c.Process(apdu)
		if len(r) < 2 {
			t.Fatalf("Process(% X) = % X: no status word", apdu, r)
		}
		if bytes.Equal(r[len(r)-2:], []byte{0x90, 0x00}) && len(apdu) < 4 {
			t.Fatalf("Process(% X) accepted a command without a header", apdu)
		}
	})
}
