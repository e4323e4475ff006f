package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mynagate/mynagate/event"
	"github.com/mynagate/mynagate/internal/mqtttest"
	"github.com/mynagate/mynagate/internal/pcsctest"
	"github.com/mynagate/mynagate/internal/taptest"
	"github.com/mynagate/mynagate/offline/hsm/hsmtest"
	"github.com/mynagate/mynagate/vcard"
	"github.com/mynagate/mynagate/vcard/pki"
)

// TestReloadPINLess renews a running gate's institution key and certificate
// (SoftHSM2 token, pcscd+vpcd, the test PIN-less authority) without a
// restart. A card that has seen a later date than the old certificate's end
// tells the two apart: it refuses the old certificate and accepts the new one.
// A certificate that does not match the configured key is refused by
// `gateagent reload` and the old credential stays in force; SIGHUP (what
// systemctl reload sends through `gateagent reload --pid`) puts the matching
// pair in force, and the next tap is proven PIN-less with it.
func TestReloadPINLess(t *testing.T) {
	slot := pcsctest.Acquire(t, 0)
	broker := mqtttest.Start(t)
	tok := hsmtest.NewToken(t, "gate-reload")
	dir := t.TempDir()
	pkiDir := taptest.PKI(t)
	secretFile, _ := writeSecret(t, dir)
	hsmArgs := []string{"--hsm-module", tok.Module, "--hsm-token", tok.TokenLabel, "--hsm-pin-file", tok.PINFile}
	today := time.Now().UTC().Truncate(24 * time.Hour)
	// The old key, and the new one made for the renewal, each certified.
	issue := func(label string, notAfter time.Time) []byte {
		args := append([]string{"hsm", "init", "--institution-label", label, "--import-secret", secretFile, "--json"}, hsmArgs...)
		if label != "inst-1" {
			args = append([]string{"hsm", "init", "--institution-label", label, "--json"}, hsmArgs...)
		}
		code, out, errOut := run(t, args...)
		if code != 0 {
			t.Fatalf("hsm init %s: %s", label, errOut)
		}
		var pub string
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			var r struct {
				Key       string `json:"key"`
				PublicKey string `json:"public_key_pem"`
			}
			if json.Unmarshal([]byte(line), &r) == nil && r.PublicKey != "" && strings.Contains(r.Key, "institution") {
				pub = r.PublicKey
			}
		}
		if pub == "" {
			t.Fatalf("hsm init %s printed no institution public key: %s", label, out)
		}
		cert, err := pki.IssueInstitution(pkiDir, pki.InstitutionRequest{PublicKeyPEM: []byte(pub), NotBefore: today.AddDate(0, 0, -10), NotAfter: notAfter})
		if err != nil {
			t.Fatal(err)
		}
		return cert
	}
	oldCert := issue("inst-1", today.AddDate(0, 0, 20))
	newCert := issue("inst-2", today.AddDate(1, 0, 0))
	data := filepath.Join(dir, "data")
	os.Mkdir(data, 0o700)
	imp := append([]string{"whitelist", "import", "--db", filepath.Join(data, "whitelist.db")}, hsmArgs...)
	if code, _, errOut := run(t, append(imp, filepath.Join(pkiDir, "whitelist.csv"))...); code != 0 {
		t.Fatalf("whitelist import: %s", errOut)
	}
	certPath := filepath.Join(dir, "institution.cvc")
	os.WriteFile(certPath, oldCert, 0o644)
	cfg := map[string]any{
		"site": "arena", "gate": "north-1", "mode": "venue", "data_dir": data,
		"lanes":   []map[string]string{{"name": "in-1", "reader": slot.Reader, "kind": "entry"}},
		"roots":   []string{filepath.Join(pkiDir, "root.pem")},
		"hsm":     map[string]any{"module": tok.Module, "token_label": tok.TokenLabel, "pin_file": tok.PINFile, "institution_key_label": "inst-1"},
		"pinless": map[string]string{"certificate": certPath, "institution_code": pki.InstitutionCode},
		"mqtt":    map[string]string{"broker": broker.Addr()},
		"policy":  map[string]any{"accept": []string{"pinless"}, "anti_passback": false},
		"control": map[string]string{"socket": filepath.Join(shortDir(t), "gateagent.sock")},
	}
	cfgPath := filepath.Join(dir, "gateagent.json")
	sub := mqtttest.Subscribe(t, broker.Addr(), "mynagate/v1/arena/north-1/events")
	_, stderr := runGate(t, cfgPath, cfg)

	// card-001 as issued, and as after a tap at a terminal whose certificate
	// starts after the old one ends.
	fresh := taptest.Profile(t, "card-001.json")
	later := taptest.Profile(t, "card-001.json")
	later.CardDate = today.AddDate(0, 0, 25).Format(time.DateOnly)
	tap := func(stage string, p *vcard.Profile, want event.Reason) {
		t.Helper()
		e := tapEvent(t, sub, slot, p)
		if e.Reason != want || (want == event.ReasonAdmit && e.Assurance != "pinless") {
			t.Errorf("%s: reason %s at %s, want %s", stage, e.Reason, e.Assurance, want)
		}
	}
	tap("old credential", fresh, event.ReasonAdmit)
	tap("old credential, card dated past it", later, event.ReasonTerminalAuthFailed)

	// The renewed certificate is installed, but the config still names the
	// old key: refused, and the old credential stays in force.
	os.WriteFile(certPath, newCert, 0o644)
	waitFile(t, cfg["control"].(map[string]string)["socket"])
	code, out, errOut := run2("reload", "--config", cfgPath)
	if code == 0 || !strings.Contains(errOut, "does not match") || !strings.Contains(errOut, "stays") {
		t.Fatalf("mismatched reload: exit %d, %s %s", code, out, errOut)
	}
	tap("after a refused reload", fresh, event.ReasonAdmit)
	tap("after a refused reload, card dated past the old certificate", later, event.ReasonTerminalAuthFailed)

	// The config names the new key; systemctl reload sends SIGHUP.
	cfg["hsm"].(map[string]any)["institution_key_label"] = "inst-2"
	b, _ := json.Marshal(cfg)
	os.WriteFile(cfgPath, b, 0o600)
	// The unit's ExecReload: gateagent reload --pid $MAINPID, which sends
	// SIGHUP when the config has no control socket (a copy without one).
	noSocket := map[string]any{}
	for k, v := range cfg {
		if k != "control" {
			noSocket[k] = v
		}
	}
	b, _ = json.Marshal(noSocket)
	noSocketPath := filepath.Join(dir, "no-socket.json")
	os.WriteFile(noSocketPath, b, 0o600)
	if code, out, errOut := run2("reload", "--config", noSocketPath, "--pid", strconv.Itoa(os.Getpid())); code != 0 || !strings.Contains(out, "sent SIGHUP") {
		t.Fatalf("reload --pid: exit %d, %s %s", code, out, errOut)
	}
	waitLog(t, stderr, "PIN-less credential renewed")
	tap("new credential, card dated past the old certificate", later, event.ReasonAdmit)
	tap("new credential", fresh, event.ReasonAdmit)

	// The control op answers with what it put in force.
	code, out, errOut = run2("reload", "--config", cfgPath, "--json")
	var res struct {
		KeyLabel string    `json:"institution_key_label"`
		NotAfter time.Time `json:"not_after"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &res) != nil || res.KeyLabel != "inst-2" || res.NotAfter.Before(today.AddDate(0, 11, 0)) {
		t.Errorf("reload: exit %d, %s %s", code, out, errOut)
	}
}

// waitFile waits until path exists (a socket the daemon opens as it starts).
func waitFile(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never appeared", path)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
