package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mynagate/mynagate/internal/pcsctest"
	"github.com/mynagate/mynagate/internal/taptest"
)

// TestCardVerifyLevels runs `card read` and `card verify` through pcscd+vpcd
// against one presented card, down to a blocked PIN.
func TestCardVerifyLevels(t *testing.T) {
	slot := pcsctest.Acquire(t, 0)
	pkiDir := taptest.PKI(t)
	roots := filepath.Join(pkiDir, "root.pem")
	dir := t.TempDir()
	pinFile := func(pin string) string {
		p := filepath.Join(dir, "pin-"+pin)
		os.WriteFile(p, []byte(pin+"\n"), 0o600)
		return p
	}
	remove := taptest.Present(t, slot, taptest.Profile(t, "card-001.json"))
	defer remove()

	code, out, errOut := run(t, "card", "read", "--reader", slot.Reader, "--json")
	var info cardInfo
	if code != 0 || json.Unmarshal([]byte(out), &info) != nil || info.Serial == "" || info.Token != "JPKIAPICCTOKEN2" || info.APDUs == 0 {
		t.Fatalf("card read: exit %d %s %s", code, out, errOut)
	}
	for _, tc := range []struct {
		args      []string
		exit      int
		reason    string
		assurance string
	}{
		{[]string{"--assurance", "cert"}, 0, "admit", "cert"},
		{[]string{"--assurance", "pin", "--pin-file", pinFile("1234")}, 0, "admit", "pin"},
		{[]string{"--assurance", "pin", "--pin-file", pinFile("9999")}, 1, "pin_wrong", "pin"},
		{[]string{"--assurance", "pin", "--pin-file", pinFile("9999")}, 1, "pin_wrong", "pin"},
		{[]string{"--assurance", "pin", "--pin-file", pinFile("9999")}, 1, "pin_blocked", "pin"},
		{[]string{"--assurance", "pin", "--pin-file", pinFile("1234")}, 1, "pin_blocked", "pin"},
	} {
		args := append([]string{"card", "verify", "--reader", slot.Reader, "--roots", roots, "--json"}, tc.args...)
		code, out, errOut := run(t, args...)
		var res verifyResult
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatalf("%v: %v: %q %s", tc.args, err, out, errOut)
		}
		if code != tc.exit || string(res.Reason) != tc.reason || res.Assurance != tc.assurance || res.Serial != info.Serial {
			t.Errorf("%v: exit %d %+v; want exit %d reason %s assurance %s", tc.args, code, res, tc.exit, tc.reason, tc.assurance)
		}
		if strings.Contains(out+errOut, "9999") || strings.Contains(out+errOut, "1234") {
			t.Errorf("%v: the PIN appears in the output", tc.args)
		}
	}
}

func TestCardVerifyWrongRoot(t *testing.T) {
	slot := pcsctest.Acquire(t, 0)
	remove := taptest.Present(t, slot, taptest.Profile(t, "wrong-root.json"))
	defer remove()
	code, out, _ := run(t, "card", "verify", "--reader", slot.Reader, "--roots", filepath.Join(taptest.PKI(t), "root.pem"))
	if code != 1 || !strings.Contains(out, "INVALID") || !strings.Contains(out, "unknown_root") {
		t.Fatalf("exit %d: %s", code, out)
	}
}
