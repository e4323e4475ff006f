package gate

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mynagate/mynagate/internal/taptest"
	"github.com/mynagate/mynagate/metrics"
	"github.com/mynagate/mynagate/offline/hsm"
	"github.com/mynagate/mynagate/offline/pinless"
	"github.com/mynagate/mynagate/vcard"
	"github.com/mynagate/mynagate/vcard/pki"
)

// held is a transport to a virtual card that holds the first command until
// released, so that a renewal can happen while a tap is under way.
type held struct {
	card              *vcard.Card
	started, released chan struct{}
	first             bool
}

func (h *held) Transmit(apdu []byte) ([]byte, error) {
	if !h.first {
		h.first = true
		close(h.started)
		<-h.released
	}
	return h.card.Process(apdu), nil
}

// TestRenewalDuringATap renews the PIN-less credential while a tap is under
// way: the tap finishes with the credential it started with, the next tap
// takes the new one. A card that has seen a date past the old certificate's
// end tells them apart (it refuses the old certificate).
func TestRenewalDuringATap(t *testing.T) {
	dir := taptest.PKI(t)
	today := time.Now().UTC().Truncate(24 * time.Hour)
	credential := func(notAfter time.Time) *pinless.Authenticator {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		pub, err := hsm.PublicKeyPEM(k.Public())
		if err != nil {
			t.Fatal(err)
		}
		cert, err := pki.IssueInstitution(dir, pki.InstitutionRequest{PublicKeyPEM: pub, NotBefore: today.AddDate(0, 0, -10), NotAfter: notAfter})
		if err != nil {
			t.Fatal(err)
		}
		a, err := pinless.NewAuthenticator(cert, pki.InstitutionCode, k)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	old, renewed := credential(today.AddDate(0, 0, 20)), credential(today.AddDate(1, 0, 0))
	slot := &pinlessSlot{}
	slot.cur.Store(old)

	p := taptest.Profile(t, "card-001.json")
	p.CardDate = today.AddDate(0, 0, 25).Format(time.DateOnly)
	blk, _ := pem.Decode([]byte(p.Certificate))
	cardCert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	tr := &held{card: vcard.NewCard(p), started: make(chan struct{}), released: make(chan struct{})}
	done := make(chan error, 1)
	go func() {
		_, err := slot.Prove(tr, cardCert)
		done <- err
	}()
	<-tr.started
	if prev := slot.cur.Swap(renewed); prev != old {
		t.Fatal("the slot held another credential")
	}
	close(tr.released)
	if err := <-done; !errors.Is(err, pinless.ErrTerminalAuth) {
		t.Fatalf("the tap under way: %v; want the card to refuse the old certificate it started with", err)
	}
	if _, err := slot.Prove(vcardTransport{vcard.NewCard(p)}, cardCert); err != nil {
		t.Fatalf("the next tap, with the renewed credential: %v", err)
	}
}

// vcardTransport talks to a virtual card directly.
type vcardTransport struct{ card *vcard.Card }

func (v vcardTransport) Transmit(apdu []byte) ([]byte, error) { return v.card.Process(apdu), nil }

// TestPINlessExchangeMetric: every PIN-less proof's live exchange time is
// observed in mynagate_pinless_exchange_seconds, by protocol version, a proof
// refused as too slow included.
func TestPINlessExchangeMetric(t *testing.T) {
	dir := taptest.PKI(t)
	today := time.Now().UTC().Truncate(24 * time.Hour)
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := hsm.PublicKeyPEM(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	cert, err := pki.IssueInstitution(dir, pki.InstitutionRequest{PublicKeyPEM: pub, NotBefore: today.AddDate(0, 0, -1), NotAfter: today.AddDate(1, 0, 0)})
	if err != nil {
		t.Fatal(err)
	}
	g := &Gate{metrics: metrics.New()}
	declareExchangeMetric(g.metrics)
	p := taptest.Profile(t, "card-001.json")
	blk, _ := pem.Decode([]byte(p.Certificate))
	cardCert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	for _, opts := range [][]pinless.Option{nil, {pinless.MaxExchange(time.Nanosecond)}} {
		a, err := pinless.NewAuthenticator(cert, pki.InstitutionCode, k, opts...)
		if err != nil {
			t.Fatal(err)
		}
		slot := &pinlessSlot{observe: g.observeExchange}
		slot.cur.Store(a)
		if _, err := slot.Prove(vcardTransport{vcard.NewCard(p)}, cardCert); err != nil && !errors.Is(err, pinless.ErrTooSlow) {
			t.Fatal(err)
		}
	}
	var out strings.Builder
	if err := g.metrics.WriteText(&out); err != nil {
		t.Fatal(err)
	}
	if want := `mynagate_pinless_exchange_seconds_count{version="2"} 2`; !strings.Contains(out.String(), want) {
		t.Fatalf("metrics lack %q:\n%s", want, out.String())
	}
}
