package hsm_test

import (
	"crypto"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"

	"github.com/miekg/pkcs11"

	"github.com/mynagate/mynagate/offline/hsm"
	"github.com/mynagate/mynagate/offline/hsm/hsmtest"
)

// TestEd25519Key: the hub's list-signing key is made in the token, never
// leaves it, and signs plain Ed25519 that the standard library verifies.
func TestEd25519Key(t *testing.T) {
	cfg := hsmtest.NewToken(t, "hub-test")
	h, err := hsm.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Ed25519Signer("hub-sign"); err == nil || !strings.Contains(err.Error(), "gatehub hsm init") {
		t.Fatalf("missing key: %v; want the hint", err)
	}
	pub, err := h.InitEd25519Key("hub-sign")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.InitEd25519Key("hub-sign"); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("second key under the same label: %v", err)
	}
	signer, err := h.Ed25519Signer("hub-sign")
	if err != nil {
		t.Fatal(err)
	}
	if !pub.Equal(signer.Public()) {
		t.Fatal("the signer's public key is not the one made")
	}
	msg := []byte("mynagate list manifest v1\n{}")
	sig, err := signer.Sign(nil, msg, crypto.Hash(0))
	if err != nil {
		t.Fatal(err)
	}
	if !ed25519.Verify(pub, msg, sig) {
		t.Fatal("the token's signature does not verify with ed25519.Verify")
	}
	for _, opts := range []crypto.SignerOpts{crypto.SHA512, &ed25519.Options{Context: "x"}} {
		if _, err := signer.Sign(nil, msg, opts); err == nil {
			t.Errorf("signed with options %#v; only pure Ed25519 is offered", opts)
		}
	}
	p, err := hsm.PublicKeyPEM(pub)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(p)
	if k, err := x509.ParsePKIXPublicKey(blk.Bytes); err != nil || !pub.Equal(k) {
		t.Fatalf("public key PEM: %v", err)
	}
	assertNotExtractable(t, cfg, "hub-sign", pkcs11.CKO_PRIVATE_KEY)

	// The key is found again after the token is closed and reopened.
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	h2, err := hsm.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer h2.Close()
	again, err := h2.Ed25519Signer("hub-sign")
	if err != nil {
		t.Fatal(err)
	}
	if sig, err := again.Sign(nil, msg, crypto.Hash(0)); err != nil || !ed25519.Verify(pub, msg, sig) {
		t.Fatalf("after reopening: %v", err)
	}
}
