// Package packaging_test builds the Debian packages with scripts/package,
// installs them into a clean root with dpkg, and checks what an operator
// relies on: the service users and their groups, the data directories, the
// units (systemd-analyze verify and security), the conffiles, and a purge
// that keeps the data unless asked.
package packaging_test

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/mynagate/mynagate/hub"
	"github.com/mynagate/mynagate/internal/testenv"
)

// maxExposure is the highest `systemd-analyze security` score a unit may
// have (issue 13: at most 3.0).
const maxExposure = 3.0

func run(t *testing.T, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// cleanRoot makes an empty Debian root for dpkg --root: an empty package
// database, the static users and groups of base-passwd, and the softhsm group
// that the softhsm2 package (a dependency) creates.
func cleanRoot(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	for _, d := range []string{"var/lib/dpkg/info", "var/lib/dpkg/updates", "var/lib/dpkg/triggers", "etc"} {
		os.MkdirAll(filepath.Join(root, d), 0o755)
	}
	os.WriteFile(filepath.Join(root, "var/lib/dpkg/status"), nil, 0o644)
	for _, f := range []string{"passwd", "group"} {
		b, err := os.ReadFile("/usr/share/base-passwd/" + f + ".master")
		if err != nil {
			testenv.Unavailable(t, "base-passwd's master files: "+err.Error())
		}
		s := regexp.MustCompile(`(?m)^([^:]+):\*:`).ReplaceAllString(string(b), "$1:x:")
		if f == "group" {
			s += "softhsm:x:995:\n"
		}
		os.WriteFile(filepath.Join(root, "etc", f), []byte(s), 0o644)
	}
	return root
}

// entries reads a passwd or group file of root by name.
func entries(t *testing.T, root, file string) map[string][]string {
	t.Helper()
	f, err := os.Open(filepath.Join(root, "etc", file))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), ":")
		out[fields[0]] = fields
	}
	return out
}

