package vcard

import (
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

// TestTranscriptGolden pins the wire format of a whole PIN-level session (what
// a gate sends for "pin" assurance) against testdata/transcript.golden. After
// regenerating testdata/pki, run go test -run Golden -update.
func TestTranscriptGolden(t *testing.T) {
	c, _ := testCard(t, "card-001")
	session := []string{
		selectAP, "00A4020C020006", "00B0000000",
		selectCert, "00B0000004", "00B0000000", "00B0010000", "00B0020000", "00B0030000", "00B0040000",
		selectAuthPIN, "00200080", verifyPIN[:len(verifyPIN)-2],
		selectAuthKey, signAPDU(t, "gate nonce"),
	}
	for _, s := range session {
		c.Process(mustHex(t, s))
	}
	var b strings.Builder
	for _, e := range c.Transcript() {
		fmt.Fprintf(&b, "> %s\n< %s\n", hex.EncodeToString(e.Command), hex.EncodeToString(e.Response))
	}
	const golden = "testdata/transcript.golden"
	if *update {
		if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if b.String() != string(want) {
		t.Errorf("transcript differs from %s; if the change is intended, run with -update and review the diff", golden)
	}
}
