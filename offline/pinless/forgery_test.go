package pinless_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"testing"

	"github.com/ebfe/scard"

	"github.com/mynagate/mynagate/internal/pcsctest"
	"github.com/mynagate/mynagate/offline/pinless"
	"github.com/mynagate/mynagate/vcard"
)

// pinForger is the attack of issue 15: a device that stands in for the card,
// knows the holder's PIN, and has the real card sign at the PIN level. It
// accepts PSO and EXTERNAL AUTHENTICATE without checking them (it cannot: it
// has no authority key) and chooses RC itself.
type pinForger struct {
	real *vcard.Card
	// downgrade answers the version 2 EXTERNAL AUTHENTICATE with 6A86, as a
	// version 1 card does, to make the gate fall back to version 1.
	downgrade bool
	// replay, if set, is answered as the card's signature instead of one
	// made by the real card.
	replay []byte

	p pinless.Proof
}

func (f *pinForger) ATR() []byte { return f.real.ATR() }
func (f *pinForger) Reset()      { f.real.Reset() }

func (f *pinForger) Process(cmd []byte) []byte {
	ok := []byte{0x90, 0x00}
	switch {
	case bytes.HasPrefix(cmd, []byte{0x00, 0x2A, 0x00, 0xBE}):
		h := sha256.Sum256(cmd[5:])
		f.p.CertificateHash, f.p.InstitutionCode = h[:], code
		return ok
	case bytes.HasPrefix(cmd, []byte{0x00, 0x84}):
		f.p.CardChallenge = []byte("chosenRC")
		return append([]byte("chosenRC"), ok...)
	case bytes.HasPrefix(cmd, []byte{0x00, 0x82}):
		if f.downgrade && cmd[2] == 0x02 {
			return []byte{0x6A, 0x86}
		}
		f.p.Version = pinless.V1
		if cmd[2] == 0x02 {
			f.p.Version = pinless.V2
		}
		f.p.TerminalNonce, f.p.TerminalSignature = cmd[5:21], cmd[21:85]
		return ok
	case bytes.HasPrefix(cmd, []byte{0x80, 0x2A, 0x00, 0x81}), bytes.HasPrefix(cmd, []byte{0x80, 0x2A, 0x00, 0x82}):
		if f.replay != nil {
			return append(append([]byte{}, f.replay...), ok...)
		}
		// VERIFY PIN on the real card, then its PIN-level signature over
		// the DigestInfo of the session's M.
		di := append([]byte{0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20}, f.p.Message()...)
		for _, c := range [][]byte{{0x00, 0xA4, 0x02, 0x0C, 0x02, 0x00, 0x18}, {0x00, 0x20, 0x00, 0x80, 0x04, '1', '2', '3', '4'}, {0x00, 0xA4, 0x02, 0x0C, 0x02, 0x00, 0x17}} {
			if r := f.real.Process(c); !bytes.Equal(r, ok) {
				return r
			}
		}
		return f.real.Process(append(append([]byte{0x80, 0x2A, 0x00, 0x80, byte(len(di))}, di...), 0x00))
	}
	return f.real.Process(cmd)
}

// TestPINLevelForgeryThroughPCSCAndSoftHSM runs the forgery of issue 15 and a
// replayed version 1 answer against the gate's authenticator, through real
// pcscd and vpcd, with the institution key in a SoftHSM2 token. Under version
// 2 both are refused; the control row shows the forgery passing a gate that
// accepts version 1, which is why pinless.accept_v1 is off by default.
func TestPINLevelForgeryThroughPCSCAndSoftHSM(t *testing.T) {
	slot := pcsctest.Acquire(t, 1)
	instCert, signer := softHSMInstitution(t, "forgery")
	v2Gate, err := pinless.NewAuthenticator(instCert, code, signer)
	if err != nil {
		t.Fatal(err)
	}
	v1Gate, err := pinless.NewAuthenticator(instCert, code, signer, pinless.AcceptV1())
	if err != nil {
		t.Fatal(err)
	}
	v1c, cert := v1Card(t)
	recordedV1, err := v1Gate.Prove(&transport{card: v1c}, cert)
	if err != nil {
		t.Fatal(err)
	}
	real := func() *vcard.Card { c, _, _ := card(t, "card-001"); return c }

	sc, err := scard.EstablishContext()
	if err != nil {
		t.Fatalf("PC/SC context: %v", err)
	}
	defer sc.Release()
	tests := []struct {
		name string
		gate *pinless.Authenticator
		card vcard.Responder
		want error // nil: proven present
	}{
		{"genuine card", v2Gate, real(), nil},
		{"PIN-level signature over the version 2 M", v2Gate, &pinForger{real: real()}, pinless.ErrCardSignature},
		{"PIN-level signature, downgrade to version 1", v2Gate, &pinForger{real: real(), downgrade: true}, pinless.ErrUnsupported},
		{"replayed version 1 answer", v2Gate, &pinForger{real: real(), replay: recordedV1.Signature}, pinless.ErrCardSignature},
		{"replayed version 1 answer, downgrade", v2Gate, &pinForger{real: real(), downgrade: true, replay: recordedV1.Signature}, pinless.ErrUnsupported},
		{"control: the forgery passes a gate accepting version 1", v1Gate, &pinForger{real: real(), downgrade: true}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := withCardInReader(t, sc, slot, tt.card, func(tr pinless.Transport) error {
				_, err := tt.gate.Prove(tr, cert)
				return err
			})
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("Prove error = %v, want %v", err, tt.want)
			}
		})
	}
}

// withCardInReader presents r on the vpcd slot, connects through pcscd, runs
// f on the connection and removes the card again.
func withCardInReader(t *testing.T, sc *scard.Context, slot pcsctest.Slot, r vcard.Responder, f func(pinless.Transport) error) error {
	t.Helper()
	waitState(t, sc, slot.Reader, scard.StateEmpty)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- vcard.Present(ctx, slot.Addr, r) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Present: %v", err)
		}
		waitState(t, sc, slot.Reader, scard.StateEmpty)
	}()
	waitState(t, sc, slot.Reader, scard.StatePresent)
	h, err := sc.Connect(slot.Reader, scard.ShareShared, scard.ProtocolAny)
	if err != nil {
		return fmt.Errorf("connect %s: %w", slot.Reader, err)
	}
	defer h.Disconnect(scard.LeaveCard)
	return f(h)
}
