package gatebundle

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const testCA = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIQAQ==\n-----END CERTIFICATE-----\n"
const testKey = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n-----END PUBLIC KEY-----\n"

func sample() *Bundle {
	return &Bundle{V: Version, Site: "stadium", Gate: "north-3", Broker: "ssl://hub.example.org:8883", Prefix: "mynagate/v1",
		ClientID: "mynagate-stadium-north-3", Username: "stadium/north-3", Password: "not-a-real-password",
		CAPEM: testCA, HubKeys: []string{testKey}, MinListVersions: map[string]uint64{"whitelist": 12, "config": 3},
		Created: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
}

// TestGolden pins the bundle's format: gatehub and gateagent of one release
// must agree on it.
func TestGolden(t *testing.T) {
	got, err := sample().Marshal()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "bundle.golden.json")
	if os.Getenv("UPDATE_GOLDEN") == "1" {
		os.WriteFile(path, got, 0o644)
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (UPDATE_GOLDEN=1 creates it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("bundle format changed:\n%s\nwant:\n%s", got, want)
	}
	if _, err := Parse(want); err != nil {
		t.Fatal(err)
	}
}

func TestParseRefuses(t *testing.T) {
	tests := []struct {
		name, want string
		change     func(*Bundle)
	}{
		{"version", "version 2", func(b *Bundle) { b.V = 2 }},
		{"no password", "password is empty", func(b *Bundle) { b.Password = "" }},
		{"tls without CA", "ca_pem is empty", func(b *Bundle) { b.CAPEM = "" }},
		{"bad scheme", "want ssl://", func(b *Bundle) { b.Broker = "http://x" }},
		{"no keys", "hub_keys is empty", func(b *Bundle) { b.HubKeys = nil }},
		{"bad key", "hub_keys[0]", func(b *Bundle) { b.HubKeys = []string{"x"} }},
		{"wildcard site", "site", func(b *Bundle) { b.Site = "#" }},
		{"bad list", "bad list name", func(b *Bundle) { b.MinListVersions = map[string]uint64{"a/b": 1} }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := sample()
			tc.change(b)
			if _, err := b.Marshal(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
	if _, err := Parse([]byte(`{"v":1,"sitee":"x"}`)); err == nil || !strings.Contains(err.Error(), "unknown field") {
		t.Fatalf("unknown key: %v", err)
	}
}

func TestReadRefusesReadableBundle(t *testing.T) {
	path := filepath.Join(t.TempDir(), "b.json")
	if err := sample().WriteNew(path); err != nil {
		t.Fatal(err)
	}
	if err := sample().WriteNew(path); err == nil {
		t.Fatal("WriteNew replaced a bundle")
	}
	if _, err := Read(path); err != nil {
		t.Fatal(err)
	}
	os.Chmod(path, 0o644)
	if _, err := Read(path); err == nil || !strings.Contains(err.Error(), "others may have read") {
		t.Fatalf("group-readable bundle: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	b, _ := sample().Marshal()
	f.Add(b)
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		bu, err := Parse(in)
		if err != nil {
			return
		}
		// What parses marshals and parses again alike.
		out, err := bu.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Parse(out); err != nil {
			t.Fatal(err)
		}
	})
}
