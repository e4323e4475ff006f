// Package hsmtest creates a real SoftHSM2 token for tests: a fresh token
// directory, a softhsm2.conf pointing at it (SOFTHSM2_CONF is set for the
// test), and a PIN file with mode 0600.
package hsmtest

import (
	"os"
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
	testenv.LookPath(t, "softhsm2-util", "softhsm2")
	if _, err := os.Stat(hsm.SoftHSMModule); err != nil {
		testenv.Unavailable(t, hsm.SoftHSMModule+" missing; install the Debian package softhsm2")
	}
	// t.Setenv records the variable for restoring; CreateSoftHSMToken then
	// points it at the new token.
	t.Setenv("SOFTHSM2_CONF", os.Getenv("SOFTHSM2_CONF"))
	cfg, err := hsm.CreateSoftHSMToken(t.TempDir(), label, PIN)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}
