package main

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mynagate/mynagate/config"
	"github.com/mynagate/mynagate/internal/taptest"
	"github.com/mynagate/mynagate/offline/cardkey"
	"github.com/mynagate/mynagate/offline/hsm"
	"github.com/mynagate/mynagate/offline/hsm/hsmtest"
	"github.com/mynagate/mynagate/vcard/pki"
)

// TestWhitelistRevokeCRL imports a CRL of the test root on an offline gate,
// keyed in a SoftHSM2 token as on a real gate: the revoked card's key is the
// one its tap computes; stats and the doctor show the next update, and a
// stale CRL is a warning.
func TestWhitelistRevokeCRL(t *testing.T) {
	dir := t.TempDir()
	pkiDir := taptest.PKI(t)
	root := filepath.Join(pkiDir, "root.pem")
	secretFile, secret := writeSecret(t, dir)
	tok := hsmtest.NewToken(t, "crl")
	h, err := hsm.Open(tok)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.ImportCardKeySecret(hsm.DefaultCardKeyLabel, secret); err != nil {
		t.Fatal(err)
	}
	h.Close()
	hsmFlags := []string{"--hsm-module", tok.Module, "--hsm-token", tok.TokenLabel, "--hsm-pin-file", tok.PINFile}

	blk, _ := pem.Decode([]byte(taptest.Profile(t, "card-004.json").Certificate))
	revoked, _ := x509.ParseCertificate(blk.Bytes)
	want, _ := cardkey.ForCert(cardkey.NewSoftware(secret), revoked)
	db := filepath.Join(dir, "whitelist.db")
	writeCRL := func(name string, this, next time.Time, serials ...*big.Int) string {
		der, err := pki.IssueCRL(pkiDir, pki.CRLRequest{Serials: serials, ThisUpdate: this, NextUpdate: next})
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der}), 0o600)
		return p
	}
	now := time.Now().UTC().Truncate(time.Second)
	current := writeCRL("current.crl", now, now.Add(24*time.Hour), revoked.SerialNumber, big.NewInt(99))

	code, out, errOut := run(t, append([]string{"whitelist", "revoke", "--db", db, "--crl", current, "--roots", root, "--json"}, hsmFlags...)...)
	var res crlResult
	if code != 0 || json.Unmarshal([]byte(out), &res) != nil || res.Entries != 2 || res.Added != 2 || res.Stale {
		t.Fatalf("revoke --crl: exit %d %q %s", code, out, errOut)
	}
	code, out, _ = run(t, "whitelist", "lookup", "--db", db, "--card-key", want.String(), "--json")
	if code != 0 || !strings.Contains(out, `"revoked":true`) {
		t.Fatalf("the CRL did not revoke the card's key: %s", out)
	}

	code, out, _ = run(t, "whitelist", "stats", "--db", db)
	if code != 0 || !strings.Contains(out, "next update "+now.Add(24*time.Hour).Format(time.RFC3339)+" (current)") {
		t.Fatalf("stats does not show the CRL's next update:\n%s", out)
	}

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"without roots", []string{"--crl", current, "--secret-file", secretFile}, "--roots"},
		{"an older CRL", []string{"--crl", writeCRL("old.crl", now.Add(-48*time.Hour), now.Add(-24*time.Hour)), "--roots", root, "--secret-file", secretFile}, "older than the one applied"},
		{"signed by another root of the same name", []string{"--crl", current, "--roots", filepath.Join(pkiDir, "wrong-root.pem"), "--secret-file", secretFile}, "does not verify"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := run(t, append([]string{"whitelist", "revoke", "--db", db}, tc.args...)...)
			if code == 0 || !strings.Contains(errOut, tc.want) {
				t.Errorf("exit %d, stderr %q; want an error mentioning %q", code, errOut, tc.want)
			}
		})
	}

	// A CRL whose next update has passed: applied, with a warning, and the
	// doctor flags it.
	stale := writeCRL("stale.crl", now.Add(time.Second), now.Add(2*time.Second), revoked.SerialNumber)
	code, _, errOut = run(t, "whitelist", "revoke", "--db", db, "--crl", stale, "--roots", root, "--secret-file", secretFile)
	if code != 0 {
		t.Fatalf("stale CRL: %s", errOut)
	}
	f := checkWhitelist(&config.Config{DataDir: dir}, now.Add(time.Hour))
	if len(f) != 2 || f[1].Part != "crl" || !strings.Contains(f[1].Verdict, "STALE") || f[1].Hint == "" {
		t.Fatalf("doctor findings %+v; want a stale CRL warning", f)
	}
}
