package hub

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mynagate/mynagate/offline/cardkey"
	"github.com/mynagate/mynagate/offline/hsm"
	"github.com/mynagate/mynagate/offline/hsm/hsmtest"
	"github.com/mynagate/mynagate/sync/lists"
)

// TestKeyConfig: the keys are in the token or, for demos only and said so,
// in files; never both, never files without demo_file_keys.
func TestKeyConfig(t *testing.T) {
	const base = `"data_dir": "/d", "broker": "ssl://b:8883"`
	const token = `"hsm": {"token_label": "hub", "pin_file": "hsm.pin"}`
	tests := []struct {
		name, body, wantErr string
	}{
		{"no keys", `{` + base + `}`, ""},
		{"token", `{` + base + `, ` + token + `}`, ""},
		{"demo files", `{` + base + `, "signing_key": "s.pem", "card_key_secret": "c", "demo_file_keys": true}`, ""},
		{"file key without demo_file_keys", `{` + base + `, "signing_key": "s.pem"}`, `allowed only with "demo_file_keys": true`},
		{"secret file without demo_file_keys", `{` + base + `, "card_key_secret": "c"}`, `allowed only with "demo_file_keys": true`},
		{"token and files", `{` + base + `, ` + token + `, "signing_key": "s.pem"}`, "one or the other"},
		{"token and demo", `{` + base + `, ` + token + `, "demo_file_keys": true}`, "remove demo_file_keys"},
		{"token without label", `{` + base + `, "hsm": {"pin_file": "p"}}`, "token_label and pin_file are required"},
		{"token typo", `{` + base + `, "hsm": {"token_label": "hub", "pin_file": "p", "signing_label": "x"}}`, `unknown field "signing_label"`},
		{"rotating in the token", `{` + base + `, "hsm": {"token_label": "hub", "pin_file": "hsm.pin", "next_card_key_label": "mynagate-cardkey-2"}}`, ""},
		{"next label is the current one", `{` + base + `, "hsm": {"token_label": "hub", "pin_file": "p", "next_card_key_label": "mynagate-cardkey"}}`, "is the current secret's label"},
		{"next secret file beside the token", `{` + base + `, ` + token + `, "next_card_key_secret": "c2"}`, "one or the other"},
		{"next secret file without demo_file_keys", `{` + base + `, "next_card_key_secret": "c2"}`, `allowed only with "demo_file_keys": true`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "gatehub.json")
			os.WriteFile(path, []byte(tc.body), 0o600)
			c, err := LoadConfig(path)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, want an error with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if h := c.HSM; h != nil && (h.Module != hsm.SoftHSMModule || h.MaxSessions != 4 || h.SigningKeyLabel != hsm.DefaultHubSigningKeyLabel ||
				h.CardKeyLabel != hsm.DefaultCardKeyLabel || h.PINFile != filepath.Join(filepath.Dir(path), "hsm.pin")) {
				t.Fatalf("hsm defaults: %+v", h)
			}
		})
	}
}

