package pinless_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"testing"

	"github.com/mynagate/mynagate/offline/pinless"
	"github.com/mynagate/mynagate/vcard"
)

const code = "13000001"

func read(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func institutionKey(t testing.TB) *ecdsa.PrivateKey {
	blk, _ := pem.Decode(read(t, "institution.key"))
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return k.(*ecdsa.PrivateKey)
}

// card is a virtual card from testdata with its certificate and RSA key.
func card(t testing.TB, profile string) (*vcard.Card, *x509.Certificate, *rsa.PrivateKey) {
	t.Helper()
	p, err := vcard.LoadProfile("testdata/" + profile + ".json")
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode([]byte(p.Certificate))
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := pem.Decode([]byte(p.PrivateKey))
	key, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return vcard.NewCard(p), cert, key.(*rsa.PrivateKey)
}

// transport talks to a virtual card directly; rewrite, if set, may replace a
// response (an attacker between card and gate, or a card that lies).
type transport struct {
	card    *vcard.Card
	rewrite func(cmd, resp []byte) []byte
	sent    [][]byte
}

func (tr *transport) Transmit(cmd []byte) ([]byte, error) {
	tr.sent = append(tr.sent, cmd)
	r := tr.card.Process(cmd)
	if tr.rewrite != nil {
		r = tr.rewrite(cmd, r)
	}
	return r, nil
}

func authenticator(t testing.TB, certFile string) *pinless.Authenticator {
	t.Helper()
	a, err := pinless.NewAuthenticator(read(t, certFile), code, institutionKey(t))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestProve(t *testing.T) {
	c, cert, _ := card(t, "card-001")
	tr := &transport{card: c}
	p, err := authenticator(t, "institution.cvc").Prove(tr, cert)
	if err != nil {
		t.Fatal(err)
	}
	if p.InstitutionCode != code || len(p.TerminalNonce) != pinless.NonceLen || len(p.CardChallenge) != pinless.ChallengeLen || len(p.Signature) != 256 {
		t.Errorf("proof %+v", p)
	}
	if len(tr.sent) != 6 {
		t.Errorf("Prove sent %d APDUs, want 6 (docs/pinless.md §4)", len(tr.sent))
	}
	if err := p.Verify(cert); err != nil {
		t.Errorf("proof does not verify again: %v", err)
	}
}

func TestProveRejects(t *testing.T) {
	// A signature recorded from an earlier, genuine session.
	c0, cert, key := card(t, "card-001")
	recorded, err := authenticator(t, "institution.cvc").Prove(&transport{card: c0}, cert)
	if err != nil {
		t.Fatal(err)
	}
	isSign := func(cmd []byte) bool { return bytes.HasPrefix(cmd, []byte{0x80, 0x2A, 0x00, 0x81}) }

	tests := []struct {
		name    string
		profile string
		cert    string
		rewrite func() func(cmd, resp []byte) []byte
		want    error
		sw      uint16
	}{
		{name: "replayed card signature", profile: "card-001", cert: "institution.cvc", want: pinless.ErrCardSignature,
			rewrite: func() func(cmd, resp []byte) []byte {
				return func(cmd, resp []byte) []byte {
					if isSign(cmd) {
						return append(append([]byte{}, recorded.Signature...), 0x90, 0x00)
					}
					return resp
				}
			}},
		{name: "signature over another institution code", profile: "card-001", cert: "institution.cvc", want: pinless.ErrCardSignature,
			// The card key itself signs the session's nonce and challenge,
			// but bound to another institution: a relay from another gate.
			rewrite: func() func(cmd, resp []byte) []byte {
				var challenge, nonce []byte
				return func(cmd, resp []byte) []byte {
					switch {
					case bytes.HasPrefix(cmd, []byte{0x00, 0x84}):
						challenge = resp[:8]
					case bytes.HasPrefix(cmd, []byte{0x00, 0x82}):
						nonce = cmd[5:21]
					case isSign(cmd):
						m := sha256.Sum256(bytes.Join([][]byte{nonce, challenge, []byte("13000002")}, nil))
						sig, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, m[:])
						if err != nil {
							panic(err)
						}
						return append(sig, 0x90, 0x00)
					}
					return resp
				}
			}},
		{name: "expired institution certificate", profile: "card-001", cert: "institution-expired.cvc", want: pinless.ErrTerminalAuth, sw: 0x6984},
		{name: "card without PIN-less", profile: "no-pinless", cert: "institution.cvc", want: pinless.ErrUnsupported},
		{name: "card pulled", profile: "card-001", cert: "institution.cvc", want: pinless.ErrCardRemoved,
			rewrite: func() func(cmd, resp []byte) []byte {
				return func(cmd, resp []byte) []byte {
					if bytes.HasPrefix(cmd, []byte{0x00, 0x84}) {
						return nil // what vpcd returns when the card vanished mid-APDU
					}
					return resp
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, cert, _ := card(t, tt.profile)
			tr := &transport{card: c}
			if tt.rewrite != nil {
				tr.rewrite = tt.rewrite()
			}
			_, err := authenticator(t, tt.cert).Prove(tr, cert)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Prove error = %v, want %v", err, tt.want)
			}
			var ce *pinless.CardError
			if tt.sw != 0 && (!errors.As(err, &ce) || ce.SW != tt.sw) {
				t.Errorf("Prove error = %v, want status word %04X", err, tt.sw)
			}
		})
	}
}

type failingTransport struct{}

func (failingTransport) Transmit([]byte) ([]byte, error) {
	return nil, errors.New("scard: card removed")
}

func TestProveTransportError(t *testing.T) {
	_, cert, _ := card(t, "card-001")
	_, err := authenticator(t, "institution.cvc").Prove(failingTransport{}, cert)
	if !errors.Is(err, pinless.ErrCardRemoved) {
		t.Fatalf("Prove error = %v, want ErrCardRemoved", err)
	}
}

func TestNewAuthenticatorErrors(t *testing.T) {
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		cert   []byte
		code   string
		signer crypto.Signer
	}{
		{"not a certificate", []byte("hello"), code, institutionKey(t)},
		{"wrong code", read(t, "institution.cvc"), "13000002", institutionKey(t)},
		{"wrong key", read(t, "institution.cvc"), code, other},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := pinless.NewAuthenticator(tt.cert, tt.code, tt.signer); err == nil {
				t.Error("NewAuthenticator accepted it")
			}
		})
	}
}
