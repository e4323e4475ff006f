package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// run dispatches a gateagent command line and returns its exit code and output.
func run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := dispatch(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func writeSecret(t *testing.T, dir string) (string, []byte) {
	t.Helper()
	secret := bytes.Repeat([]byte{0x33}, 32)
	p := filepath.Join(dir, "cardkey.secret")
	if err := os.WriteFile(p, []byte(hex.EncodeToString(secret)), 0o600); err != nil {
		t.Fatal(err)
	}
	return p, secret
}

const testCSV = `issuer_key_id,serial,service_id,kind,valid_from,valid_until,zones,seat,group
1ac100f596a3bc8c4b3df195e32699249e9e308a,0133C349,T-0001,ticket,2026-12-01T17:00:00+09:00,2026-12-01T22:00:00+09:00,A;B,A-12-7,G-77
1ac100f596a3bc8c4b3df195e32699249e9e308a,06D18006,R-1001,resident,,,,,
`

func TestWhitelistCommands(t *testing.T) {
	dir := t.TempDir()
	secret, _ := writeSecret(t, dir)
	db := filepath.Join(dir, "w.db")
	csv := filepath.Join(dir, "list.csv")
	os.WriteFile(csv, []byte(testCSV), 0o600)

	code, out, errOut := run(t, "whitelist", "import", "--db", db, "--secret-file", secret, "--json", csv)
	if code != 0 {
		t.Fatalf("import: exit %d: %s", code, errOut)
	}
	var imp struct {
		Rows    int    `json:"rows"`
		Version uint64 `json:"version"`
	}
	if err := json.Unmarshal([]byte(out), &imp); err != nil || imp.Rows != 2 || imp.Version != 1 {
		t.Fatalf("import output %q: %v", out, err)
	}

	code, out, errOut = run(t, "whitelist", "stats", "--db", db, "--json")
	var st struct {
		Entries       uint64  `json:"entries"`
		Version       uint64  `json:"version"`
		BytesPerEntry float64 `json:"bytes_per_entry"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &st) != nil || st.Entries != 2 || st.Version != 1 || st.BytesPerEntry == 0 {
		t.Fatalf("stats: exit %d %q %s", code, out, errOut)
	}
	if strings.Count(out, "\n") != 1 {
		t.Fatalf("--json must print one object per line: %q", out)
	}

	code, out, errOut = run(t, "whitelist", "lookup", "--db", db, "--secret-file", secret, "--json",
		"--issuer-key-id", "1ac100f596a3bc8c4b3df195e32699249e9e308a", "--serial", "133C349")
	var lk struct {
		CardKey   string   `json:"card_key"`
		Listed    bool     `json:"listed"`
		ServiceID string   `json:"service_id"`
		Zones     []string `json:"zones"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &lk) != nil || !lk.Listed || lk.ServiceID != "T-0001" || len(lk.Zones) != 2 {
		t.Fatalf("lookup by serial: exit %d %q %s", code, out, errOut)
	}

	code, out, _ = run(t, "whitelist", "lookup", "--db", db, "--card-key", lk.CardKey)
	if code != 0 || !strings.Contains(out, "T-0001") || !strings.Contains(out, "revoked     false") {
		t.Fatalf("lookup by card key (human): exit %d\n%s", code, out)
	}
	if code, _, errOut := run(t, "whitelist", "revoke", "--db", db, lk.CardKey); code != 0 {
		t.Fatalf("revoke: %s", errOut)
	}
	code, out, _ = run(t, "whitelist", "lookup", "--db", db, "--card-key", lk.CardKey, "--json")
	if code != 0 || !strings.Contains(out, `"revoked":true`) {
		t.Fatalf("after revoke: %s", out)
	}

	bad := filepath.Join(dir, "bad.csv")
	os.WriteFile(bad, []byte(strings.Replace(testCSV, "resident", "vip", 1)), 0o600)
	code, _, errOut = run(t, "whitelist", "import", "--db", db, "--secret-file", secret, bad)
	if code != 1 || !strings.Contains(errOut, "line 3, column kind") {
		t.Fatalf("bad import: exit %d, stderr %q; want the line and column", code, errOut)
	}
}

func TestWhitelistUsageErrors(t *testing.T) {
	dir := t.TempDir()
	secret, _ := writeSecret(t, dir)
	db := filepath.Join(dir, "w.db")
	tests := [][]string{
		{"whitelist", "import", "--db", db},                                                       // no CSV file
		{"whitelist", "import", "--db", db, filepath.Join(dir, "x.csv")},                          // no secret
		{"whitelist", "import", "--db", db, "--secret-file", secret, "--hsm-token", "t", "x.csv"}, // both
		{"whitelist", "lookup", "--db", db},                                                       // nothing to look up
		{"whitelist", "lookup", "--db", db, "--card-key", "abc"},                                  // short key
		{"whitelist", "stats", "--db", filepath.Join(dir, "missing.db")},                          // no list yet
	}
	for _, args := range tests {
		if code, _, errOut := run(t, args...); code == 0 || errOut == "" {
			t.Errorf("%v: exit %d, stderr %q; want a failure with a message", args, code, errOut)
		}
	}
}
