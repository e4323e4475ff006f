// Package testenv lets integration tests demand the real system parts they drive
// (pcscd, mosquitto, softhsm2-util, pkcs15-tool, chromium). Outside CI a missing part
// skips the test with the reason; with CI=true it fails it, so CI never goes green
// on a test that did not run.
package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
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

// SharedDir returns the project's shared/ folder, which lies beside the
// repository root (DESIGN.md, the reference J-LIS roots). It is not in the
// repository; a missing one skips the test outside CI and fails it in CI.
func SharedDir(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("testenv: no go.mod above the test's directory")
		}
		dir = parent
	}
	shared := filepath.Join(filepath.Dir(dir), "shared")
	if _, err := os.Stat(shared); err != nil {
		Unavailable(t, "shared/ not found beside the repository at "+shared)
	}
	return shared
}
