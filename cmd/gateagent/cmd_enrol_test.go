package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mynagate/mynagate/config"
	"github.com/mynagate/mynagate/gatebundle"
)

func testBundle(t *testing.T, site string) *gatebundle.Bundle {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "gatebundle", "testdata", "bundle.golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	bu, err := gatebundle.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	bu.Site, bu.Created = site, time.Now()
	return bu
}

// TestEnrol sets up the Debian package's example config from a bundle: the
// files are owner-only, the config names them and loads, and the bundle is
// gone.
func TestEnrol(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "gateagent.json")
	example, err := os.ReadFile(filepath.Join("..", "..", "configs", "gateagent.json"))
	if err != nil {
		t.Fatal(err)
	}
	example = bytes.Replace(example, []byte(`"example-site"`), []byte(`"stadium"`), 1)
	example = bytes.Replace(example, []byte(`"gate-1"`), []byte(`"north-3"`), 1)
	if err := os.WriteFile(cfgPath, example, 0o640); err != nil {
		t.Fatal(err)
	}
	bundle := filepath.Join(dir, "b.json")
	if err := testBundle(t, "stadium").WriteNew(bundle); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := dispatch(context.Background(), []string{"enrol", "--config", cfgPath, bundle}, &out, &errb); code != 0 {
		t.Fatalf("enrol: %d %s %s", code, out.String(), errb.String())
	}
	if _, err := os.Stat(bundle); !os.IsNotExist(err) {
		t.Fatalf("bundle still there: %v", err)
	}
	for _, f := range []string{enrolCA, enrolPassword, "hub-signing-1.pub.pem"} {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v, want owner-only", f, err)
		}
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MQTT.Broker != "ssl://hub.example.org:8883" || cfg.MQTT.ClientID != "mynagate-stadium-north-3" || cfg.MQTT.Username != "stadium/north-3" ||
		cfg.MQTT.CAFile != filepath.Join(dir, enrolCA) || cfg.MinListVersions["whitelist"] != 12 || len(cfg.HubKeys) != 1 || cfg.Mode != "venue" {
		t.Fatalf("enrolled config: %+v", cfg)
	}
	if pw, _ := os.ReadFile(cfg.MQTT.PasswordFile); strings.TrimSpace(string(pw)) != "not-a-real-password" {
		t.Fatalf("password file: %q", pw)
	}
	if fi, _ := os.Stat(cfgPath); fi.Mode().Perm() != 0o640 {
		t.Fatalf("config mode %o changed", fi.Mode().Perm())
	}
}

func TestEnrolRefuses(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "gateagent.json")
	os.WriteFile(cfgPath, []byte(`{"site": "arena", "gate": "north-3", "mode": "venue", "lanes": [{"name": "in", "reader": "*", "kind": "entry"}], "roots": ["r.pem"]}`), 0o600)
	tests := []struct {
		name, want string
		bundle     func(string) string
	}{
		{"another site's bundle", `for site "arena", the bundle for "stadium"`, func(p string) string {
			testBundle(t, "stadium").WriteNew(p)
			return p
		}},
		{"a bundle others may read", "others may have read", func(p string) string {
			testBundle(t, "arena").WriteNew(p)
			os.Chmod(p, 0o644)
			return p
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before, _ := os.ReadFile(cfgPath)
			var out, errb bytes.Buffer
			code := dispatch(context.Background(), []string{"enrol", "--config", cfgPath, tc.bundle(filepath.Join(t.TempDir(), "b.json"))}, &out, &errb)
			if code == 0 || !strings.Contains(errb.String(), tc.want) {
				t.Fatalf("exit %d: %s, want %q", code, errb.String(), tc.want)
			}
			if after, _ := os.ReadFile(cfgPath); !bytes.Equal(before, after) {
				t.Fatal("a refused enrol changed the config")
			}
		})
	}
}
