package agent_test

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mynagate/mynagate/agent"
	"github.com/mynagate/mynagate/event"
	"github.com/mynagate/mynagate/internal/pcsctest"
	"github.com/mynagate/mynagate/internal/taptest"
	"github.com/mynagate/mynagate/offline/cardkey"
	"github.com/mynagate/mynagate/offline/certcheck"
	"github.com/mynagate/mynagate/offline/crl"
	"github.com/mynagate/mynagate/offline/hsm"
	"github.com/mynagate/mynagate/offline/hsm/hsmtest"
	"github.com/mynagate/mynagate/offline/pinless"
	"github.com/mynagate/mynagate/offline/policy"
	"github.com/mynagate/mynagate/offline/whitelist"
	"github.com/mynagate/mynagate/reader"
	"github.com/mynagate/mynagate/sync/outbox"
	"github.com/mynagate/mynagate/vcard"
	"github.com/mynagate/mynagate/vcard/pki"
)

// swappable lets the test change the gate's PIN-less credential between taps
// without racing the reader goroutine.
type swappable struct {
	p atomic.Pointer[pinless.Authenticator]
}

func (s *swappable) Prove(t pinless.Transport, c *x509.Certificate) (pinless.Proof, error) {
	return s.p.Load().Prove(t, c)
}

