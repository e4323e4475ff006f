package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"slices"

	"sync"
	"testing"

	"github.com/mynagate/mynagate/hub"
	"github.com/mynagate/mynagate/internal/taptest"
	"github.com/mynagate/mynagate/offline/cardkey"
	"github.com/mynagate/mynagate/offline/hsm/hsmtest"
	"github.com/mynagate/mynagate/sync/lists"
	"github.com/mynagate/mynagate/vcard/pki"
)

// memPublisher keeps what a publish sends, by topic.
type memPublisher struct {
	mu   sync.Mutex
	msgs map[string][]byte
}

func (p *memPublisher) Publish(topic string, payload []byte, _ bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.msgs[topic] = payload
	return nil
}

// TestRevokeImportHSM imports a CRL at a hub whose card-key secret is in a
// SoftHSM2 token: the card key it revokes for the revoked card is the one a
// tap computes from that card's certificate (issuer key id + serial) with the
// same secret, so a gate refuses the card.
func TestRevokeImportHSM(t *testing.T) {
	tok := hsmtest.NewToken(t, "mynagate-hub")
	dir := t.TempDir()
	pkiDir := taptest.PKI(t)
	secret := bytes.Repeat([]byte{0x44}, 32)
	secretFile := filepath.Join(dir, "cardkey.secret")
	if err := os.WriteFile(secretFile, []byte(hex.EncodeToString(secret)), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "gatehub.json")
	cfg, err := json.Marshal(map[string]any{"data_dir": "data", "hsm": map[string]any{"module": tok.Module, "token_label": tok.TokenLabel, "pin_file": tok.PINFile}})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfgPath, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if out, stderr, code := runCmd(t, ctx, "hsm", "init", "--config", cfgPath, "--import-secret", secretFile); code != 0 {
		t.Fatalf("hsm init: %d %s %s", code, out, stderr)
	}
	// The secret is in the token now; the file is gone from the config.
	if err := os.Remove(secretFile); err != nil {
		t.Fatal(err)
	}

	blk, _ := pem.Decode([]byte(taptest.Profile(t, "card-004.json").Certificate))
	revoked, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	der, err := pki.IssueCRL(pkiDir, pki.CRLRequest{Serials: []*big.Int{revoked.SerialNumber}})
	if err != nil {
		t.Fatal(err)
	}
	crlPath := filepath.Join(dir, "jpki.crl")
	if err := os.WriteFile(crlPath, der, 0o600); err != nil {
		t.Fatal(err)
	}
	out, stderr, code := runCmd(t, ctx, "revoke", "import", "--config", cfgPath, "--site", "arena", "--roots", filepath.Join(pkiDir, "root.pem"), "--json", crlPath)
	var res crlImportResult
	if code != 0 || json.Unmarshal([]byte(out), &res) != nil || res.Added != 1 {
		t.Fatalf("revoke import: %d %s %s", code, out, stderr)
	}

	// What a tap computes for the card: the same secret, the card's
	// certificate.
	want, err := cardkey.ForCert(cardkey.NewSoftware(secret), revoked)
	if err != nil {
		t.Fatal(err)
	}
	hc, err := hub.LoadConfig(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := hub.OpenKeys(hc, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer keys.Close()
	signer, err := keys.Signer()
	if err != nil {
		t.Fatal(err)
	}
	m, err := hub.OpenMaster(filepath.Join(dir, "data", "lists.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	p := &memPublisher{msgs: map[string][]byte{}}
	man, err := m.Publish(ctx, p, signer, "arena", "whitelist", hub.PublishOptions{Prefix: "p"})
	if err != nil || man == nil || man.Revoke != 1 || len(man.CRLs) != 1 {
		t.Fatalf("publish: %+v %v", man, err)
	}
	var payload []byte
	for i := range man.Chunks {
		c, err := lists.ParseChunk(p.msgs[lists.ChunkTopic("p", "arena", "whitelist", man.Kind, man.Version, i)])
		if err != nil {
			t.Fatal(err)
		}
		payload = append(payload, c.Data...)
	}
	c, err := lists.DecodePayload(payload)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(c.Revoke, want) {
		t.Fatalf("the hub revoked %v; the card's key with the token's secret is %s", c.Revoke, want)
	}
}
