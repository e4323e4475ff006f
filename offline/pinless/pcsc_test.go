package pinless_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ebfe/scard"

	"github.com/mynagate/mynagate/internal/pcsctest"
	"github.com/mynagate/mynagate/vcard"
)

// TestProveThroughPCSC runs the protocol through real pcscd and vpcd, with
// *scard.Card as the Transport, as the gate does.
func TestProveThroughPCSC(t *testing.T) {
	slot := pcsctest.Acquire(t, 1)
	c, cert, _ := card(t, "card-001")
	sc, err := scard.EstablishContext()
	if err != nil {
		t.Fatalf("PC/SC context: %v", err)
	}
	// A card left by the slot's previous holder would be taken for ours.
	waitState(t, sc, slot.Reader, scard.StateEmpty)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- vcard.Present(ctx, slot.Addr, c) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Present: %v", err)
		}
		waitState(t, sc, slot.Reader, scard.StateEmpty)
		sc.Release()
	})
	waitState(t, sc, slot.Reader, scard.StatePresent)
	h, err := sc.Connect(slot.Reader, scard.ShareShared, scard.ProtocolAny)
	if err != nil {
		t.Fatalf("connect %s: %v", slot.Reader, err)
	}
	defer h.Disconnect(scard.LeaveCard)
	if _, err := authenticator(t, "institution.cvc").Prove(h, cert); err != nil {
		t.Fatal(err)
	}
}

// waitState waits for pcscd to report want on reader, instead of sleeping
// through its poll interval.
func waitState(t *testing.T, sc *scard.Context, reader string, want scard.StateFlag) {
	t.Helper()
	rs := []scard.ReaderState{{Reader: reader, CurrentState: scard.StateUnaware}}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if err := sc.GetStatusChange(rs, time.Second); err != nil && !errors.Is(err, scard.ErrTimeout) {
			t.Fatalf("GetStatusChange(%s): %v", reader, err)
		}
		if rs[0].EventState&want != 0 {
			return
		}
		rs[0].CurrentState = rs[0].EventState &^ scard.StateChanged
	}
	t.Fatalf("reader %s never reached state %#x", reader, want)
}
