package main

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mynagate/mynagate/gatebundle"
	"github.com/mynagate/mynagate/hub/hubtest"
	"github.com/mynagate/mynagate/offline/cardkey"
	"github.com/mynagate/mynagate/offline/hsm/hsmtest"
	"github.com/mynagate/mynagate/offline/whitelist"
	"github.com/mynagate/mynagate/sync/lists"
)

// TestHSMInit moves a demo hub's keys into a SoftHSM2 token as the README
// says: hsm section, hsm init importing the demo card-key secret; then the
// hub signs in the token, a gate pinning the printed key applies the list, and
// a row enrolled by issuer key id and serial has the card key the old secret
// gives, so the gates' card keys stay valid.
func TestHSMInit(t *testing.T) {
	tok := hsmtest.NewToken(t, "mynagate-hub")
	dir := filepath.Join(t.TempDir(), "hub")
	ctx := context.Background()
	res := initHub(t, ctx, dir)
	if _, stderr, code := runCmd(t, ctx, "hsm", "init", "--config", res.Config); code == 0 || !strings.Contains(stderr, `no "hsm" section`) {
		t.Fatalf("hsm init on a demo config: %d %s", code, stderr)
	}

	// The production config: the token instead of the files.
	b, err := os.ReadFile(res.Config)
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	delete(cfg, "signing_key")
	delete(cfg, "card_key_secret")
	delete(cfg, "demo_file_keys")
	cfg["hsm"] = map[string]any{"module": tok.Module, "token_label": tok.TokenLabel, "pin_file": tok.PINFile}
	if b, err = json.Marshal(cfg); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(res.Config, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, _, code := runCmd(t, ctx, "config", "check", res.Config); code == 0 || !strings.Contains(out, "not found in token") {
		t.Fatalf("config check before hsm init: %d %s", code, out)
	}

	out, stderr, code := runCmd(t, ctx, "hsm", "init", "--config", res.Config, "--import-secret", res.CardKeySecret)
	if code != 0 || !strings.Contains(out, "created (Ed25519, non-extractable") || !strings.Contains(out, `card-key secret "mynagate-cardkey": imported`) {
		t.Fatalf("hsm init: %d %s %s", code, out, stderr)
	}
	pinned, err := lists.ParsePublicKey([]byte(out[strings.Index(out, "-----BEGIN"):]))
	if err != nil {
		t.Fatalf("hsm init printed no public key: %v\n%s", err, out)
	}
	demo, err := lists.LoadPrivateKey(res.SigningKey)
	if err != nil {
		t.Fatal(err)
	}
	if pinned.Equal(demo.Public()) {
		t.Fatal("the token's key is the demo file's")
	}
	out, stderr, code = runCmd(t, ctx, "hsm", "init", "--config", res.Config, "--json")
	var again hsmKeyResult
	if code != 0 || json.Unmarshal([]byte(out[:strings.Index(out, "\n")]), &again) != nil || again.Action != "exists" || !strings.Contains(out, `"action":"exists"`) {
		t.Fatalf("a second hsm init: %d %s %s", code, out, stderr)
	}
	if _, stderr, code := runCmd(t, ctx, "hsm", "init", "--config", res.Config, "--import-secret", res.CardKeySecret); code == 0 || !strings.Contains(stderr, "already in the token") {
		t.Fatalf("importing a second secret: %d %s", code, stderr)
	}
	if out, stderr, code := runCmd(t, ctx, "config", "check", res.Config); code != 0 {
		t.Fatalf("config check: %d %s %s", code, out, stderr)
	}

	startRun(t, ctx, res.Config)

	bundle := filepath.Join(t.TempDir(), "bundle.json")
	deadline := time.Now().Add(20 * time.Second)
	for {
		out, stderr, code = runCmd(t, ctx, "gate", "add", "--config", res.Config, "--site", "arena", "--gate", "north", "--out", bundle)
		if code == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if code != 0 {
		t.Fatalf("gate add: %d %s %s", code, out, stderr)
	}
	bb, err := gatebundle.Read(bundle)
	if err != nil {
		t.Fatal(err)
	}
	if len(bb.HubKeys) != 1 {
		t.Fatalf("bundle pins %d hub keys", len(bb.HubKeys))
	}
	if k, err := lists.ParsePublicKey([]byte(bb.HubKeys[0])); err != nil || !k.Equal(pinned) {
		t.Fatalf("the bundle pins %v, %v; want the token's key", k, err)
	}

	issuer, serial := "1ac100f5", "06d18006"
	csv := filepath.Join(t.TempDir(), "residents.csv")
	os.WriteFile(csv, []byte("issuer_key_id,serial,service_id,kind\n"+issuer+","+serial+",R-1,resident\n"), 0o600)
	if out, stderr, code := runCmd(t, ctx, "enroll", "import", "--config", res.Config, "--site", "arena", csv); code != 0 {
		t.Fatalf("enroll import: %d %s %s", code, out, stderr)
	}
	deadline = time.Now().Add(20 * time.Second)
	for {
		out, stderr, code = runCmd(t, ctx, "publish", "--config", res.Config, "--site", "arena")
		if code == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if code != 0 || !strings.Contains(out, "published snapshot v1") {
		t.Fatalf("publish: %d %s %s", code, out, stderr)
	}
	if strings.Contains(stderr, "DEMO MODE") {
		t.Fatalf("publish with the token warned of demo keys: %s", stderr)
	}

	// The gate, pinning the printed key only, applies the list.
	gate := provision(t, ctx, res.Config, "arena", "south")
	sub := hubtest.Subscribe(t, gate, lists.Filter("mynagate/v1", "arena"))
	msgs, ok := sub.Wait(2, 30*time.Second)
	if !ok {
		t.Fatalf("retained list: %d messages", len(msgs))
	}
	store, err := whitelist.Open(filepath.Join(t.TempDir(), "whitelist.db"), whitelist.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	recv, err := lists.NewReceiver(lists.ReceiverConfig{Prefix: "mynagate/v1", Site: "arena", Keys: []ed25519.PublicKey{pinned},
		Lists: map[string]lists.Applier{"whitelist": store}})
	if err != nil {
		t.Fatal(err)
	}
	rctx, rcancel := context.WithCancel(ctx)
	defer rcancel()
	go recv.Run(rctx)
	for _, m := range msgs {
		recv.Handle(m.Topic, m.Payload)
	}
	deadline = time.Now().Add(30 * time.Second)
	for store.Version() != 1 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if store.Version() != 1 {
		t.Fatalf("the gate pinning the token's key has list v%d, want v1", store.Version())
	}
	old, err := cardkey.LoadSecretFile(res.CardKeySecret)
	if err != nil {
		t.Fatal(err)
	}
	want, err := old.CardKey([]byte{0x1a, 0xc1, 0x00, 0xf5}, []byte{0x06, 0xd1, 0x80, 0x06})
	if err != nil {
		t.Fatal(err)
	}
	if e, found, err := store.Lookup(want); err != nil || !found || e.ServiceID != "R-1" {
		t.Fatalf("the card key of the demo secret is not on the list: %v %v %+v", found, err, e)
	}
}
