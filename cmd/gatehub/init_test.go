package main

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mynagate/mynagate/hub"
	"github.com/mynagate/mynagate/offline/cardkey"
)

// TestInitFirstRun is the README's first run: init, run, enroll import by
// issuer key id and serial (needs the card-key secret init made), publish.
func TestInitFirstRun(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "hub")
	ctx := context.Background()
	res := initHub(t, ctx, dir)
	if !strings.Contains(res.PublicKeyPEM, "BEGIN PUBLIC KEY") {
		t.Fatalf("no public key to pin: %+v", res)
	}
	for path, mode := range map[string]os.FileMode{dir: 0o700 | os.ModeDir, res.DataDir: 0o700 | os.ModeDir,
		res.Config: 0o600, res.SigningKey: 0o600, res.CardKeySecret: 0o600, res.PublicKey: 0o644,
		res.UsersFile: 0o600, res.OperatorPasswordFile: 0o600} {
		fi, err := os.Stat(path)
		if err != nil || fi.Mode() != mode {
			t.Errorf("%s: %v %v, want %v", path, fi.Mode(), err, mode)
		}
	}
	cfg, err := hub.LoadConfig(res.Config)
	if err != nil || cfg.TimeZone != "Asia/Tokyo" || cfg.UsersFile != res.UsersFile {
		t.Fatalf("config as written: %+v %v", cfg, err)
	}
	// A second init changes nothing.
	before, _ := os.ReadFile(res.SigningKey)
	if _, stderr, code := runCmd(t, ctx, "init", dir); code == 0 || !strings.Contains(stderr, "already holds a hub") {
		t.Fatalf("second init: %d %s", code, stderr)
	}
	if after, _ := os.ReadFile(res.SigningKey); string(after) != string(before) {
		t.Fatal("second init replaced the signing key")
	}
	// The human text names every next step.
	otherDir := filepath.Join(t.TempDir(), "other")
	out, _, code := runCmd(t, ctx, "init", otherDir)
	for _, want := range []string{"BEGIN PUBLIC KEY", "gatehub run --config", "gatehub enroll import", "gatehub publish", "hsm init --import-secret",
		"log in as admin with the password in " + filepath.Join(otherDir, "dashboard.password")} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("init's text lacks %q:\n%s", want, out)
		}
	}

	startRun(t, ctx, res.Config)
	// The dashboard asks for a login from the first start, and the operator
	// init made gets in with the password it wrote.
	waitListening(t, cfg.HTTP)
	base := "http://" + cfg.HTTP
	if resp, err := http.Get(base + "/api/view"); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("anonymous GET /api/view: %v %v, want 401", resp, err)
	}
	opPass, err := os.ReadFile(res.OperatorPasswordFile)
	if err != nil {
		t.Fatal(err)
	}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for pw, want := range map[string]int{strings.TrimSpace(string(opPass)): http.StatusSeeOther, "not-the-password": http.StatusUnauthorized} {
		resp, err := noRedirect.PostForm(base+"/login", url.Values{"name": {res.OperatorName}, "password": {pw}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("log in as %s: %s, want %d", res.OperatorName, resp.Status, want)
		}
	}
	keyer, err := cardkey.LoadSecretFile(res.CardKeySecret)
	if err != nil {
		t.Fatal(err)
	}
	csvPath := filepath.Join(t.TempDir(), "residents.csv")
	os.WriteFile(csvPath, []byte("issuer_key_id,serial,service_id,kind\n0a0b0c,1F,R-1,resident\n"), 0o600)
	out, stderr, code := runCmd(t, ctx, "enroll", "import", "--config", res.Config, "--site", "shelter-1", csvPath)
	if code != 0 || !strings.Contains(out, "1 added") {
		t.Fatalf("enroll import: %d %s %s", code, out, stderr)
	}
	want, _ := keyer.CardKey([]byte{0x0a, 0x0b, 0x0c}, []byte{0x1f})
	m, err := hub.OpenMaster(filepath.Join(res.DataDir, "lists.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := m.CardsByService("shelter-1", "whitelist", []string{"R-1"})
	m.Close()
	if err != nil || len(got["R-1"]) != 1 || got["R-1"][0] != want {
		t.Fatalf("the row's card key is not the one the secret gives: %v %v", got, err)
	}
	deadline := time.Now().Add(20 * time.Second) // the broker may still be starting
	for {
		out, stderr, code = runCmd(t, ctx, "publish", "--config", res.Config, "--site", "shelter-1")
		if code == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if code != 0 || !strings.Contains(out, "published snapshot v1") {
		t.Fatalf("publish: %d %s %s", code, out, stderr)
	}
}
