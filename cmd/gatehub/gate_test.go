package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mynagate/mynagate/gatebundle"
	"github.com/mynagate/mynagate/hub/hubtest"
	"github.com/mynagate/mynagate/sync/uplink"
)

// provision runs gatehub gate add and returns the account the bundle gives,
// as gateagent enrol would set it up.
func provision(t *testing.T, ctx context.Context, cfgPath, site, gate string) uplink.Config {
	t.Helper()
	dir := t.TempDir()
	bundle := filepath.Join(dir, "bundle.json")
	out, stderr, code := runCmd(t, ctx, "gate", "add", "--config", cfgPath, "--site", site, "--gate", gate, "--out", bundle)
	if code != 0 {
		t.Fatalf("gate add: %d %s %s", code, out, stderr)
	}
	b, err := gatebundle.Read(bundle)
	if err != nil {
		t.Fatal(err)
	}
	c := uplink.Config{Broker: b.Broker, Site: b.Site, Gate: b.Gate, Prefix: b.Prefix, ClientID: b.ClientID, Username: b.Username, Password: b.Password}
	if b.CAPEM != "" {
		c.CAFile = filepath.Join(dir, "ca.pem")
		if err := os.WriteFile(c.CAFile, []byte(b.CAPEM), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// TestGateCommands provisions a gate against a running hub, lists it, and
// revokes it: its live session is cut and it cannot log in again.
func TestGateCommands(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "hub")
	ctx := context.Background()
	res := initHub(t, ctx, dir)
	for _, p := range []string{res.PasswordFile, filepath.Join(res.DataDir, "tls", "ca-key.pem")} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v, want owner-only", p, err)
		}
	}
	startRun(t, ctx, res.Config)

	g := provision(t, ctx, res.Config, "stadium", "north")
	if !strings.HasPrefix(g.Broker, "ssl://") || g.CAFile == "" {
		t.Fatalf("bundle broker %s CA %q: want TLS with the hub's CA", g.Broker, g.CAFile)
	}
	cl := hubtest.Connect(t, g)
	if _, stderr, code := runCmd(t, ctx, "gate", "add", "--config", res.Config, "--site", "stadium", "--gate", "north", "--out", filepath.Join(t.TempDir(), "b")); code == 0 || !strings.Contains(stderr, "already provisioned") {
		t.Fatalf("a second gate add of a live gate: %d %s", code, stderr)
	}
	if _, stderr, code := runCmd(t, ctx, "gate", "add", "--config", res.Config, "--site", "hub", "--gate", "ingest", "--out", filepath.Join(t.TempDir(), "b")); code == 0 || !strings.Contains(stderr, "the hub's") {
		t.Fatalf("a gate named into the hub's client ids: %d %s", code, stderr)
	}
	if out, stderr, code := runCmd(t, ctx, "gate", "add", "--config", res.Config, "--site", "stadium", "--gate", "box-1", "--kiosk", "--out", filepath.Join(t.TempDir(), "k")); code != 0 {
		t.Fatalf("gate add --kiosk: %d %s %s", code, out, stderr)
	}
	out, _, _ := runCmd(t, ctx, "gate", "list", "--config", res.Config)
	if !strings.Contains(out, "stadium/north") || !strings.Contains(out, "active") || strings.Contains(strings.SplitN(out, "stadium/box-1", 2)[0], "kiosk") {
		t.Fatalf("gate list: %s", out)
	}
	if !strings.Contains(out, "stadium/box-1") || !strings.Contains(out, "kiosk (enrols cards)") {
		t.Fatalf("gate list does not show the kiosk: %s", out)
	}
	if out, stderr, code := runCmd(t, ctx, "gate", "revoke", "--config", res.Config, "--site", "stadium", "--gate", "north"); code != 0 {
		t.Fatalf("gate revoke: %d %s %s", code, out, stderr)
	}
	deadline := time.Now().Add(30 * time.Second)
	for cl.IsConnectionOpen() {
		if time.Now().After(deadline) {
			t.Fatal("the revoked gate is still connected")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if c, err := hubtest.Dial(g); err == nil {
		c.Disconnect(50)
		t.Fatal("the revoked gate logged in again")
	}
	out, _, _ = runCmd(t, ctx, "gate", "list", "--config", res.Config)
	if !strings.Contains(out, "REVOKED") {
		t.Fatalf("gate list after revoke: %s", out)
	}
}

// TestGateAddPinsNextKey: during a rotation of the hub's signing key
// (next_signing_public_key), a new gate's bundle pins the current key and the
// next one; once the hub signs with the next key, that key alone.
func TestGateAddPinsNextKey(t *testing.T) {
	ctx := context.Background()
	res := initHub(t, ctx, filepath.Join(t.TempDir(), "hub"))
	out, stderr, code := runCmd(t, ctx, "keygen", "--out", filepath.Join(res.Dir, "hub-signing-2.pem"))
	if code != 0 {
		t.Fatalf("keygen: %d %s", code, stderr)
	}
	nextPEM := out[strings.Index(out, "-----BEGIN"):]
	nextFile := filepath.Join(res.Dir, "hub-signing-2.pub.pem")
	if err := os.WriteFile(nextFile, []byte(nextPEM), 0o644); err != nil {
		t.Fatal(err)
	}
	garbage := filepath.Join(res.Dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not a key"), 0o644); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(res.Config)
	if err != nil {
		t.Fatal(err)
	}
	for i, tc := range []struct {
		name    string
		next    string
		want    []string
		wantErr string
	}{
		{"no rotation", "", []string{res.PublicKeyPEM}, ""},
		{"rotating", nextFile, []string{res.PublicKeyPEM, nextPEM}, ""},
		{"next is the current key", res.PublicKey, []string{res.PublicKeyPEM}, ""},
		{"not a key", garbage, nil, "next_signing_public_key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var cfg map[string]any
			if err := json.Unmarshal(raw, &cfg); err != nil {
				t.Fatal(err)
			}
			if tc.next != "" {
				cfg["next_signing_public_key"] = tc.next
			}
			b, _ := json.Marshal(cfg)
			if err := os.WriteFile(res.Config, b, 0o600); err != nil {
				t.Fatal(err)
			}
			bundle := filepath.Join(t.TempDir(), "bundle.json")
			_, stderr, code := runCmd(t, ctx, "gate", "add", "--config", res.Config, "--site", "stadium", "--gate", fmt.Sprintf("g%d", i), "--out", bundle)
			if tc.wantErr != "" {
				if code == 0 || !strings.Contains(stderr, tc.wantErr) {
					t.Fatalf("gate add: %d %s, want an error naming %s", code, stderr, tc.wantErr)
				}
				return
			}
			if code != 0 {
				t.Fatalf("gate add: %d %s", code, stderr)
			}
			got, err := gatebundle.Read(bundle)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got.HubKeys, tc.want) {
				t.Fatalf("pinned %q, want %q", got.HubKeys, tc.want)
			}
		})
	}
}
