package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/mynagate/mynagate/offline/cardkey"
	"github.com/mynagate/mynagate/offline/hsm/hsmtest"
)

func TestHSMCommands(t *testing.T) {
	cfg := hsmtest.NewToken(t, "gate-cli")
	dir := t.TempDir()
	secretFile, secret := writeSecret(t, dir)
	hsmArgs := []string{"--hsm-module", cfg.Module, "--hsm-token", cfg.TokenLabel, "--hsm-pin-file", cfg.PINFile, "--hsm-max-sessions", strconv.Itoa(cfg.MaxSessions)}
	with := func(args ...string) []string { return append(args, hsmArgs...) }

	code, out, errOut := run(t, with("hsm", "status")...)
	if code != 0 || strings.Count(out, "MISSING") != 2 {
		t.Fatalf("status before init: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = run(t, with("hsm", "init", "--json", "--import-secret", secretFile, "--csr-cn", "gate-cli", "--csr-org", "Test Venue")...)
	if code != 0 {
		t.Fatalf("init: exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("init --json printed %d lines, want 2:\n%s", len(lines), out)
	}
	var inst, ck hsmKeyResult
	json.Unmarshal([]byte(lines[0]), &inst)
	json.Unmarshal([]byte(lines[1]), &ck)
	if inst.Action != "created" || !strings.Contains(inst.PublicKey, "BEGIN PUBLIC KEY") || !strings.Contains(inst.CSR, "BEGIN CERTIFICATE REQUEST") || ck.Action != "imported" {
		t.Fatalf("init results %+v %+v", inst, ck)
	}
	// Init again: both exist, nothing is replaced.
	code, out, _ = run(t, with("hsm", "init")...)
	if code != 0 || strings.Count(out, ": exists") != 2 {
		t.Fatalf("second init: exit %d\n%s", code, out)
	}
	code, out, _ = run(t, with("hsm", "status", "--json")...)
	if code != 0 || strings.Contains(out, `"found":false`) || strings.Contains(out, `"extractable":true`) {
		t.Fatalf("status after init: %s", out)
	}

	// The HSM keyer and the software keyer with the same secret build the
	// same list.
	csv := filepath.Join(dir, "list.csv")
	os.WriteFile(csv, []byte(testCSV), 0o600)
	db := filepath.Join(dir, "w.db")
	if code, _, errOut := run(t, append(with("whitelist", "import", "--db", db), csv)...); code != 0 {
		t.Fatalf("import with HSM: %s", errOut)
	}
	want, _ := cardkey.NewSoftware(secret).CardKey([]byte{0x1a, 0xc1, 0x00, 0xf5, 0x96, 0xa3, 0xbc, 0x8c, 0x4b, 0x3d, 0xf1, 0x95, 0xe3, 0x26, 0x99, 0x24, 0x9e, 0x9e, 0x30, 0x8a}, []byte{0x06, 0xD1, 0x80, 0x06})
	code, out, errOut = run(t, "whitelist", "lookup", "--db", db, "--card-key", want.String(), "--json")
	if code != 0 || !strings.Contains(out, `"listed":true`) || !strings.Contains(out, "R-1001") {
		t.Fatalf("card listed by the HSM keyer not found by the software key: exit %d %s %s", code, out, errOut)
	}
}

func TestHSMCommandRefusesLoosePIN(t *testing.T) {
	cfg := hsmtest.NewToken(t, "gate-cli")
	loose := filepath.Join(t.TempDir(), "pin")
	os.WriteFile(loose, []byte(hsmtest.PIN), 0o644)
	os.Chmod(loose, 0o644)
	code, _, errOut := run(t, "hsm", "status", "--hsm-module", cfg.Module, "--hsm-token", cfg.TokenLabel, "--hsm-pin-file", loose)
	if code == 0 || !strings.Contains(errOut, "chmod 600") {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
}
