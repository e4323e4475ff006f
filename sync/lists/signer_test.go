package lists

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"io"
	"strings"
	"testing"
)

// wrongSigner is an Ed25519 key that signs with another key, as a token with
// the wrong key or mechanism would.
type wrongSigner struct{ crypto.Signer }

func (w wrongSigner) Sign(r io.Reader, msg []byte, opts crypto.SignerOpts) ([]byte, error) {
	return otherKey.Sign(r, msg, opts)
}

// TestSignSigners: any crypto.Signer holding an Ed25519 key signs lists the
// gates verify; a key of another type, or one whose signatures do not verify,
// is refused before anything is published.
func TestSignSigners(t *testing.T) {
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	m := Manifest{Site: "stadium", List: "whitelist", Kind: Snapshot, Version: 1, Created: created, Expires: expires}
	for _, tt := range []struct {
		name string
		key  crypto.Signer
		err  string
	}{
		{"ed25519 private key", hubKey, ""},
		{"not ed25519", ec, "not Ed25519"},
		{"signature does not verify", wrongSigner{hubKey}, "does not verify"},
		{"none", nil, "no signing key"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Build(tt.key, m, EncodePayload(&Change{}), 0)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("Build: %v, want an error with %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, err := ParseManifest(s.Envelope, []ed25519.PublicKey{hubKey.Public().(ed25519.PublicKey)}); err != nil {
				t.Fatalf("a gate pinning the key refuses the manifest: %v", err)
			}
		})
	}
}
