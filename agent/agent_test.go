package agent_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"

	"github.com/mynagate/mynagate/agent"
	"github.com/mynagate/mynagate/event"
	"github.com/mynagate/mynagate/hw/clock/clocktest"
	"github.com/mynagate/mynagate/hw/escpos"
	"github.com/mynagate/mynagate/hw/pins"
	"github.com/mynagate/mynagate/hw/pins/pinstest"
	"github.com/mynagate/mynagate/hw/signal"
	"github.com/mynagate/mynagate/hw/turnstile"
	"github.com/mynagate/mynagate/internal/taptest"
	"github.com/mynagate/mynagate/offline/cardkey"
	"github.com/mynagate/mynagate/offline/certcheck"
	"github.com/mynagate/mynagate/offline/pinless"
	"github.com/mynagate/mynagate/offline/policy"
	"github.com/mynagate/mynagate/offline/whitelist"
	"github.com/mynagate/mynagate/reader/jpki"
	"github.com/mynagate/mynagate/sync/outbox"
	"github.com/mynagate/mynagate/sync/peers"
	"github.com/mynagate/mynagate/sync/receipts"
	"github.com/mynagate/mynagate/vcard"
	"github.com/mynagate/mynagate/vcard/pki"
)

// direct carries APDUs straight to a virtual card, without pcscd: the pipeline's
// logic is tested here, the PC/SC path in e2e_test.go. A RemoveAfterAPDUs fault
// becomes the removal error a reader would give.
type direct struct {
	c      *vcard.Card
	remove int
	n      int
}

func (d *direct) Transmit(apdu []byte) ([]byte, error) {
	d.n++
	if d.remove > 0 && d.n > d.remove {
		return nil, fmt.Errorf("test reader: %w", jpki.ErrRemoved)
	}
	return d.c.Process(apdu), nil
}

type unit struct {
	agent  *agent.Agent
	keyer  cardkey.Keyer
	list   *whitelist.Store
	pkiDir string
	ob     *outbox.Outbox
}

