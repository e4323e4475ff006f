// Package hsmtest creates a real SoftHSM2 token for tests: a fresh token
// directory, a softhsm2.conf pointing at it (SOFTHSM2_CONF is set for the
// test), and a PIN file with mode 0600.
package hsmtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/mynagate/mynagate/internal/testenv"
	"github.com/mynagate/mynagate/offline/hsm"
)

// PIN is the user PIN of tokens made by NewToken.
const PIN = "123456"

// NewToken initialises a SoftHSM2 token labelled label in t.TempDir and
// returns a Config for it. Without softhsm2 the test is skipped, or fails in
// CI. It sets SOFTHSM2_CONF, so the test must not run in parallel.
func NewToken(t testing.TB, label string) hsm.Config {
	t.Helper()
	util := testenv.LookPath(t, "softhsm2-util", "softhsm2")
	if _, err := os.Stat(hsm.SoftHSMModule); err != nil {
		testenv.Unavailable(t, hsm.SoftHSMModule+" missing; install the Debian package softhsm2")
	}
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens")
	if err := os.Mkdir(tokens, 0o700); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "softhsm2.conf")
	if err := os.WriteFile(conf, []byte("directories.tokendir = "+tokens+"\nobjectstore.backend = file\nlog.level = ERROR\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SOFTHSM2_CONF", conf)
	out, err := exec.Command(util, "--init-token", "--free", "--label", label, "--pin", PIN, "--so-pin", "654321").CombinedOutput()
	if err != nil {
		t.Fatalf("softhsm2-util --init-token: %v\n%s", err, out)
	}
	pinFile := filepath.Join(dir, "pin")
	if err := os.WriteFile(pinFile, []byte(PIN+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return hsm.Config{Module: hsm.SoftHSMModule, TokenLabel: label, PINFile: pinFile, MaxSessions: 4}
}
