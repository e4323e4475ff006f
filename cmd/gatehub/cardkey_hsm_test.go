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

	"github.com/mynagate/mynagate/hub"
	"github.com/mynagate/mynagate/offline/cardkey"
	"github.com/mynagate/mynagate/offline/hsm/hsmtest"
)

// TestHSMNextCardKeySecret starts a card-key rotation at a hub whose keys are
// in a SoftHSM2 token: the next secret named in the config is missing until
// hsm init --import-next-secret puts it there (config check says so), and
// cardkey rekey then keys the enrolment rows in the token under both secrets,
// exactly as the software keyer does with the two secrets.
func TestHSMNextCardKeySecret(t *testing.T) {
	tok := hsmtest.NewToken(t, "mynagate-hub")
	dir := filepath.Join(t.TempDir(), "hub")
	ctx := context.Background()
	res := initHub(t, ctx, dir)
	b, _ := os.ReadFile(res.Config)
	var cfg map[string]any
	json.Unmarshal(b, &cfg)
	delete(cfg, "signing_key")
	delete(cfg, "card_key_secret")
	delete(cfg, "demo_file_keys")
	hsmSection := map[string]any{"module": tok.Module, "token_label": tok.TokenLabel, "pin_file": tok.PINFile}
	cfg["hsm"] = hsmSection
	writeCfg := func() {
		b, _ := json.Marshal(cfg)
		os.WriteFile(res.Config, b, 0o600)
	}
	writeCfg()
	nextSecret := bytes.Repeat([]byte{0x42}, 32)
	nextFile := filepath.Join(t.TempDir(), "cardkey-2.secret")
	os.WriteFile(nextFile, []byte(hex.EncodeToString(nextSecret)), 0o600)
	if _, stderr, code := runCmd(t, ctx, "hsm", "init", "--config", res.Config, "--import-secret", res.CardKeySecret, "--import-next-secret", nextFile); code == 0 || !strings.Contains(stderr, "next_card_key_label") {
		t.Fatalf("--import-next-secret without a label: %d %s", code, stderr)
	}
	if out, stderr, code := runCmd(t, ctx, "hsm", "init", "--config", res.Config, "--import-secret", res.CardKeySecret); code != 0 {
		t.Fatalf("hsm init: %d %s %s", code, out, stderr)
	}

	hsmSection["next_card_key_label"] = "mynagate-cardkey-2"
	writeCfg()
	if out, _, code := runCmd(t, ctx, "config", "check", res.Config); code == 0 || !strings.Contains(out, "next card-key secret") {
		t.Fatalf("config check without the next secret in the token: %d %s", code, out)
	}
	out, stderr, code := runCmd(t, ctx, "hsm", "init", "--config", res.Config, "--import-next-secret", nextFile)
	if code != 0 || !strings.Contains(out, `next card-key secret "mynagate-cardkey-2": imported`) {
		t.Fatalf("hsm init --import-next-secret: %d %s %s", code, out, stderr)
	}
	if out, stderr, code := runCmd(t, ctx, "config", "check", res.Config); code != 0 {
		t.Fatalf("config check: %d %s %s", code, out, stderr)
	}

	issuer, serial := []byte{0x1a, 0xc1, 0x00, 0xf5}, []byte{0x06, 0xd1, 0x80, 0x06}
	csv := filepath.Join(t.TempDir(), "residents.csv")
	os.WriteFile(csv, []byte("issuer_key_id,serial,service_id,kind\n"+hex.EncodeToString(issuer)+","+hex.EncodeToString(serial)+",R-1,resident\n"), 0o600)
	if out, stderr, code := runCmd(t, ctx, "enroll", "import", "--config", res.Config, "--site", "arena", csv); code != 0 {
		t.Fatalf("enroll import: %d %s %s", code, out, stderr)
	}
	if out, stderr, code := runCmd(t, ctx, "cardkey", "rekey", "--config", res.Config, "--site", "arena", "--enrolment", csv, "--no-events"); code != 0 || !strings.Contains(out, "1 entries and 0 revocations carried over") {
		t.Fatalf("cardkey rekey: %d %s %s", code, out, stderr)
	}
	curHex, _ := os.ReadFile(res.CardKeySecret)
	curSecret, _ := cardkey.DecodeSecret(curHex)
	wantCur, _ := cardkey.NewSoftware(curSecret).CardKey(issuer, serial)
	wantNext, _ := cardkey.NewSoftware(nextSecret).CardKey(issuer, serial)
	m, err := hub.OpenMaster(filepath.Join(res.DataDir, "lists.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	got, err := m.CardsByService("arena", "whitelist", []string{"R-1"})
	if err != nil {
		t.Fatal(err)
	}
	if !sameKeySet(got["R-1"], wantCur, wantNext) {
		t.Fatalf("R-1 listed under %v, want %s (current) and %s (next)", got["R-1"], wantCur, wantNext)
	}
}

func sameKeySet(got []cardkey.Key, want ...cardkey.Key) bool {
	if len(got) != len(want) {
		return false
	}
	for _, w := range want {
		found := false
		for _, g := range got {
			found = found || g == w
		}
		if !found {
			return false
		}
	}
	return true
}
