package pinless_test

import (
	"crypto"
	"testing"

	"github.com/mynagate/mynagate/offline/hsm"
	"github.com/mynagate/mynagate/offline/hsm/hsmtest"
	"github.com/mynagate/mynagate/offline/pinless"
	"github.com/mynagate/mynagate/vcard/pki"
)

// TestProveSoftHSM authenticates with an institution key generated inside a
// real SoftHSM2 token, as a gate does: the key never leaves the token, the
// test authority certifies its public key.
func TestProveSoftHSM(t *testing.T) {
	cert, signer := softHSMInstitution(t, "pinless")
	a, err := pinless.NewAuthenticator(cert, code, signer)
	if err != nil {
		t.Fatal(err)
	}
	c, cardCert, _ := card(t, "card-001")
	if _, err := a.Prove(&transport{card: c}, cardCert); err != nil {
		t.Fatal(err)
	}
}

// softHSMInstitution makes an institution key inside a new SoftHSM2 token and
// has the test authority certify it, as a gate's operator does; it returns
// the certificate and the token's signer. The token is closed at cleanup.
func softHSMInstitution(t *testing.T, label string) ([]byte, crypto.Signer) {
	t.Helper()
	h, err := hsm.Open(hsmtest.NewToken(t, label))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	pub, err := h.InitInstitutionKey(hsm.DefaultInstitutionKeyLabel)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM, err := hsm.PublicKeyPEM(pub)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := pki.IssueInstitution("testdata", pki.InstitutionRequest{PublicKeyPEM: pubPEM, Code: code})
	if err != nil {
		t.Fatal(err)
	}
	signer, err := h.InstitutionSigner(hsm.DefaultInstitutionKeyLabel)
	if err != nil {
		t.Fatal(err)
	}
	return cert, signer
}