// TestEveryReasonThroughPCSCAndHSM produces every card and list reason of a
// pinless gate for real: cards tapped on the vpcd reader through pcscd, the
// card-key secret and the institution key in a SoftHSM2 token, the whitelist
// and revocation set in bbolt.
func TestEveryReasonThroughPCSCAndHSM(t *testing.T) {
	slot := pcsctest.Acquire(t, 0)
	tok := hsmtest.NewToken(t, "gate-reasons")
	h, err := hsm.Open(tok)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	secret := make([]byte, 32)
	rand.Read(secret)
	if err := h.ImportCardKeySecret(hsm.DefaultCardKeyLabel, secret); err != nil {
		t.Fatal(err)
	}
	keyer, err := h.CardKeyer(hsm.DefaultCardKeyLabel)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := h.InitInstitutionKey(hsm.DefaultInstitutionKeyLabel)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM, _ := hsm.PublicKeyPEM(pub)
	pkiDir := taptest.PKI(t)
	instCert, err := pki.IssueInstitution(pkiDir, pki.InstitutionRequest{PublicKeyPEM: pubPEM})
	if err != nil {
		t.Fatal(err)
	}
	signer, err := h.InstitutionSigner(hsm.DefaultInstitutionKeyLabel)
	if err != nil {
		t.Fatal(err)
	}
	good, err := pinless.NewAuthenticator(instCert, pki.InstitutionCode, signer)
	if err != nil {
		t.Fatal(err)
	}
	expired := pinlessAuth(t, "institution-expired.cvc")
	bounded, err := pinless.NewAuthenticator(instCert, pki.InstitutionCode, signer, pinless.MaxExchange(20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	prover := &swappable{}
	prover.p.Store(good)

	dir := t.TempDir()
	list, err := whitelist.Open(filepath.Join(dir, "whitelist.db"), whitelist.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer list.Close()
	key := func(profile string) cardkey.Key {
		k, err := cardkey.ForCert(keyer, certOf(t, taptest.Profile(t, profile)))
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	now := time.Now()
	ticket := func(id string, mod func(*whitelist.Entry)) whitelist.Entry {
		e := whitelist.Entry{ServiceID: id, Kind: whitelist.KindTicket}
		if mod != nil {
			mod(&e)
		}
		return e
	}
	err = list.Apply(1, true, []whitelist.Record{
		{Key: key("card-001.json"), Entry: ticket("T-1", nil)},
		{Key: key("card-002.json"), Entry: ticket("T-2", func(e *whitelist.Entry) { e.Zones = []string{"north"} })},
		{Key: key("card-003.json"), Entry: ticket("T-3", func(e *whitelist.Entry) { e.ValidUntil = now.Add(-time.Hour) })},
		{Key: key("card-004.json"), Entry: ticket("T-4", nil)},
		{Key: key("no-pinless.json"), Entry: ticket("T-6", nil)},
	}, nil, []cardkey.Key{key("card-004.json")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	roots, err := certcheck.LoadRoots(filepath.Join(pkiDir, "root.pem"))
	if err != nil {
		t.Fatal(err)
	}
	ob, err := outbox.Open(filepath.Join(dir, "outbox.db"), outbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close()
	decided := make(chan event.Event, 4)
	a := &agent.Agent{
		Site: "s", Gate: "g",
		Lanes:  []agent.Lane{{Name: "south-1", Reader: slot.Reader, Kind: event.KindEntry, Zone: "south"}},
		Policy: policy.Policy{Accept: []string{policy.AssurancePINLess}, Fallback: []string{policy.AssuranceCert}},
		Roots:  roots, Keyer: keyer, List: list, Journal: ob, PINLess: prover,
		OnDecision: func(e event.Event) { decided <- e },
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		(&reader.Watcher{Patterns: []string{slot.Reader}, Poll: 200 * time.Millisecond}).Run(ctx, a.Tap)
	})
	defer func() { cancel(); wg.Wait() }()

	copied := *taptest.Profile(t, "card-001.json")
	copied.Certificate = taptest.Profile(t, "card-002.json").Certificate
	v1 := *taptest.Profile(t, "card-001.json")
	v1.Version = 1
	// A relay adds its round trip to every APDU the card answers.
	relayed := *taptest.Profile(t, "card-001.json")
	relayed.Delay = vcard.Duration(40 * time.Millisecond)
	for _, tc := range []struct {
		name      string
		profile   *vcard.Profile
		before    func()
		reason    event.Reason
		assurance string
	}{
		{"listed", taptest.Profile(t, "card-001.json"), nil, event.ReasonAdmit, "pinless"},
		{"not listed", taptest.Profile(t, "card-005.json"), nil, event.ReasonNotListed, "pinless"},
		{"wrong zone", taptest.Profile(t, "card-002.json"), nil, event.ReasonWrongZone, "pinless"},
		{"outside window", taptest.Profile(t, "card-003.json"), nil, event.ReasonOutsideWindow, "pinless"},
		{"revoked", taptest.Profile(t, "card-004.json"), nil, event.ReasonRevoked, "pinless"},
		{"wrong root", taptest.Profile(t, "wrong-root.json"), nil, event.ReasonUnknownRoot, agent.AssuranceNone},
		{"expired certificate", taptest.Profile(t, "expired.json"), nil, event.ReasonCertExpired, agent.AssuranceNone},
		{"pulled", taptest.Profile(t, "pulled.json"), nil, event.ReasonCardRemoved, agent.AssuranceNone},
		{"transit card", taptest.Profile(t, "transit.json"), nil, event.ReasonNotMyNumberCard, agent.AssuranceNone},
		{"juki card", taptest.Profile(t, "juki.json"), nil, event.ReasonJukiCard, agent.AssuranceNone},
		{"phone", taptest.Profile(t, "phone.json"), nil, event.ReasonPhoneToken, agent.AssuranceNone},
		{"copied certificate", &copied, nil, event.ReasonCardSigInvalid, "pinless"},
		{"card without pinless", taptest.Profile(t, "no-pinless.json"), nil, event.ReasonPINLessUnsupported, "pinless"},
		{"card speaking only version 1", &v1, nil, event.ReasonPINLessUnsupported, "pinless"},
		{"emergency fallback", taptest.Profile(t, "no-pinless.json"), func() { a.Emergency.Store(true) }, event.ReasonAdmit, "cert"},
		{"expired institution certificate", taptest.Profile(t, "card-001.json"), func() { a.Emergency.Store(false); prover.p.Store(expired) }, event.ReasonTerminalAuthFailed, "pinless"},
		{"relayed card slower than the bound", &relayed, func() { prover.p.Store(bounded) }, event.ReasonPINLessTooSlow, "pinless"},
		{"its CA's CRL stale past the bound", taptest.Profile(t, "card-001.json"), func() {
			prover.p.Store(good)
			a.SetPolicy(policy.Policy{Accept: []string{policy.AssurancePINLess}, CRLMaxStale: 72 * time.Hour})
			ca := certOf(t, taptest.Profile(t, "card-001.json")).AuthorityKeyId
			if _, err := list.ApplyCRL(crl.Info{Issuer: "CN=test CA", IssuerKeyID: ca, ThisUpdate: now.Add(-100 * time.Hour), NextUpdate: now.Add(-76 * time.Hour)}, nil); err != nil {
				t.Fatal(err)
			}
		}, event.ReasonRevocationStale, "pinless"},
		// The hub's lists carry the CRLs it imported; the gate records them
		// as it records one applied here.
		{"its CA's current CRL named by a hub delta", taptest.Profile(t, "card-001.json"), func() {
			ca := certOf(t, taptest.Profile(t, "card-001.json")).AuthorityKeyId
			if err := list.ApplyWithCRLs(2, false, nil, nil, nil, nil, []crl.Info{{Issuer: "CN=test CA", IssuerKeyID: ca, ThisUpdate: now.Add(-time.Hour), NextUpdate: now.Add(23 * time.Hour)}}); err != nil {
				t.Fatal(err)
			}
		}, event.ReasonAdmit, "pinless"},
		{"its CA's CRL named by a hub snapshot, stale past the bound", taptest.Profile(t, "card-001.json"), func() {
			ca := certOf(t, taptest.Profile(t, "card-001.json")).AuthorityKeyId
			if err := list.ApplyWithCRLs(3, true, []whitelist.Record{{Key: key("card-001.json"), Entry: ticket("T-1", nil)}}, nil, nil, nil,
				[]crl.Info{{Issuer: "CN=test CA", IssuerKeyID: ca, ThisUpdate: now.Add(-100 * time.Hour), NextUpdate: now.Add(-76 * time.Hour)}}); err != nil {
				t.Fatal(err)
			}
		}, event.ReasonRevocationStale, "pinless"},
	} {
		if tc.before != nil {
			tc.before()
		}
		remove := taptest.Present(t, slot, tc.profile)
		select {
		case e := <-decided:
			if e.Reason != tc.reason || e.Assurance != tc.assurance {
				t.Errorf("%s: %s at %s, want %s at %s", tc.name, e.Reason, e.Assurance, tc.reason, tc.assurance)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: no decision", tc.name)
		}
		remove()
	}
}
