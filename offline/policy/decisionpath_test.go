package policy_test

import (
	"crypto/x509"
	"math/big"
	"math/rand/v2"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/mynagate/mynagate/event"
	"github.com/mynagate/mynagate/offline/cardkey"
	"github.com/mynagate/mynagate/offline/certcheck"
	"github.com/mynagate/mynagate/offline/certcheck/certchecktest"
	"github.com/mynagate/mynagate/offline/policy"
	"github.com/mynagate/mynagate/offline/whitelist"
	"github.com/mynagate/mynagate/offline/whitelist/whitelisttest"
)

// BenchmarkDecisionPath measures what a gate does after the card has answered
// (DESIGN.md §7 decision_path_us_p99_5m): check the RSA-2048 certificate
// against two pinned J-LIS-named root generations, compute the card key
// (software HMAC), look up the revocation set and the whitelist, decide. It
// reports the p99 as decision_path_us_p99_{10k,5m} ("name/unit" metrics, which
// scripts/bench turns into rows). entries=5M needs MYNAGATE_BENCH_LARGE=1 and uses
// the cached store of whitelisttest.
func BenchmarkDecisionPath(b *testing.B) {
	for _, size := range []struct {
		name, metric string
		n            int
		large        bool
	}{
		{"entries=10k", "decision_path_us_p99_10k/µs", 10_000, false},
		{"entries=5M", "decision_path_us_p99_5m/µs", 5_000_000, true},
	} {
		b.Run(size.name, func(b *testing.B) {
			if size.large && os.Getenv("MYNAGATE_BENCH_LARGE") != "1" {
				b.Skip("set MYNAGATE_BENCH_LARGE=1 to run benchmarks over millions of entries")
			}
			benchDecisionPath(b, size.n, size.metric)
		})
	}
}

func benchDecisionPath(b *testing.B, n int, metric string) {
	store, err := whitelist.Open(whitelisttest.CachedStore(b, n), whitelist.Options{ReadOnly: true, Preload: true})
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()

	// Generated cards alternate between two issuer key ids; make one root per
	// generation, both under the J-LIS name, so Check must pick by signature.
	y := func(year int) time.Time { return time.Date(year, 1, 1, 0, 0, 0, 0, time.UTC) }
	var cas [2]*certchecktest.CA
	for g := range cas {
		akid, _ := whitelisttest.Card(g)
		cas[g] = certchecktest.NewRootWithKeyID(b, certchecktest.JLISName, int64(g+1), y(2015), y(2035), akid)
	}
	roots, err := certcheck.NewRoots(cas[0].Cert, cas[1].Cert)
	if err != nil {
		b.Fatal(err)
	}
	leaves := make([]*x509.Certificate, 64)
	for j := range leaves {
		i := rand.IntN(n)
		_, serial := whitelisttest.Card(i)
		leaves[j] = cas[i%2].Leaf(b, new(big.Int).SetBytes(serial), y(2024), y(2029), nil)
	}
	gate := policy.Policy{Accept: []string{policy.AssurancePINLess}}
	now := time.Date(2026, 12, 1, 18, 30, 0, 0, time.FixedZone("JST", 9*3600))

	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for j := range b.N {
		t0 := time.Now()
		cert := leaves[j%len(leaves)]
		if err := roots.Check(cert, now); err != nil {
			b.Fatal(err)
		}
		k, err := cardkey.ForCert(whitelisttest.Keyer, cert)
		if err != nil {
			b.Fatal(err)
		}
		revoked, err := store.Revoked(k)
		if err != nil {
			b.Fatal(err)
		}
		e, listed, err := store.Lookup(k)
		if err != nil {
			b.Fatal(err)
		}
		d, r := policy.Decide(gate, policy.Input{Now: now, Gate: "north-1", Zone: "A", Kind: event.KindEntry,
			Entry: e, Listed: listed, Revoked: revoked, Assurance: policy.AssurancePINLess})
		lat = append(lat, time.Since(t0))
		if d != event.Admit {
			b.Fatalf("generated card %d: %s", j, r)
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds())/1000, metric)
}
