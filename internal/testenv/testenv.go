// Package testenv lets integration tests demand the real system parts they drive
// (pcscd, mosquitto, softhsm2-util, pkcs15-tool, chromium). Outside CI a missing part
// skips the test with the reason; with CI=true it fails it, so CI never goes green
// on a test that did not run.
package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// InCI reports whether the tests run under CI (CI=true).
func InCI() bool { return os.Getenv("CI") == "true" }

// LookPath returns the path of the named binary or ends the test: a skip outside
// CI, a failure in CI. Install hints name the Debian package.
func LookPath(t testing.TB, name, debPackage string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	Unavailable(t, name+" not found; install the Debian package "+debPackage+" (scripts/setup does)")
	return ""
}

// Unavailable ends the test because a real part is missing: skip outside CI, fail
// in CI.
func Unavailable(t testing.TB, why string) {
	t.Helper()
	if InCI() {
		t.Fatalf("required part unavailable in CI: %s", why)
	}
	t.Skipf("skipping: %s", why)
}
