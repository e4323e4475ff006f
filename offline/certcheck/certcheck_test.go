package certcheck_test

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mynagate/mynagate/event"
	"github.com/mynagate/mynagate/internal/testenv"
	"github.com/mynagate/mynagate/offline/certcheck"
	"github.com/mynagate/mynagate/offline/certcheck/certchecktest"
)

func date(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

func TestLoadRealJLISRoots(t *testing.T) {
	refDir := filepath.Join(testenv.SharedDir(t), "reference", "jlis-auth-ca")
	files := []string{filepath.Join(refDir, "jpki-auth-ca-2015.pem"), filepath.Join(refDir, "jpki-auth-ca-2023.pem")}
	roots, err := certcheck.LoadRoots(files...)
	if err != nil {
		t.Fatal(err)
	}
	// A card certificate made under the real J-LIS name by a key that is not a
	// J-LIS key must be refused even though the name matches both generations.
	fake := certchecktest.NewRoot(t, certchecktest.JLISName, 1, date(2023, 1, 1), date(2033, 1, 1))
	leaf := fake.Leaf(t, big.NewInt(0x1234), date(2024, 1, 1), date(2029, 1, 1), nil)
	err = roots.Check(leaf, date(2026, 11, 25))
	if reason(err) != event.ReasonUnknownRoot {
		t.Fatalf("forged leaf under the J-LIS name: got %v, want %s", err, event.ReasonUnknownRoot)
	}
}

func TestLoadRootsErrors(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "x.pem")
	os.WriteFile(notPEM, []byte("hello"), 0o644)
	root := certchecktest.NewRoot(t, certchecktest.JLISName, 1, date(2023, 1, 1), date(2033, 1, 1))
	leaf := root.Leaf(t, big.NewInt(7), date(2024, 1, 1), date(2029, 1, 1), nil)
	other := certchecktest.NewRoot(t, pkix.Name{CommonName: "other"}, 2, date(2023, 1, 1), date(2033, 1, 1))
	orphan := other.Intermediate(t, pkix.Name{CommonName: "mid"}, 3, date(2023, 1, 1), date(2033, 1, 1))
	for name, files := range map[string][]string{
		"none":         nil,
		"missing file": {filepath.Join(dir, "nope.pem")},
		"not PEM":      {notPEM},
		"leaf pinned":  {certchecktest.WritePEM(t, root.Cert, leaf)},
		"orphan mid":   {certchecktest.WritePEM(t, root.Cert, orphan.Cert)},
		"only a mid":   {certchecktest.WritePEM(t, orphan.Cert)},
	} {
		if _, err := certcheck.LoadRoots(files...); err == nil {
			t.Errorf("%s: LoadRoots succeeded, want an error", name)
		}
	}
}

func TestCheck(t *testing.T) {
	// Three generations under one name; 2019 is deliberately not pinned.
	gen2015 := certchecktest.NewRoot(t, certchecktest.JLISName, 1, date(2015, 10, 20), date(2025, 10, 19))
	gen2019 := certchecktest.NewRoot(t, certchecktest.JLISName, 0x0133C349, date(2019, 9, 14), date(2029, 9, 14))
	gen2023 := certchecktest.NewRoot(t, certchecktest.JLISName, 0x06D18006, date(2023, 7, 16), date(2033, 7, 15))
	otherName := certchecktest.NewRoot(t, pkix.Name{Country: []string{"JP"}, Organization: []string{"JPKI-TEST"}}, 9, date(2020, 1, 1), date(2040, 1, 1))
	// Two files, one of them holding two certificates.
	roots, err := certcheck.LoadRoots(
		certchecktest.WritePEM(t, gen2015.Cert, gen2023.Cert),
		certchecktest.WritePEM(t, otherName.Cert),
	)
	if err != nil {
		t.Fatal(err)
	}
	now := date(2026, 11, 25)
	serial := big.NewInt(0x2A3B4C)
	tests := []struct {
		name string
		cert *x509.Certificate
		at   time.Time
		want event.Reason // "" = accepted
	}{
		{"2023 generation selected by signature", gen2023.Leaf(t, serial, date(2024, 1, 1), date(2029, 1, 1), nil), now, ""},
		{"2015 generation while it was valid", gen2015.Leaf(t, serial, date(2020, 1, 1), date(2025, 1, 1), nil), date(2023, 1, 1), ""},
		{"second file", otherName.Leaf(t, serial, date(2024, 1, 1), date(2029, 1, 1), nil), now, ""},
		{"same name, unpinned 2019 key", gen2019.Leaf(t, serial, date(2024, 1, 1), date(2029, 1, 1), nil), now, event.ReasonUnknownRoot},
		{"unknown issuer name", certchecktest.NewRoot(t, pkix.Name{CommonName: "Evil CA"}, 5, date(2020, 1, 1), date(2040, 1, 1)).Leaf(t, serial, date(2024, 1, 1), date(2029, 1, 1), nil), now, event.ReasonUnknownRoot},
		{"expired", gen2023.Leaf(t, serial, date(2024, 1, 1), date(2026, 1, 1), nil), now, event.ReasonCertExpired},
		{"expired beyond skew", gen2023.Leaf(t, serial, date(2024, 1, 1), now.Add(-6*time.Minute), nil), now, event.ReasonCertExpired},
		{"expired within skew", gen2023.Leaf(t, serial, date(2024, 1, 1), now.Add(-4*time.Minute), nil), now, ""},
		{"not yet valid", gen2023.Leaf(t, serial, date(2027, 1, 1), date(2030, 1, 1), nil), now, event.ReasonCertNotYetValid},
		{"not yet valid within skew", gen2023.Leaf(t, serial, now.Add(4*time.Minute), date(2030, 1, 1), nil), now, ""},
		{"root expired", gen2015.Leaf(t, serial, date(2020, 1, 1), date(2027, 1, 1), nil), now, event.ReasonCertExpired},
		{"no digital signature usage", gen2023.Leaf(t, serial, date(2024, 1, 1), date(2029, 1, 1), func(c *x509.Certificate) {
			c.KeyUsage = x509.KeyUsageKeyEncipherment
		}), now, event.ReasonCertInvalid},
		{"CA certificate offered as card", gen2023.Leaf(t, serial, date(2024, 1, 1), date(2029, 1, 1), func(c *x509.Certificate) {
			c.IsCA = true
			c.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature
		}), now, event.ReasonCertInvalid},
		{"nil", nil, now, event.ReasonCertInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := roots.Check(tt.cert, tt.at)
			if got := reason(err); got != tt.want {
				t.Fatalf("Check = %v, want reason %q", err, tt.want)
			}
		})
	}
}

