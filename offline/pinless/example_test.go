package pinless_test

import (
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"

	"github.com/mynagate/mynagate/offline/pinless"
	"github.com/mynagate/mynagate/vcard"
)

// cardTransport puts a virtual card behind the Transport interface.
type cardTransport struct{ *vcard.Card }

func (c cardTransport) Transmit(apdu []byte) ([]byte, error) { return c.Process(apdu), nil }

// The gate builds one Authenticator at start-up from its institution
// certificate and HSM key (here a key file), then proves each tapped card
// after reading and checking its user-authentication certificate.
func ExampleAuthenticator_Prove() {
	certificate, _ := os.ReadFile("testdata/institution.cvc")
	keyPEM, _ := os.ReadFile("testdata/institution.key")
	blk, _ := pem.Decode(keyPEM)
	key, _ := x509.ParsePKCS8PrivateKey(blk.Bytes)
	a, err := pinless.NewAuthenticator(certificate, "13000001", key.(*ecdsa.PrivateKey))
	if err != nil {
		fmt.Println(err)
		return
	}

	p, _ := vcard.LoadProfile("testdata/card-001.json")
	cb, _ := pem.Decode([]byte(p.Certificate))
	cardCert, _ := x509.ParseCertificate(cb.Bytes)

	_, err = a.Prove(cardTransport{vcard.NewCard(p)}, cardCert)
	switch {
	case errors.Is(err, pinless.ErrUnsupported):
		fmt.Println("fall back to the PIN level")
	case err != nil:
		fmt.Println("deny:", err)
	default:
		fmt.Println("card present")
	}
	// Output: card present
}
