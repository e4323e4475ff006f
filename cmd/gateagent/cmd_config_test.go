package main

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mynagate/mynagate/config"
	"github.com/mynagate/mynagate/gate"
	"github.com/mynagate/mynagate/internal/taptest"
	"github.com/mynagate/mynagate/offline/hsm"
	"github.com/mynagate/mynagate/offline/hsm/hsmtest"
	"github.com/mynagate/mynagate/sync/lists"
	"github.com/mynagate/mynagate/vcard/pki"
)

// provisionPINLess makes a SoftHSM2 token holding the gate's keys (hsm init)
// and an institution certificate for its institution key, valid for the days
// given from today, written to dir/institution.cvc.
func provisionPINLess(t *testing.T, dir string, days int) (hsm.Config, string) {
	t.Helper()
	tok := hsmtest.NewToken(t, "gate-"+filepath.Base(dir))
	code, out, errOut := run(t, "hsm", "init", "--generate-secret", "--hsm-module", tok.Module, "--hsm-token", tok.TokenLabel, "--hsm-pin-file", tok.PINFile)
	if code != 0 {
		t.Fatalf("hsm init: %s", errOut)
	}
	pub := out[strings.Index(out, "-----BEGIN PUBLIC KEY"):]
	pub = pub[:strings.Index(pub, "-----END PUBLIC KEY-----")+len("-----END PUBLIC KEY-----")] + "\n"
	now := time.Now().UTC()
	inst, err := pki.IssueInstitution(taptest.PKI(t), pki.InstitutionRequest{PublicKeyPEM: []byte(pub), NotBefore: now.AddDate(0, 0, -1), NotAfter: now.AddDate(0, 0, days)})
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "institution.cvc")
	if err := os.WriteFile(p, inst, 0o644); err != nil {
		t.Fatal(err)
	}
	return tok, p
}

// writeHubKey writes a fresh hub public key, as gatehub keygen prints it.
func writeHubKey(t *testing.T, dir string) string {
	t.Helper()
	pub, _, _ := ed25519.GenerateKey(nil)
	b, err := lists.MarshalPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "hub.pub")
	os.WriteFile(p, b, 0o644)
	return p
}

func TestConfigCheck(t *testing.T) {
	dir := t.TempDir()
	tok, instPath := provisionPINLess(t, dir, 30)
	pw := filepath.Join(dir, "mqtt.password")
	os.WriteFile(pw, []byte("secret\n"), 0o600)
	base := func() map[string]any {
		return map[string]any{
			"site": "s", "gate": "g", "data_dir": filepath.Join(dir, "data"),
			"roots":    []string{filepath.Join(taptest.PKI(t), "root.pem")},
			"hsm":      map[string]any{"module": tok.Module, "token_label": tok.TokenLabel, "pin_file": tok.PINFile},
			"pinless":  map[string]string{"certificate": instPath, "institution_code": pki.InstitutionCode},
			"policy":   map[string]any{"accept": []string{"pinless"}},
			"mqtt":     map[string]string{"broker": "tcp://127.0.0.1:1", "username": "g", "password_file": pw},
			"hub_keys": []string{writeHubKey(t, dir)},
		}
	}
	garbage := filepath.Join(dir, "garbage.pem")
	os.WriteFile(garbage, []byte("not PEM"), 0o644)
	loosePW := filepath.Join(dir, "loose.password")
	os.WriteFile(loosePW, []byte("secret\n"), 0o640)
	for _, tc := range []struct {
		name string
		mod  func(map[string]any)
		want []string
	}{
		{"good", nil, []string{": ok (site s, gate g, mode venue, 1 lane(s))"}},
		{"strict decoding", func(c map[string]any) { c["lanes"] = []map[string]string{{"reder": "*"}} }, []string{`unknown key "reder"`}},
		{"every validation error", func(c map[string]any) {
			delete(c, "site")
			c["mode"] = "stadium"
			c["log"] = "loud"
		}, []string{"site is required", `mode "stadium"`, `log "loud"`}},
		{"files", func(c map[string]any) {
			c["roots"] = []string{garbage, filepath.Join(dir, "absent.pem")}
			c["hub_keys"] = []string{garbage}
			c["mqtt"] = map[string]string{"broker": "ssl://127.0.0.1:1", "password_file": loosePW, "ca_file": garbage}
			c["pinless"] = map[string]string{"certificate": garbage, "institution_code": pki.InstitutionCode}
		}, []string{"roots[0]: ", "roots[1]: ", "absent.pem", "hub_keys[0]: lists: hub key: no PEM PUBLIC KEY block", "mqtt.password_file: ", "has mode 0640; run chmod 600", "pinless.certificate " + garbage, "mqtt.ca_file " + garbage + ": no PEM certificate"}},
		{"institution code", func(c map[string]any) {
			c["pinless"] = map[string]string{"certificate": instPath, "institution_code": "99999999"}
		}, []string{`pinless.certificate is for institution "` + pki.InstitutionCode + `", pinless.institution_code is "99999999"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := base()
			if tc.mod != nil {
				tc.mod(cfg)
			}
			b, _ := json.Marshal(cfg)
			p := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".json")
			os.WriteFile(p, b, 0o600)
			code, out, errOut := run(t, "config", "check", p)
			if wantCode := map[bool]int{true: 0, false: 1}[tc.mod == nil]; code != wantCode {
				t.Fatalf("exit %d, want %d\n%s%s", code, wantCode, out, errOut)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
				if !strings.HasPrefix(l, p+": ") {
					t.Errorf("line does not start with the file's name: %q", l)
				}
			}
			if code != 0 && !strings.Contains(errOut, "problem(s) in "+p) {
				t.Errorf("stderr: %q", errOut)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "data")); err == nil {
		t.Error("config check created the data dir")
	}
}

func TestInstitutionCertificateDates(t *testing.T) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pub, _ := hsm.PublicKeyPEM(&k.PublicKey)
	der, err := pki.IssueInstitution(taptest.PKI(t), pki.InstitutionRequest{PublicKeyPEM: pub})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "institution.cvc")
	os.WriteFile(path, der, 0o644)
	cfg := &config.Config{PINLess: config.PINLess{Certificate: path, InstitutionCode: pki.InstitutionCode}}
	c, err := institutionCertificate(cfg, time.Now())
	if err != nil {
		t.Fatalf("in date: %v", err)
	}
	for _, tc := range []struct {
		at   time.Time
		want string
	}{
		{gate.CertEnd(c).Add(-time.Second), ""},
		{gate.CertEnd(c), "expired on " + c.NotAfter.Format(time.DateOnly)},
		{c.NotBefore.Add(-time.Second), "valid only from"},
	} {
		_, err := institutionCertificate(cfg, tc.at)
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("at %s: %v, want %q", tc.at, err, tc.want)
		}
	}
}
