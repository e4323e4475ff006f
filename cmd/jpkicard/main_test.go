package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
)

func TestRun(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	tests := []struct {
		name string
		args []string
		code int
	}{
		{"no command", nil, 2},
		{"unknown command", []string{"swipe"}, 2},
		{"tap without profile", []string{"tap"}, 1},
		{"tap missing file", []string{"tap", "--profile", filepath.Join(dir, "none.json")}, 1},
		{"pki init without dir", []string{"pki", "init"}, 1},
		{"pki init", []string{"pki", "init", dir, "--cards", "1"}, 0},
		{"pki institution without key", []string{"pki", "institution", dir, "--out", filepath.Join(dir, "x.cvc")}, 1},
		{"pki institution", []string{"pki", "institution", dir, "--public-key", filepath.Join(dir, "pinless-authority.pem"), "--out", filepath.Join(dir, "x.cvc"), "--code", "27000001"}, 0},
		{"pki crl", []string{"pki", "crl", dir, "--card", filepath.Join(dir, "card-001.json"), "--serial", "1F", "--out", filepath.Join(dir, "jpki.crl")}, 0},
		{"pki crl bad serial", []string{"pki", "crl", dir, "--serial", "xyz", "--out", filepath.Join(dir, "jpki.crl")}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			if code := run(context.Background(), tt.args, &out, &errOut); code != tt.code {
				t.Errorf("run(%q) = %d, want %d\nstdout: %s\nstderr: %s", tt.args, code, tt.code, &out, &errOut)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "card-001.json")); err != nil {
		t.Errorf("pki init wrote no card: %v", err)
	}
}