func TestPinnedIntermediate(t *testing.T) {
	root := certchecktest.NewRoot(t, certchecktest.JLISName, 1, date(2023, 1, 1), date(2033, 1, 1))
	mid := root.Intermediate(t, pkix.Name{CommonName: "JPKI mid"}, 2, date(2023, 1, 1), date(2033, 1, 1))
	leaf := mid.Leaf(t, big.NewInt(77), date(2024, 1, 1), date(2029, 1, 1), nil)
	now := date(2026, 11, 25)

	onlyRoot, err := certcheck.NewRoots(root.Cert)
	if err != nil {
		t.Fatal(err)
	}
	if r := reason(onlyRoot.Check(leaf, now)); r != event.ReasonUnknownRoot {
		t.Fatalf("unpinned intermediate: reason %q, want %q (the card's own CA must never be trusted)", r, event.ReasonUnknownRoot)
	}
	withMid, err := certcheck.NewRoots(root.Cert, mid.Cert)
	if err != nil {
		t.Fatal(err)
	}
	if err := withMid.Check(leaf, now); err != nil {
		t.Fatalf("pinned intermediate: %v", err)
	}
	if r := reason(withMid.Check(leaf, date(2034, 1, 1))); r != event.ReasonCertExpired {
		t.Fatalf("after the chain expired: reason %q", r)
	}
}

func TestCheckDERMalformed(t *testing.T) {
	root := certchecktest.NewRoot(t, certchecktest.JLISName, 1, date(2023, 1, 1), date(2033, 1, 1))
	roots, err := certcheck.NewRoots(root.Cert)
	if err != nil {
		t.Fatal(err)
	}
	leaf := root.Leaf(t, big.NewInt(1), date(2024, 1, 1), date(2029, 1, 1), nil)
	if _, err := roots.CheckDER(leaf.Raw, date(2026, 1, 1)); err != nil {
		t.Fatal(err)
	}
	if _, err := roots.CheckDER(leaf.Raw[:100], date(2026, 1, 1)); reason(err) != event.ReasonCertInvalid {
		t.Fatalf("truncated DER: %v", err)
	}
}

func reason(err error) event.Reason {
	if err == nil {
		return ""
	}
	var e *certcheck.Error
	if !errors.As(err, &e) {
		return "not a *certcheck.Error: " + event.Reason(err.Error())
	}
	return e.Reason
}

// TestKeyIDHintDoesNotSelect shows that the authority key id only orders the
// tries: generations sharing a key id are still told apart by signature, and a
// forged root copying a pinned root's key id anchors nothing.
func TestKeyIDHintDoesNotSelect(t *testing.T) {
	id := []byte{1, 2, 3, 4}
	a := certchecktest.NewRootWithKeyID(t, certchecktest.JLISName, 1, date(2015, 1, 1), date(2035, 1, 1), id)
	b := certchecktest.NewRootWithKeyID(t, certchecktest.JLISName, 2, date(2015, 1, 1), date(2035, 1, 1), id)
	forged := certchecktest.NewRootWithKeyID(t, certchecktest.JLISName, 3, date(2015, 1, 1), date(2035, 1, 1), id)
	roots, err := certcheck.NewRoots(a.Cert, b.Cert)
	if err != nil {
		t.Fatal(err)
	}
	now := date(2026, 11, 25)
	if err := roots.Check(b.Leaf(t, big.NewInt(5), date(2024, 1, 1), date(2029, 1, 1), nil), now); err != nil {
		t.Fatalf("leaf of the second same-id generation: %v", err)
	}
	if r := reason(roots.Check(forged.Leaf(t, big.NewInt(5), date(2024, 1, 1), date(2029, 1, 1), nil), now)); r != event.ReasonUnknownRoot {
		t.Fatalf("leaf of a forged root with a pinned key id: reason %q", r)
	}
}
