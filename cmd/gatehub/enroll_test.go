package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// writeEnrolment writes an enrolment CSV of n tickets whose service ids start
// with prefix; the card keys are spread over the key space, as HMACs are.
func writeEnrolment(t *testing.T, path string, n int, prefix string) {
	t.Helper()
	var b bytes.Buffer
	b.WriteString("card_key,service_id,kind,seat\n")
	for i := range n {
		fmt.Fprintf(&b, "%016x%048x,%s%d,ticket,A-%d\n", uint64(i)*0x9e3779b97f4a7c15, i, prefix, i, i)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

func hubDir(t *testing.T) (dir, cfgPath string) {
	t.Helper()
	dir = t.TempDir()
	cfgPath = filepath.Join(dir, "gatehub.json")
	if err := os.WriteFile(cfgPath, []byte(`{"data_dir": "data"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir, cfgPath
}

func listEntries(t *testing.T, cfgPath string) int {
	t.Helper()
	out, stderr, code := runCmd(t, context.Background(), "lists", "--config", cfgPath, "--site", "s", "--json")
	var st struct {
		Entries int `json:"entries"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &st) != nil {
		t.Fatalf("lists: %d %s %s", code, out, stderr)
	}
	return st.Entries
}

// TestEnrollImportSIGINT interrupts the real binary in the middle of a large
// import: it stops with a clear message and the old list stays in force.
func TestEnrollImportSIGINT(t *testing.T) {
	dir, cfgPath := hubDir(t)
	bin := filepath.Join(dir, "gatehub")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	old := filepath.Join(dir, "old.csv")
	writeEnrolment(t, old, 10, "O-")
	if out, stderr, code := runCmd(t, context.Background(), "enroll", "import", "--config", cfgPath, "--site", "s", old); code != 0 {
		t.Fatalf("first import: %s %s", out, stderr)
	}
	big := filepath.Join(dir, "big.csv")
	writeEnrolment(t, big, 600_000, "N-")

	cmd := exec.Command(bin, "enroll", "import", "--config", cfgPath, "--site", "s", "--replace", big)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// stderr is a pipe: plain progress lines. Interrupt once the import
	// has staged a first batch, as an operator pressing Ctrl-C would.
	var log strings.Builder
	sc := bufio.NewScanner(stderr)
	sent := false
	for sc.Scan() {
		line := sc.Text()
		log.WriteString(line + "\n")
		if !sent && strings.HasPrefix(line, "importing:") && !strings.Contains(line, "100%") && !strings.Contains(line, " 0%") {
			if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
				t.Fatal(err)
			}
			sent = true
		}
	}
	err = cmd.Wait()
	if !sent {
		t.Fatalf("the import never reported a batch:\n%s", log.String())
	}
	if err == nil || !strings.Contains(log.String(), "the list in force is unchanged") {
		t.Fatalf("interrupted import: %v\nstdout %s\nstderr:\n%s", err, stdout.String(), log.String())
	}
	if n := listEntries(t, cfgPath); n != 10 {
		t.Fatalf("%d entries after an interrupted import, want the old 10", n)
	}
}

func TestEnrollImportAndRevokeByServiceID(t *testing.T) {
	dir, cfgPath := hubDir(t)
	csv := filepath.Join(dir, "enrol.csv")
	writeEnrolment(t, csv, 5, "T-")
	ctx := context.Background()
	out, stderr, code := runCmd(t, ctx, "enroll", "import", "--config", cfgPath, "--site", "s", csv)
	if code != 0 || !strings.Contains(out, "5 rows (UTF-8): 5 added") {
		t.Fatalf("import: %d %s %s", code, out, stderr)
	}
	// stderr is not a terminal here: plain lines, no bar.
	if strings.Contains(stderr, "\r") || !strings.Contains(stderr, "importing: 100%") {
		t.Fatalf("progress on a non-terminal:\n%q", stderr)
	}
	bad := filepath.Join(dir, "bad.csv")
	os.WriteFile(bad, []byte("card_key,service_id,kind\nzz,T-1,ticket\n"+strings.Repeat("01", 32)+",T-2,vip\n"), 0o600)
	if _, stderr, code := runCmd(t, ctx, "enroll", "import", "--config", cfgPath, "--site", "s", bad); code == 0 ||
		!strings.Contains(stderr, "2 bad rows") || !strings.Contains(stderr, "line 2, column card_key") || !strings.Contains(stderr, "line 3: kind") {
		t.Fatalf("bad file: %d %s", code, stderr)
	}

	tests := []struct {
		args    []string
		wantOut string
		wantErr string
	}{
		{[]string{"--service-id", "T-1", "T-3"}, "2 card keys revoked", ""},
		{[]string{"--service-id", "T-1", "T-9"}, "", "no card is enrolled under service id T-9"},
		{[]string{"--service-id"}, "", "give at least one service id"},
		{[]string{"--undo", "--service-id", "T-3"}, "1 card keys unrevoked", ""},
	}
	for _, tc := range tests {
		args := append([]string{"revoke", "--config", cfgPath, "--site", "s"}, tc.args...)
		out, stderr, code := runCmd(t, ctx, args...)
		if tc.wantErr != "" {
			if code == 0 || !strings.Contains(stderr, tc.wantErr) {
				t.Errorf("%v: %d %s %s", tc.args, code, out, stderr)
			}
			continue
		}
		if code != 0 || !strings.Contains(out, tc.wantOut) {
			t.Errorf("%v: %d %s %s", tc.args, code, out, stderr)
		}
	}
	out, _, _ = runCmd(t, ctx, "lists", "--config", cfgPath, "--site", "s", "--json")
	if !strings.Contains(out, `"revoked":1`) {
		t.Fatalf("after revoking T-1 and T-3 and unrevoking T-3: %s", out)
	}
}
