package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestConfigCheck runs gatehub config check over a good config, then over
// broken ones; every problem must be named, each on its own line.
func TestConfigCheck(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	if _, stderr, code := runCmd(t, ctx, "keygen", "--out", filepath.Join(dir, "sign.pem")); code != 0 {
		t.Fatal(stderr)
	}
	os.WriteFile(filepath.Join(dir, "hub.password"), []byte("pw\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "gate.password"), []byte("pw\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "bad-sign.pem"), []byte("not a key"), 0o600)
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.json", `{"data_dir": "data", "signing_key": "sign.pem", "demo_file_keys": true, "username": "hub", "password_file": "hub.password"}`)
	for _, tc := range []struct {
		name string
		file string
		code int
		want []string
	}{
		{"good", good, 0, []string{"good.json: ok (embedded broker on 127.0.0.1:1883 (TLS), 0 provisioned gate(s))"}},
		{"shared store", write("shared.json", `{"data_dir": "data", "signing_key": "sign.pem", "demo_file_keys": true, "username": "hub", "password_file": "hub.password",
			"broker": "ssl://mqtt.example:8883", "database_url": "postgres://hub:secret@db/hub", "instance": "h1", "shared_group": "hubs"}`), 0,
			[]string{"shared.json: ok (external broker ssl://mqtt.example:8883, 0 provisioned gate(s), store in PostgreSQL as instance h1 of shared group hubs)"}},
		{"unknown key", write("typo.json", `{"data_dir": "d", "singing_key": "sign.pem"}`), 1, []string{`typo.json: json: unknown field "singing_key"`}},
		{"every problem", write("bad.json", `{"data_dir": "d", "signing_key": "bad-sign.pem", "demo_file_keys": true, "ca_file": "none.pem", "log": "loud",
			"listen": "0.0.0.0:1883", "insecure_plain_tcp_on_loopback": true}`), 1,
			[]string{"not a loopback address", `log "loud"`}},
		{"file checks", write("files.json", `{"data_dir": "d", "signing_key": "bad-sign.pem", "demo_file_keys": true, "ca_file": "none.pem",
			"username": "hub", "password_file": "gate.password"}`), 1,
			[]string{"signing_key: lists: signing key", "password_file: ", "has mode 0644; run chmod 600", "ca_file: open "}},
		{"no account", write("anon.json", `{"data_dir": "d"}`), 1, []string{"username and password_file are required"}},
		{"missing", filepath.Join(dir, "absent.json"), 1, []string{"no such file"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, stderr, code := runCmd(t, ctx, "config", "check", tc.file)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\n%s%s", code, tc.code, out, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			if tc.code != 0 && !strings.Contains(stderr, "problem(s) in "+tc.file) {
				t.Errorf("stderr does not count the problems: %q", stderr)
			}
		})
	}
	// A config that fails the strict checks is not file-checked: the log
	// level is the one problem named.
	out, _, _ := runCmd(t, ctx, "config", "check", filepath.Join(dir, "bad.json"))
	if !strings.Contains(out, `log "loud"`) {
		t.Errorf("bad log level not named:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(dir, "data")); err == nil {
		t.Error("config check created the data dir")
	}
}

// TestHelpAndVersion checks the answers every program gives alike.
func TestHelpAndVersion(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{[]string{"--help"}, 0, "config check", ""},
		{[]string{"help", "config"}, 0, "config show", ""},
		{[]string{"publish", "-h"}, 0, "", "-snapshot"},
		{[]string{"config", "check", "--help"}, 0, "", "usage: gatehub config check FILE"},
		{[]string{"version"}, 0, "gatehub ", ""},
		{[]string{"frobnicate"}, 2, "", `gatehub: unknown command "frobnicate"`},
	} {
		out, stderr, code := runCmd(t, ctx, tc.args...)
		if code != tc.code || !strings.Contains(out, tc.stdout) || !strings.Contains(stderr, tc.stderr) {
			t.Errorf("%v: exit %d\nstdout %q\nstderr %q", tc.args, code, out, stderr)
		}
	}
}
