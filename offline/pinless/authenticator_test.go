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
	"time"

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

func authenticator(t testing.TB, certFile string, opts ...pinless.Option) *pinless.Authenticator {
	t.Helper()
	a, err := pinless.NewAuthenticator(read(t, certFile), code, institutionKey(t), opts...)
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
	if p.Version != pinless.V2 {
		t.Errorf("proof version %d, want 2", p.Version)
	}
	if len(tr.sent) != 6 {
		t.Errorf("Prove sent %d APDUs, want 6 (docs/pinless.md §4)", len(tr.sent))
	}
	if err := p.Verify(cert); err != nil {
		t.Errorf("proof does not verify again: %v", err)
	}
}

// v1Card is card-001 built to version 1 of the protocol.
func v1Card(t testing.TB) (*vcard.Card, *x509.Certificate) {
	t.Helper()
	p, err := vcard.LoadProfile("testdata/card-001.json")
	if err != nil {
		t.Fatal(err)
	}
	p.Version = 1
	_, cert, _ := card(t, "card-001")
	return vcard.NewCard(p), cert
}

func isSign(cmd []byte) bool {
	return bytes.HasPrefix(cmd, []byte{0x80, 0x2A, 0x00, 0x81}) || bytes.HasPrefix(cmd, []byte{0x80, 0x2A, 0x00, 0x82})
}

func TestProveRejects(t *testing.T) {
	// Answers recorded from earlier, genuine sessions of each version.
	c0, cert, key := card(t, "card-001")
	recorded, err := authenticator(t, "institution.cvc").Prove(&transport{card: c0}, cert)
	if err != nil {
		t.Fatal(err)
	}
	v1c, _ := v1Card(t)
	recordedV1, err := authenticator(t, "institution.cvc", pinless.AcceptV1()).Prove(&transport{card: v1c}, cert)
	if err != nil || recordedV1.Version != pinless.V1 {
		t.Fatalf("version 1 session: %+v, %v", recordedV1, err)
	}
	replay := func(sig []byte) func() func(cmd, resp []byte) []byte {
		return func() func(cmd, resp []byte) []byte {
			return func(cmd, resp []byte) []byte {
				if isSign(cmd) {
					return append(append([]byte{}, sig...), 0x90, 0x00)
				}
				return resp
			}
		}
	}

	tests := []struct {
		name    string
		profile string
		cert    string
		rewrite func() func(cmd, resp []byte) []byte
		want    error
		sw      uint16
	}{
		{name: "replayed card signature", profile: "card-001", cert: "institution.cvc", want: pinless.ErrCardSignature, rewrite: replay(recorded.Signature)},
		{name: "replayed version 1 answer", profile: "card-001", cert: "institution.cvc", want: pinless.ErrCardSignature, rewrite: replay(recordedV1.Signature)},
		{name: "signature over another institution code", profile: "card-001", cert: "institution.cvc", want: pinless.ErrCardSignature,
			// The card key itself signs the session's construct, but bound
			// to another institution: a relay from another gate.
			rewrite: func() func(cmd, resp []byte) []byte {
				var p pinless.Proof
				return func(cmd, resp []byte) []byte {
					switch {
					case bytes.HasPrefix(cmd, []byte{0x00, 0x2A}):
						h := sha256.Sum256(cmd[5:])
						p.CertificateHash = h[:]
					case bytes.HasPrefix(cmd, []byte{0x00, 0x84}):
						p.CardChallenge = resp[:8]
					case bytes.HasPrefix(cmd, []byte{0x00, 0x82}):
						p.TerminalNonce, p.TerminalSignature = cmd[5:21], cmd[21:85]
					case isSign(cmd):
						p.Version, p.InstitutionCode = pinless.V2, "13000002"
						sig, err := rsa.SignPSS(rand.Reader, key, crypto.SHA256, p.Message(), &rsa.PSSOptions{SaltLength: pinless.PSSSaltLen})
						if err != nil {
							panic(err)
						}
						return append(sig, 0x90, 0x00)
					}
					return resp
				}
			}},
		{name: "version 2 construct signed at the PIN level", profile: "card-001", cert: "institution.cvc", want: pinless.ErrCardSignature,
			// Right message, PKCS#1 v1.5 form: what a forger gets from the
			// PIN-level command (see TestPINLevelForgery for the whole attack).
			rewrite: func() func(cmd, resp []byte) []byte {
				p := pinless.Proof{Version: pinless.V2, InstitutionCode: code}
				return func(cmd, resp []byte) []byte {
					switch {
					case bytes.HasPrefix(cmd, []byte{0x00, 0x2A}):
						h := sha256.Sum256(cmd[5:])
						p.CertificateHash = h[:]
					case bytes.HasPrefix(cmd, []byte{0x00, 0x84}):
						p.CardChallenge = resp[:8]
					case bytes.HasPrefix(cmd, []byte{0x00, 0x82}):
						p.TerminalNonce, p.TerminalSignature = cmd[5:21], cmd[21:85]
					case isSign(cmd):
						sig, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, p.Message())
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

// TestVersion1Card: a card built to version 1 is unsupported at a gate that
// does not accept version 1 (it falls back to the PIN level) and proven at one
// that does.
func TestVersion1Card(t *testing.T) {
	c, cert := v1Card(t)
	_, err := authenticator(t, "institution.cvc").Prove(&transport{card: c}, cert)
	if !errors.Is(err, pinless.ErrUnsupported) {
		t.Fatalf("version 2 gate: Prove error = %v, want ErrUnsupported", err)
	}
	tr := &transport{card: c}
	p, err := authenticator(t, "institution.cvc", pinless.AcceptV1()).Prove(tr, cert)
	if err != nil || p.Version != pinless.V1 {
		t.Fatalf("gate accepting version 1: proof %+v, error %v", p, err)
	}
	// SELECT, PSO, GET CHALLENGE, the refused version 2 EXTERNAL
	// AUTHENTICATE, then GET CHALLENGE to the signature in version 1.
	if len(tr.sent) != 8 {
		t.Errorf("sent %d APDUs, want 8", len(tr.sent))
	}
}

// TestMaxExchange: the gate measures the live exchange and refuses a card
// slower than the bound, whatever its signature.
func TestMaxExchange(t *testing.T) {
	slow := func(cmd, resp []byte) []byte {
		if isSign(cmd) {
			time.Sleep(20 * time.Millisecond) // a relay's round trip
		}
		return resp
	}
	c, cert, _ := card(t, "card-001")
	_, err := authenticator(t, "institution.cvc", pinless.MaxExchange(time.Millisecond)).Prove(&transport{card: c, rewrite: slow}, cert)
	if !errors.Is(err, pinless.ErrTooSlow) {
		t.Fatalf("Prove error = %v, want ErrTooSlow", err)
	}
	p, err := authenticator(t, "institution.cvc").Prove(&transport{card: c, rewrite: slow}, cert)
	if err != nil {
		t.Fatalf("without a bound: %v", err)
	}
	if p.Exchange < 20*time.Millisecond {
		t.Errorf("Exchange = %v, want at least the 20ms the relay added", p.Exchange)
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
