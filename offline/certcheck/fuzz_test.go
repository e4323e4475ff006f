package certcheck_test

import (
	"errors"
	"math/big"
	"testing"

	"github.com/mynagate/mynagate/offline/certcheck"
	"github.com/mynagate/mynagate/offline/certcheck/certchecktest"
)

// FuzzCheckDER feeds arbitrary bytes, as a card could return from EF 000A, to
// CheckDER: it must never panic, every failure must be a *certcheck.Error with
// a reason, and nothing but the real leaf may pass.
func FuzzCheckDER(f *testing.F) {
	root := certchecktest.NewRoot(f, certchecktest.JLISName, 1, date(2023, 1, 1), date(2033, 1, 1))
	roots, err := certcheck.NewRoots(root.Cert)
	if err != nil {
		f.Fatal(err)
	}
	leaf := root.Leaf(f, big.NewInt(0x0133C349), date(2024, 1, 1), date(2029, 1, 1), nil)
	f.Add(leaf.Raw)
	f.Add(leaf.Raw[:64])
	f.Add(root.Cert.Raw)
	f.Fuzz(func(t *testing.T, der []byte) {
		_, err := roots.CheckDER(der, date(2026, 1, 1))
		if err == nil {
			if string(der) != string(leaf.Raw) {
				t.Fatalf("bytes other than the signed leaf passed the check")
			}
			return
		}
		var ce *certcheck.Error
		if !errors.As(err, &ce) || ce.Reason == "" {
			t.Fatalf("error without a reason: %v", err)
		}
	})
}
