// Package taptest presents virtual cards on a vpcd slot the way a person taps:
// the card arrives, stays while the test looks, and leaves, and the next tap
// waits until pcscd has seen it go (a card put back before pcscd polled its
// absence would look like the same card lying there).
package taptest

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/mynagate/mynagate/internal/pcsctest"
	"github.com/mynagate/mynagate/reader"
	"github.com/mynagate/mynagate/vcard"
	"github.com/mynagate/mynagate/vcard/pki"
)

// Present puts a card built from p on the slot, waits until pcscd sees it, and
// returns the function that takes it off again and waits until pcscd has
// noticed.
func Present(t testing.TB, slot pcsctest.Slot, p *vcard.Profile) (remove func()) {
	t.Helper()
	return PresentCard(t, slot, vcard.NewCard(p))
}

// PresentCard is Present for a card the test keeps: its PIN counter carries
// over from one presentation to the next, as on a real card.
func PresentCard(t testing.TB, slot pcsctest.Slot, c *vcard.Card) (remove func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- vcard.Present(ctx, slot.Addr, c) }()
	wctx, wcancel := context.WithTimeout(ctx, 15*time.Second)
	defer wcancel()
	if err := reader.WaitPresent(wctx, slot.Reader); err != nil {
		t.Errorf("card never seen on %s: %v", slot.Reader, err)
	}
	return func() {
		t.Helper()
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, vcard.ErrPulled) {
			t.Errorf("present on %s: %v", slot.Reader, err)
		}
		wctx, wcancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer wcancel()
		if err := reader.WaitRemoved(wctx, slot.Reader); err != nil {
			t.Error(err)
		}
	}
}

var (
	pkiOnce sync.Once
	pkiDir  string
	pkiErr  error
)

// PKI returns the directory of a test PKI (vcard/pki) shared by the tests of
// one process: RSA key generation is the slow part of a test.
func PKI(t testing.TB) string {
	t.Helper()
	pkiOnce.Do(func() {
		if pkiDir, pkiErr = os.MkdirTemp("", "mynagate-test-pki-"); pkiErr == nil {
			pkiErr = pki.Init(pkiDir, pki.Options{})
		}
	})
	if pkiErr != nil {
		t.Fatal(pkiErr)
	}
	return pkiDir
}

// Profile loads a card profile of the shared test PKI, such as "card-001.json".
func Profile(t testing.TB, name string) *vcard.Profile {
	t.Helper()
	p, err := vcard.LoadProfile(filepath.Join(PKI(t), name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}
