package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mynagate/mynagate/internal/pcsctest"
	"github.com/mynagate/mynagate/internal/taptest"
	"github.com/mynagate/mynagate/offline/hsm/hsmtest"
	"github.com/mynagate/mynagate/vcard/pki"
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

// TestCardVerifyPINLess proves cards at the pinless level through pcscd+vpcd
// with the institution key generated inside a SoftHSM2 token and certified by
// the test PIN-less authority, as an operator provisions a gate.
func TestCardVerifyPINLess(t *testing.T) {
	slot := pcsctest.Acquire(t, 0)
	tok := hsmtest.NewToken(t, "gate-verify")
	dir := t.TempDir()
	pkiDir := taptest.PKI(t)
	code, out, errOut := run(t, "hsm", "init", "--generate-secret", "--hsm-module", tok.Module, "--hsm-token", tok.TokenLabel, "--hsm-pin-file", tok.PINFile)
	if code != 0 {
		t.Fatalf("hsm init: %s", errOut)
	}
	pub := out[strings.Index(out, "-----BEGIN PUBLIC KEY"):]
	pub = pub[:strings.Index(pub, "-----END PUBLIC KEY-----")+len("-----END PUBLIC KEY-----")] + "\n"
	inst, err := pki.IssueInstitution(pkiDir, pki.InstitutionRequest{PublicKeyPEM: []byte(pub)})
	if err != nil {
		t.Fatal(err)
	}
	instPath := filepath.Join(dir, "institution.cvc")
	os.WriteFile(instPath, inst, 0o644)
	cfg := map[string]any{
		"site": "s", "gate": "g", "data_dir": dir,
		"roots":   []string{filepath.Join(pkiDir, "root.pem")},
		"hsm":     map[string]any{"module": tok.Module, "token_label": tok.TokenLabel, "pin_file": tok.PINFile},
		"pinless": map[string]string{"certificate": instPath, "institution_code": pki.InstitutionCode},
		"policy":  map[string]any{"accept": []string{"pinless"}},
	}
	b, _ := json.Marshal(cfg)
	cfgPath := filepath.Join(dir, "gate.json")
	os.WriteFile(cfgPath, b, 0o600)
	for _, tc := range []struct {
		profile string
		exit    int
		reason  string
	}{
		{"card-001.json", 0, "admit"},
		{"card-002.json", 0, "admit"},
		{"no-pinless.json", 1, "pinless_unsupported"},
	} {
		remove := taptest.Present(t, slot, taptest.Profile(t, tc.profile))
		code, out, errOut := run(t, "card", "verify", "--reader", slot.Reader, "--assurance", "pinless", "--config", cfgPath, "--json")
		remove()
		var res verifyResult
		if err := json.Unmarshal([]byte(out), &res); err != nil || code != tc.exit || string(res.Reason) != tc.reason || res.Assurance != "pinless" {
			t.Errorf("%s: exit %d %s %s", tc.profile, code, out, errOut)
		}
		if tc.exit == 0 && (res.PINlessVersion != 2 || res.ExchangeMS <= 0) {
			t.Errorf("%s: PIN-less version %d, exchange %v ms; want version 2 and a measured exchange", tc.profile, res.PINlessVersion, res.ExchangeMS)
		}
	}
}