func TestPackagesInstallIntoCleanRoot(t *testing.T) {
	for _, tool := range []struct{ bin, pkg string }{
		{"dpkg-deb", "dpkg"}, {"dpkg", "dpkg"}, {"systemd-analyze", "systemd"}, {"systemd-sysusers", "systemd"}, {"systemd-tmpfiles", "systemd"},
	} {
		testenv.LookPath(t, tool.bin, tool.pkg)
	}
	if os.Getuid() != 0 {
		testenv.Unavailable(t, "dpkg --root sets file owners: run as root")
	}
	dist := t.TempDir()
	out := run(t, nil, "../scripts/package", "--version", "1.2.3", "--out", dist)
	debs := strings.Fields(out)
	if len(debs) != 2 || !strings.HasSuffix(debs[0], "gateagent_1.2.3_"+goDebArch(t)+".deb") || !strings.Contains(debs[1], "gatehub_1.2.3_") {
		t.Fatalf("scripts/package printed %q", out)
	}

	// The gate depends on what a gate needs and nothing else; the hub on its
	// keys' token only.
	if got := run(t, nil, "dpkg-deb", "-f", debs[0], "Depends"); strings.TrimSpace(got) != "pcscd, libpcsclite1, softhsm2 | mynagate-pkcs11-module" {
		t.Errorf("gateagent Depends: %q", got)
	}
	if got := run(t, nil, "dpkg-deb", "-f", debs[1], "Depends"); strings.TrimSpace(got) != "softhsm2 | mynagate-pkcs11-module" {
		t.Errorf("gatehub Depends: %q", got)
	}

	root := cleanRoot(t)
	dpkg := func(env []string, args ...string) string {
		return run(t, env, "dpkg", append([]string{"--root=" + root, "--log=/dev/null", "--force-script-chrootless", "--force-depends"}, args...)...)
	}
	dpkg(nil, "-i", debs[0], debs[1])

	users, groups := entries(t, root, "passwd"), entries(t, root, "group")
	for _, u := range []struct{ name, home string }{{"mynagate", "/var/lib/mynagate"}, {"mynagate-hub", "/var/lib/mynagate-hub"}} {
		e, ok := users[u.name]
		if !ok {
			t.Fatalf("no user %s in the root's passwd", u.name)
		}
		if uid, _ := strconv.Atoi(e[2]); uid >= 1000 || uid == 0 || e[5] != u.home || e[6] != "/usr/sbin/nologin" {
			t.Errorf("user %s: %v, want a system user with home %s and no login", u.name, e, u.home)
		}
	}
	if !strings.Contains(","+groups["softhsm"][3]+",", ",mynagate-hub,") {
		t.Errorf("mynagate-hub not in group softhsm: %v", groups["softhsm"])
	}
	for _, g := range []string{"softhsm", "dialout", "lp"} {
		if !strings.Contains(","+groups[g][3]+",", ",mynagate,") {
			t.Errorf("mynagate not in group %s: %v", g, groups[g])
		}
	}
	if _, ok := groups["gpio"]; ok {
		t.Error("the package created a gpio group; it belongs to the optional drop-in")
	}
	for _, u := range []string{"mynagate", "mynagate-hub"} {
		checkOwner(t, filepath.Join(root, "var/lib", u), users[u][2], 0o700)
	}
	for _, f := range []string{
		"usr/bin/gateagent", "usr/bin/gatehub",
		"usr/lib/systemd/system/mynagate-gateagent.service", "usr/lib/systemd/system/mynagate-gatehub.service",
		"etc/mynagate/gateagent.json", "etc/mynagate/gatehub.json",
		"usr/share/doc/gateagent/README.md", "usr/share/doc/gatehub/README.md",
		"usr/share/doc/gateagent/examples/gpio-sysusers.conf", "usr/share/doc/gateagent/examples/gpio-udev.rules",
	} {
		if _, err := os.Stat(filepath.Join(root, f)); err != nil {
			t.Errorf("not installed: %v", err)
		}
	}
	status, _ := os.ReadFile(filepath.Join(root, "var/lib/dpkg/status"))
	for _, c := range []string{"/etc/mynagate/gateagent.json", "/etc/mynagate/gatehub.json"} {
		if !strings.Contains(string(status), "\n "+c+" ") {
			t.Errorf("%s is not a conffile", c)
		}
	}
	if v := run(t, nil, filepath.Join(root, "usr/bin/gatehub"), "version"); !strings.HasPrefix(v, "gatehub 1.2.3 ") {
		t.Errorf("gatehub version: %q", v)
	}
	if _, err := hub.LoadConfig(filepath.Join(root, "etc/mynagate/gatehub.json")); err != nil {
		t.Errorf("the hub's example config: %v", err)
	}

	// The units verify against the root (their binaries are there) and
	// score at most maxExposure. verify needs systemd's own units.
	run(t, nil, "cp", "-a", "--no-clobber", "/usr/lib/systemd/system/.", filepath.Join(root, "usr/lib/systemd/system/"))
	for _, unit := range []string{"mynagate-gateagent.service", "mynagate-gatehub.service"} {
		if out := run(t, nil, "systemd-analyze", "verify", "--root="+root, unit); strings.TrimSpace(out) != "" {
			t.Errorf("systemd-analyze verify %s:\n%s", unit, out)
		}
		out := run(t, nil, "systemd-analyze", "security", "--offline=true", "--root="+root, unit)
		m := regexp.MustCompile(`Overall exposure level for \S+: ([0-9.]+)`).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("systemd-analyze security %s: no score in\n%s", unit, out)
		}
		score, _ := strconv.ParseFloat(m[1], 64)
		t.Logf("%s: exposure %.1f", unit, score)
		if score > maxExposure {
			t.Errorf("%s scores %.1f, want at most %.1f", unit, score, maxExposure)
		}
	}

	// A purge removes the config but keeps the gate's journal; asked to,
	// it removes the hub's data too.
	os.WriteFile(filepath.Join(root, "var/lib/mynagate/outbox.db"), []byte("taps"), 0o600)
	dpkg(nil, "--purge", "gateagent")
	if _, err := os.Stat(filepath.Join(root, "var/lib/mynagate/outbox.db")); err != nil {
		t.Errorf("purge removed the gate's data: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "etc/mynagate/gateagent.json")); err == nil {
		t.Error("purge kept the gate's config")
	}
	dpkg([]string{"MYNAGATE_PURGE_DATA=yes"}, "--purge", "gatehub")
	if _, err := os.Stat(filepath.Join(root, "var/lib/mynagate-hub")); err == nil {
		t.Error("MYNAGATE_PURGE_DATA=yes purge kept the hub's data")
	}
}

// checkOwner checks a directory's numeric owner and mode.
func checkOwner(t *testing.T, path, uid string, mode os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Error(err)
		return
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || strconv.Itoa(int(st.Uid)) != uid || fi.Mode().Perm() != mode || !fi.IsDir() {
		t.Errorf("%s: mode %v, owner %v, want a directory of %s with mode %v", path, fi.Mode(), st.Uid, uid, mode)
	}
}

// goDebArch is the Debian architecture the packages are built for.
func goDebArch(t *testing.T) string {
	return strings.TrimSpace(run(t, nil, "dpkg", "--print-architecture"))
}