// TestFileKeysRefused: a hub built in code meets the same rules as one from
// a config file, and a demo key file others may read is refused.
func TestFileKeysRefused(t *testing.T) {
	dir := t.TempDir()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	pemKey, err := lists.MarshalPrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(dir, "sign.pem")
	if err := os.WriteFile(key, pemKey, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenKeys(&Config{DataDir: dir, SigningKey: key}, nil); err == nil || !strings.Contains(err.Error(), "demo_file_keys") {
		t.Fatalf("a file key without demo_file_keys: %v", err)
	}
	if _, err := New(&Config{DataDir: dir, Broker: "tcp://127.0.0.1:1", SigningKey: key}, nil); err == nil || !strings.Contains(err.Error(), "demo_file_keys") {
		t.Fatalf("hub.New with a file key without demo_file_keys: %v", err)
	}
	if err := os.Chmod(key, 0o640); err != nil {
		t.Fatal(err)
	}
	var logged bytes.Buffer
	keys, err := OpenKeys(&Config{DataDir: dir, SigningKey: key, DemoFileKeys: true}, slog.New(slog.NewTextHandler(&logged, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer keys.Close()
	if !strings.Contains(logged.String(), "level=WARN") || !strings.Contains(logged.String(), "DEMO MODE") {
		t.Fatalf("demo file keys opened without a warning: %q", logged.String())
	}
	if _, err := keys.Signer(); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("a group-readable key file: %v", err)
	}
	none, err := OpenKeys(&Config{DataDir: dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := none.Signer(); !errors.Is(err, ErrNoKey) || !strings.Contains(err.Error(), "gatehub hsm init") {
		t.Fatalf("no key configured: %v", err)
	}
	if _, err := none.CardKeyer(); !errors.Is(err, ErrNoKey) {
		t.Fatalf("no secret configured: %v", err)
	}
}

// TestTokenKeys: with the keys in a SoftHSM2 token, lists the hub signs
// verify with the public key the token reports, and a row enrolled by issuer
// key id and serial gets the card key a gate's token computes from the same
// imported secret.
func TestTokenKeys(t *testing.T) {
	secret := bytes.Repeat([]byte{0x5a}, 32)
	issuer, serial := []byte{0x1a, 0xc1, 0x00, 0xf5}, []byte{0x06, 0xd1, 0x80, 0x06}

	// The gate's token, as gateagent hsm init --import-secret makes it.
	gateCfg := hsmtest.NewToken(t, "gate")
	gate, err := hsm.Open(gateCfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := gate.ImportCardKeySecret(hsm.DefaultCardKeyLabel, secret); err != nil {
		t.Fatal(err)
	}
	gk, err := gate.CardKeyer(hsm.DefaultCardKeyLabel)
	if err != nil {
		t.Fatal(err)
	}
	atGate, err := gk.CardKey(issuer, serial)
	if err != nil {
		t.Fatal(err)
	}
	if err := gate.Close(); err != nil {
		t.Fatal(err)
	}

	// The hub's token, as gatehub hsm init makes it.
	tok := hsmtest.NewToken(t, "hub")
	cfg := &Config{DataDir: t.TempDir(), HSM: &HSMConfig{Module: tok.Module, TokenLabel: tok.TokenLabel, PINFile: tok.PINFile}}
	if err := cfg.checkKeys(); err != nil {
		t.Fatal(err)
	}
	h, err := hsm.Open(cfg.HSM.Token())
	if err != nil {
		t.Fatal(err)
	}
	pub, err := h.InitEd25519Key(cfg.HSM.SigningKeyLabel)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.ImportCardKeySecret(cfg.HSM.CardKeyLabel, secret); err != nil {
		t.Fatal(err)
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}

	keys, err := OpenKeys(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer keys.Close()
	signer, err := keys.Signer()
	if err != nil {
		t.Fatal(err)
	}
	if got, err := keys.PublicKey(); err != nil || !got.Equal(pub) {
		t.Fatalf("public key %x, %v; want the one made in the token", got, err)
	}
	now := time.Now()
	s, err := lists.Build(signer, lists.Manifest{Site: "arena", List: "whitelist", Kind: lists.Snapshot, Version: 1, Created: now, Expires: now.Add(time.Hour)},
		lists.EncodePayload(&lists.Change{}), 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lists.ParseManifest(s.Envelope, []ed25519.PublicKey{pub}); err != nil {
		t.Fatalf("a gate pinning the token's key refuses the list: %v", err)
	}
	// Rotating from a demo file key to the token's: a gate pinning both
	// during the change applies it, one still pinning the old key only
	// refuses it.
	oldPub, _, _ := ed25519.GenerateKey(rand.Reader)
	if _, err := lists.ParseManifest(s.Envelope, []ed25519.PublicKey{oldPub, pub}); err != nil {
		t.Fatalf("a gate pinning the old and the token's key refuses the list: %v", err)
	}
	if _, err := lists.ParseManifest(s.Envelope, []ed25519.PublicKey{oldPub}); err == nil {
		t.Fatal("a gate pinning only the old key applied a list the token signed")
	}

	keyer, err := keys.CardKeyer()
	if err != nil {
		t.Fatal(err)
	}
	csv := "issuer_key_id,serial,service_id,kind\n" + hex.EncodeToString(issuer) + "," + hex.EncodeToString(serial) + ",R-1,resident\n"
	e, err := ParseEnrolCSV(context.Background(), strings.NewReader(csv), keyer, nil)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := e.Records()
	if err != nil || len(recs) != 1 {
		t.Fatalf("records: %d, %v", len(recs), err)
	}
	if recs[0].Key != atGate {
		t.Fatalf("hub enrolled card key %s, the gate's token computes %s", recs[0].Key, atGate)
	}
	if want, _ := cardkey.NewSoftware(secret).CardKey(issuer, serial); want != atGate {
		t.Fatal("the tokens' HMAC differs from HMAC-SHA256 with the secret")
	}
}
