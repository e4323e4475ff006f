package hsm_test

import (
	"bytes"
	"testing"

	"github.com/miekg/pkcs11"

	"github.com/mynagate/mynagate/offline/cardkey"
)

// TestTwoCardKeySecrets is a token during a card-key rotation: the current
// and the next secret side by side under their own labels, each keying
// exactly as the software keyer with its secret, and the two keys of one card
// different, so that a list re-keyed under the next secret shares no key with
// the old one.
func TestTwoCardKeySecrets(t *testing.T) {
	h, cfg := openToken(t)
	current, next := bytes.Repeat([]byte{0x11}, 32), bytes.Repeat([]byte{0x22}, 32)
	for label, secret := range map[string][]byte{"mynagate-cardkey": current, "mynagate-cardkey-2": next} {
		if err := h.ImportCardKeySecret(label, secret); err != nil {
			t.Fatal(err)
		}
	}
	issuer, serial := []byte{0x1a, 0xc1, 0x00, 0xf5}, []byte{0x01, 0x33, 0xC3, 0x49}
	keys := map[string]cardkey.Key{}
	for label, secret := range map[string][]byte{"mynagate-cardkey": current, "mynagate-cardkey-2": next} {
		hk, err := h.CardKeyer(label)
		if err != nil {
			t.Fatal(err)
		}
		got, err := hk.CardKey(issuer, serial)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := cardkey.NewSoftware(secret).CardKey(issuer, serial)
		if got != want {
			t.Errorf("%s: token keys %s, software %s", label, got, want)
		}
		keys[label] = got
		assertNotExtractable(t, cfg, label, pkcs11.CKO_SECRET_KEY)
	}
	if keys["mynagate-cardkey"] == keys["mynagate-cardkey-2"] {
		t.Fatal("the current and the next secret give one card the same key")
	}
	if _, err := h.CardKeyer("mynagate-cardkey-3"); err == nil {
		t.Fatal("a keyer for a label not in the token was returned")
	}
}
