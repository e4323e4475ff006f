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
	"time"
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

// buildGatehub builds the real binary into dir.
func buildGatehub(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "gatehub")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// startImport starts the real binary on args; its stderr is a pipe (plain
// progress lines, no bar), sent line by line on the channel, closed at its
// end. The test's cleanup kills it if it still runs.
func startImport(t *testing.T, bin string, args ...string) (*exec.Cmd, <-chan string, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string)
	// A test that fails half-way leaves no import behind (stopped or not).
	t.Cleanup(func() {
		cmd.Process.Kill()
		for range lines {
		}
		cmd.Wait()
	})
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	return cmd, lines, &stdout
}

// midImport says whether a progress line reports a batch staged and more to come.
func midImport(line string) bool {
	return strings.HasPrefix(line, "importing:") && !strings.Contains(line, "100%") && !strings.Contains(line, " 0%")
}

// TestEnrollImportSignal interrupts the real binary in the middle of a large
// import, as Ctrl-C and as systemd or kill do: it stops with a clear message
// and the old list stays in force.
func TestEnrollImportSignal(t *testing.T) {
	shared := t.TempDir()
	bin := buildGatehub(t, shared)
	big := filepath.Join(shared, "big.csv")
	writeEnrolment(t, big, 600_000, "N-")
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			dir, cfgPath := hubDir(t)
			old := filepath.Join(dir, "old.csv")
			writeEnrolment(t, old, 10, "O-")
			if out, stderr, code := runCmd(t, context.Background(), "enroll", "import", "--config", cfgPath, "--site", "s", old); code != 0 {
				t.Fatalf("first import: %s %s", out, stderr)
			}
			cmd, lines, stdout := startImport(t, bin, "enroll", "import", "--config", cfgPath, "--site", "s", "--replace", big)
			// Signal once the import has staged a first batch.
			var log strings.Builder
			sent := false
			for line := range lines {
				log.WriteString(line + "\n")
				if !sent && midImport(line) {
					if err := cmd.Process.Signal(sig); err != nil {
						t.Fatal(err)
					}
					sent = true
				}
			}
			err := cmd.Wait()
			if !sent {
				t.Fatalf("the import never reported a batch:\n%s", log.String())
			}
			if err == nil || !strings.Contains(log.String(), "the list in force is unchanged") {
				t.Fatalf("interrupted import: %v\nstdout %s\nstderr:\n%s", err, stdout.String(), log.String())
			}
			if n := listEntries(t, cfgPath); n != 10 {
				t.Fatalf("%d entries after an interrupted import, want the old 10", n)
			}
		})
	}
}

// TestEnrollImportDoesNotBlockConfigSet declares an emergency with the real
// commands while a large import of the same site is under way: gatehub config
// set succeeds with the import held between two batches (stopped, so that it
// is certainly still running), and the import then finishes with the new list.
func TestEnrollImportDoesNotBlockConfigSet(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	bin := buildGatehub(t, dir)
	res := initHub(t, ctx, dir)
	startRun(t, ctx, res.Config)
	configSet := func(args ...string) (string, string, int) {
		return runCmd(t, ctx, append([]string{"config", "set", "--config", res.Config, "--site", "s"}, args...)...)
	}
	// The broker may still be starting.
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, stderr, code := configSet("--anti-passback=false")
		if code == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("config set before the import: %d %s", code, stderr)
		}
		time.Sleep(100 * time.Millisecond)
	}
	old := filepath.Join(dir, "old.csv")
	writeEnrolment(t, old, 10, "O-")
	if out, stderr, code := runCmd(t, ctx, "enroll", "import", "--config", res.Config, "--site", "s", old); code != 0 {
		t.Fatalf("first import: %s %s", out, stderr)
	}
	big := filepath.Join(dir, "big.csv")
	writeEnrolment(t, big, 600_000, "N-")

	cmd, lines, stdout := startImport(t, bin, "enroll", "import", "--config", res.Config, "--site", "s", "--replace", big)
	var log strings.Builder
	declared := false
	for line := range lines {
		log.WriteString(line + "\n")
		if declared || !midImport(line) {
			continue
		}
		if err := cmd.Process.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		// Stopped between batches, not inside one (holding lists.db): else
		// let it go on to its next batch and try again.
		if !heldByAnother(t, filepath.Join(res.DataDir, "lists.db")) {
			out, stderr, code := configSet("--emergency", "--for", "1h", "--fallback", "cert")
			if code != 0 || !strings.Contains(out, "EMERGENCY DECLARED") {
				cmd.Process.Signal(syscall.SIGCONT)
				t.Fatalf("config set --emergency during an import: %d %s %s", code, out, stderr)
			}
			declared = true
		}
		if err := cmd.Process.Signal(syscall.SIGCONT); err != nil {
			t.Fatal(err)
		}
	}
	if err := cmd.Wait(); err != nil || !declared {
		t.Fatalf("import (emergency declared during it: %v): %v\nstdout %s\nstderr:\n%s", declared, err, stdout.String(), log.String())
	}
	if n := listEntries(t, res.Config); n != 600_000 {
		t.Fatalf("%d entries after the import, want the new 600000", n)
	}
	out, stderr, code := runCmd(t, ctx, "config", "show", "--config", res.Config, "--site", "s")
	if code != 0 || !strings.Contains(out, "EMERGENCY DECLARED") || !strings.Contains(out, "anti-passback off") {
		t.Fatalf("config after the import: %d %s %s", code, out, stderr)
	}
}

// heldByAnother says whether another process holds bbolt's lock on path (a
// flock, shared by readers, exclusive by a writer).
func heldByAnother(t *testing.T, path string) bool {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return true
	}
	return syscall.Flock(int(f.Fd()), syscall.LOCK_UN) != nil
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