func newUnit(t *testing.T) *unit {
	t.Helper()
	dir := t.TempDir()
	u := &unit{pkiDir: taptest.PKI(t), keyer: cardkey.NewSoftware(bytes.Repeat([]byte{7}, 32))}
	roots, err := certcheck.LoadRoots(filepath.Join(u.pkiDir, "root.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if u.list, err = whitelist.Open(filepath.Join(dir, "wl.db"), whitelist.Options{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { u.list.Close() })
	if u.ob, err = outbox.Open(filepath.Join(dir, "ob.db"), outbox.Options{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { u.ob.Close() })
	u.agent = &agent.Agent{
		Site: "s", Gate: "g1", Policy: policy.Policy{Accept: []string{policy.AssuranceCert}},
		Roots: roots, Keyer: u.keyer, List: u.list, Journal: u.ob,
	}
	return u
}

func (u *unit) card(t *testing.T, profile string) (*vcard.Profile, cardkey.Key) {
	t.Helper()
	p, err := vcard.LoadProfile(filepath.Join(u.pkiDir, profile))
	if err != nil {
		t.Fatal(err)
	}
	var k cardkey.Key
	if blk, _ := pem.Decode([]byte(p.Certificate)); blk != nil {
		cert, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		if k, err = cardkey.ForCert(u.keyer, cert); err != nil {
			t.Fatal(err)
		}
	}
	return p, k
}

func (u *unit) tap(t *testing.T, p *vcard.Profile, lane agent.Lane, at time.Time) event.Event {
	t.Helper()
	return u.agent.Decide(context.Background(), lane, &direct{c: vcard.NewCard(p), remove: p.RemoveAfterAPDUs}, nil, at)
}

// TestDecisionReasons drives the pipeline to every reason it can give for a
// certificate-level tap.
func TestDecisionReasons(t *testing.T) {
	u := newUnit(t)
	now := time.Date(2026, 11, 25, 14, 0, 0, 0, time.UTC)
	entry := func(mod func(*whitelist.Entry)) whitelist.Entry {
		e := whitelist.Entry{ServiceID: "T-1", Kind: whitelist.KindTicket}
		if mod != nil {
			mod(&e)
		}
		return e
	}
	entryLane := agent.Lane{Name: "in", Kind: event.KindEntry, Zone: "A"}
	for i, tc := range []struct {
		name    string
		profile string
		listed  *whitelist.Entry
		revoked bool
		want    event.Reason
	}{
		{"listed", "card-001.json", ptr(entry(nil)), false, event.ReasonAdmit},
		{"not listed", "card-001.json", nil, false, event.ReasonNotListed},
		{"revoked", "card-001.json", ptr(entry(nil)), true, event.ReasonRevoked},
		{"expired entry", "card-001.json", ptr(entry(func(e *whitelist.Entry) { e.ValidUntil = now.Add(-time.Minute) })), false, event.ReasonOutsideWindow},
		{"future entry", "card-001.json", ptr(entry(func(e *whitelist.Entry) { e.ValidFrom = now.Add(time.Hour) })), false, event.ReasonOutsideWindow},
		{"wrong zone", "card-001.json", ptr(entry(func(e *whitelist.Entry) { e.Zones = []string{"B"} })), false, event.ReasonWrongZone},
		{"wrong root", "wrong-root.json", nil, false, event.ReasonUnknownRoot},
		{"expired certificate", "expired.json", nil, false, event.ReasonCertExpired},
		{"pulled", "pulled.json", nil, false, event.ReasonCardRemoved},
		{"transit", "transit.json", nil, false, event.ReasonNotMyNumberCard},
		{"juki", "juki.json", nil, false, event.ReasonJukiCard},
		{"phone", "phone.json", nil, false, event.ReasonPhoneToken},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, key := u.card(t, tc.profile)
			var puts []whitelist.Record
			if tc.listed != nil {
				puts = append(puts, whitelist.Record{Key: key, Entry: *tc.listed})
			}
			var revoke []cardkey.Key
			if tc.revoked {
				revoke = append(revoke, key)
			}
			if err := u.list.Apply(uint64(i+1), true, puts, nil, revoke, nil); err != nil {
				t.Fatal(err)
			}
			e := u.tap(t, p, entryLane, now)
			if e.Reason != tc.want {
				t.Fatalf("reason %s, want %s", e.Reason, tc.want)
			}
			if (e.Decision == event.Admit) != (tc.want == event.ReasonAdmit) {
				t.Fatalf("decision %s for reason %s", e.Decision, e.Reason)
			}
			if e.Seq == 0 || e.ListVersion != uint64(i+1) || e.Lane != "in" || e.Kind != event.KindEntry {
				t.Fatalf("event not journaled with its context: %+v", e)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

type fakePrinter struct {
	mu  sync.Mutex
	got []escpos.Receipt
	ch  chan struct{}
}

func (f *fakePrinter) Print(_ context.Context, r escpos.Receipt) error {
	f.mu.Lock()
	f.got = append(f.got, r)
	f.mu.Unlock()
	f.ch <- struct{}{}
	return nil
}

// TestAdmitOpensTurnstileAndAnnuls: an admit pulses the relay, prints the seat
// receipt, and when nobody passes the entry is annulled with a journaled event
// that references it.
func TestAdmitOpensTurnstileAndAnnuls(t *testing.T) {
	u := newUnit(t)
	p, key := u.card(t, "card-001.json")
	if err := u.list.Apply(1, true, []whitelist.Record{{Key: key, Entry: whitelist.Entry{ServiceID: "T-9", Kind: whitelist.KindTicket, Seat: "A-12"}}}, nil, nil, nil); err != nil {
		t.Fatal(err)
	}
	clk := clocktest.New(time.Date(2026, 11, 25, 18, 0, 0, 0, time.UTC))
	relay := pinstest.NewRecorder("RELAY", clk)
	relayOut, err := pins.NewOut(relay, false)
	if err != nil {
		t.Fatal(err)
	}
	relay.Reset()
	// Nobody walks through: the passage pin never sees an edge.
	sensor, err := pins.NewIn(&gpiotest.Pin{N: "PASSAGE", EdgesChan: make(chan gpio.Level)}, true)
	if err != nil {
		t.Fatal(err)
	}
	ts := turnstile.New(relayOut, sensor, turnstile.Options{Clock: clk, Pulse: 500 * time.Millisecond, PassTimeout: 10 * time.Second})
	defer ts.Close()
	pr := &fakePrinter{ch: make(chan struct{}, 1)}
	u.agent.Turnstile, u.agent.Printer = ts, pr
	u.agent.Receipts = agent.Receipts{Event: "ウインターライブ2026", GateLabel: "東ゲート3"}
	var decided []event.Event
	var mu sync.Mutex
	u.agent.OnDecision = func(e event.Event) { mu.Lock(); decided = append(decided, e); mu.Unlock() }

	done := make(chan event.Event)
	go func() { done <- u.tap(t, p, agent.Lane{Name: "in", Kind: event.KindEntry}, clk.Now()) }()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// The pulse and the pass timeout are timers on the test clock.
	if err := clk.WaitTimers(ctx, 2); err != nil {
		t.Fatal(err)
	}
	clk.Advance(500 * time.Millisecond)
	entry := <-done
	if entry.Decision != event.Admit {
		t.Fatalf("entry: %s", entry.Reason)
	}
	if ch := relay.Changes(); len(ch) != 2 || ch[1].At-ch[0].At != 500*time.Millisecond {
		t.Fatalf("relay changes %v, want one 500 ms pulse", ch)
	}
	select {
	case <-pr.ch:
	case <-ctx.Done():
		t.Fatal("no receipt")
	}
	b, err := pr.got[0].ESCPOS()
	if err != nil || !bytes.Contains(b, []byte("T-9")) {
		t.Fatalf("receipt does not carry the ticket reference: %v", err)
	}

	clk.Advance(10 * time.Second)
	var res turnstile.Result
	select {
	case res = <-ts.Results():
	case <-ctx.Done():
		t.Fatal("no passage result")
	}
	if res.Outcome != turnstile.NotPassed || res.EntryID != entry.ID {
		t.Fatalf("result %+v", res)
	}
	annul, err := u.agent.Annul(ctx, res.EntryID, res.At)
	if err != nil {
		t.Fatal(err)
	}
	if annul.Kind != event.KindAnnul || annul.Ref != entry.ID || annul.Card != entry.Card || annul.Seq != entry.Seq+1 || annul.Reason != event.ReasonAnnulled {
		t.Fatalf("annul event %+v does not reference entry %+v", annul, entry)
	}
	if _, err := u.agent.Annul(ctx, entry.ID, res.At); err == nil {
		t.Fatal("an entry was annulled twice")
	}
	pending, err := u.ob.Pending(0, 10)
	if err != nil || len(pending) != 2 || pending[1].Ref != entry.ID {
		t.Fatalf("outbox holds %d events (%v), want the entry and its annul", len(pending), err)
	}
}

// pinlessAuth builds the terminal side from the test PKI's institution key and
// certificate (a software key here; the HSM key in cmd/gateagent's tests).
func pinlessAuth(t *testing.T, certFile string) *pinless.Authenticator {
	t.Helper()
	dir := taptest.PKI(t)
	kb, err := os.ReadFile(filepath.Join(dir, "institution.key"))
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(kb)
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := os.ReadFile(filepath.Join(dir, certFile))
	if err != nil {
		t.Fatal(err)
	}
	a, err := pinless.NewAuthenticator(cert, pki.InstitutionCode, k.(crypto.Signer))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestAssuranceLevels drives the PIN-less reference protocol against the
// virtual card for every outcome a gate must tell apart.
func TestAssuranceLevels(t *testing.T) {
	u := newUnit(t)
	good := pinlessAuth(t, "institution.cvc")
	expired := pinlessAuth(t, "institution-expired.cvc")
	now := time.Now()
	copied, _ := u.card(t, "card-001.json")
	other, _ := u.card(t, "card-002.json")
	copied.Certificate = other.Certificate // card-002's certificate on card-001's key
	for _, tc := range []struct {
		name      string
		profile   *vcard.Profile
		auth      *pinless.Authenticator
		pol       policy.Policy
		emergency bool
		reason    event.Reason
		assurance string
	}{
		{"pinless", nil, good, policy.Policy{Accept: []string{"pinless"}}, false, event.ReasonAdmit, "pinless"},
		{"expired institution certificate", nil, expired, policy.Policy{Accept: []string{"pinless"}}, false, event.ReasonTerminalAuthFailed, "pinless"},
		{"copied certificate", copied, good, policy.Policy{Accept: []string{"pinless"}}, false, event.ReasonCardSigInvalid, "pinless"},
		{"card without pinless, no fallback", ptr(*mustProfile(t, u, "no-pinless.json")), good, policy.Policy{Accept: []string{"pinless"}, Fallback: []string{"cert"}}, false, event.ReasonPINLessUnsupported, "pinless"},
		{"card without pinless, emergency fallback", ptr(*mustProfile(t, u, "no-pinless.json")), good, policy.Policy{Accept: []string{"pinless"}, Fallback: []string{"cert"}}, true, event.ReasonAdmit, "cert"},
		{"cert only gate", nil, nil, policy.Policy{Accept: []string{"cert"}}, false, event.ReasonAdmit, "cert"},
		{"pinless gate without an institution key", nil, nil, policy.Policy{Accept: []string{"pinless"}}, false, event.ReasonAssuranceNotAccepted, "cert"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.profile
			if p == nil {
				p = mustProfile(t, u, "card-001.json")
			}
			u.agent.Policy, u.agent.PINLess = tc.pol, nil
			if tc.auth != nil {
				u.agent.PINLess = tc.auth
			}
			u.agent.Emergency.Store(tc.emergency)
			c := u.agent.Check(context.Background(), jpki.New(&direct{c: vcard.NewCard(p)}, nil), "lane-1", now)
			if c.Reason != tc.reason || c.Assurance != tc.assurance {
				t.Fatalf("reason %s assurance %s (%v); want %s at %s", c.Reason, c.Assurance, c.Err, tc.reason, tc.assurance)
			}
		})
	}
}

// TestReplayedPINLessAnswer: a recorded card signature does not prove a later
// tap, because it binds the card's fresh challenge.
func TestReplayedPINLessAnswer(t *testing.T) {
	u := newUnit(t)
	auth := pinlessAuth(t, "institution.cvc")
	p := mustProfile(t, u, "card-001.json")
	rec := &recorder{c: vcard.NewCard(p)}
	if _, err := auth.Prove(rec, certOf(t, p)); err != nil {
		t.Fatal(err)
	}
	// Replay: a fake card that answers every command with the recorded answer
	// to the same command; its challenge and signature are the old ones.
	replay := &replayer{answers: rec.answers}
	_, err := auth.Prove(replay, certOf(t, p))
	if !errors.Is(err, pinless.ErrCardSignature) {
		t.Fatalf("replayed answer: %v, want ErrCardSignature", err)
	}
}

type recorder struct {
	c       *vcard.Card
	answers map[string][]byte
}

func (r *recorder) Transmit(apdu []byte) ([]byte, error) {
	if r.answers == nil {
		r.answers = map[string][]byte{}
	}
	rsp := r.c.Process(apdu)
	r.answers[fmt.Sprintf("%X", apdu[:4])] = rsp
	return rsp, nil
}

type replayer struct{ answers map[string][]byte }

func (r *replayer) Transmit(apdu []byte) ([]byte, error) {
	if rsp, ok := r.answers[fmt.Sprintf("%X", apdu[:4])]; ok {
		return rsp, nil
	}
	return []byte{0x6D, 0x00}, nil
}

func mustProfile(t *testing.T, u *unit, name string) *vcard.Profile {
	t.Helper()
	p, _ := u.card(t, name)
	return p
}

func certOf(t *testing.T, p *vcard.Profile) *x509.Certificate {
	t.Helper()
	blk, _ := pem.Decode([]byte(p.Certificate))
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// listCard puts a profile's card on the unit's whitelist.
func (u *unit) listCard(t *testing.T, p *vcard.Profile, key cardkey.Key, version uint64) {
	t.Helper()
	if err := u.list.Apply(version, true, []whitelist.Record{{Key: key, Entry: whitelist.Entry{ServiceID: "T-77", Kind: whitelist.KindTicket}}}, nil, nil, nil); err != nil {
		t.Fatal(err)
	}
}

// TestAntiPassback: the site's inside set (a real sync/peers store) refuses a
// second entry on the same ticket until the holder has exited, and an annulled
// entry does not count.
func TestAntiPassback(t *testing.T) {
	u := newUnit(t)
	set, err := peers.Open(filepath.Join(t.TempDir(), "peers.db"), peers.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	u.agent.Peers = set
	u.agent.Policy.AntiPassback = true
	p, key := u.card(t, "card-001.json")
	u.listCard(t, p, key, 1)
	in := agent.Lane{Name: "in", Kind: event.KindEntry}
	out := agent.Lane{Name: "out", Kind: event.KindExit}
	now := time.Now()
	steps := []struct {
		lane agent.Lane
		want event.Reason
	}{
		{in, event.ReasonAdmit},
		{in, event.ReasonAlreadyInside},
		{out, event.ReasonAdmit},
		{in, event.ReasonAdmit},
	}
	for i, st := range steps {
		now = now.Add(time.Minute)
		if e := u.tap(t, p, st.lane, now); e.Reason != st.want {
			t.Fatalf("step %d (%s): %s, want %s", i, st.lane.Name, e.Reason, st.want)
		}
	}
	// A peer gate's event counts too: the holder exits elsewhere.
	now = now.Add(time.Minute)
	other := event.Event{ID: "01JPEERGATEEXIT0000000000A", Seq: 1, At: now, Site: "s", Gate: "g2", Kind: event.KindExit,
		Decision: event.Admit, Reason: event.ReasonAdmit, ServiceID: "T-77", Assurance: "pinless"}
	set.Observe(&other)
	now = now.Add(time.Minute)
	if e := u.tap(t, p, in, now); e.Reason != event.ReasonAdmit {
		t.Fatalf("entry after exiting at another gate: %s", e.Reason)
	}
}

// TestJournalFull: when the outbox cannot record (its disk budget spent), a
// venue gate stays closed and a shelter admits with the attention signal; both
// keep the tap in memory and journal it once space is back.
func TestJournalFull(t *testing.T) {
	for _, tc := range []struct {
		name     string
		failOpen bool
		want     event.Decision
		signal   signal.Pattern
	}{
		{"venue stays closed", false, event.Deny, signal.Error},
		{"shelter admits", true, event.Admit, signal.Attention},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := newUnit(t)
			// A budget of a few pages over what an empty outbox uses.
			path := filepath.Join(t.TempDir(), "small.db")
			ob, err := outbox.Open(path, outbox.Options{})
			if err != nil {
				t.Fatal(err)
			}
			base := ob.Usage().UsedBytes
			ob.Close()
			if ob, err = outbox.Open(path, outbox.Options{MaxBytes: base + 3*4096}); err != nil {
				t.Fatal(err)
			}
			defer ob.Close()
			sig := &recordingSignal{}
			u.agent.Journal, u.agent.FailOpen, u.agent.Signal = ob, tc.failOpen, sig
			p, key := u.card(t, "card-001.json")
			u.listCard(t, p, key, 1)
			lane := agent.Lane{Name: "in", Kind: event.KindCheckin}
			// The first event fits the budget's first commit; the next ones do not.
			for i := 0; ; i++ {
				e := u.tap(t, p, lane, time.Now())
				if e.Seq == 0 {
					if e.Decision != tc.want {
						t.Fatalf("unrecordable tap decided %s, want %s", e.Decision, tc.want)
					}
					break
				}
				if i > 500 {
					t.Fatal("the outbox never filled")
				}
			}
			if got := sig.all(); !slices.Contains(got, tc.signal) {
				t.Fatalf("signals %v, want %s among them", got, tc.signal)
			}
			if u.agent.Unrecorded() != 1 {
				t.Fatalf("%d taps held in memory, want 1", u.agent.Unrecorded())
			}
			// Space comes back: the hub receipted the backlog.
			pending, _ := ob.Pending(0, 1000)
			for _, e := range pending {
				ob.Ack(receipts.Receipt{Seq: e.Seq, ID: e.ID})
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { u.agent.RetryUnrecorded(ctx, 10*time.Millisecond); close(done) }()
			deadline := time.Now().Add(5 * time.Second)
			for u.agent.Unrecorded() > 0 && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			cancel()
			<-done
			if n := u.agent.Unrecorded(); n != 0 {
				t.Fatalf("%d taps still held after space came back", n)
			}
			last, _ := ob.Pending(0, 1000)
			if len(last) != 1 || last[0].Decision != tc.want || last[0].Seq == 0 {
				t.Fatalf("journal after retry: %+v", last)
			}
		})
	}
}
