package crl_test

import (
	"math/big"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/mynagate/mynagate/internal/taptest"
	"github.com/mynagate/mynagate/offline/crl"
	"github.com/mynagate/mynagate/offline/hsm"
	"github.com/mynagate/mynagate/offline/hsm/hsmtest"
	"github.com/mynagate/mynagate/offline/whitelist"
	"github.com/mynagate/mynagate/vcard/pki"
)

// BenchmarkCRLImport100k imports a 100,000-entry CRL on a gate as
// `gateagent whitelist revoke --crl` does: parse, check the signature against
// the pinned root, key every serial in a SoftHSM2 token, apply to the bbolt
// store. It reports seconds per import as crl_import_100k_s (run with
// -benchtime=1x; scripts/bench does).
func BenchmarkCRLImport100k(b *testing.B) {
	pkiDir := taptest.PKI(b)
	serials := make([]*big.Int, 100_000)
	for i := range serials {
		// 63-bit serials like J-LIS's, distinct.
		serials[i] = new(big.Int).SetUint64(uint64(i)*0x9E3779B97F4A7C15>>1 | 1<<62)
	}
	der, err := pki.IssueCRL(pkiDir, pki.CRLRequest{Serials: serials})
	if err != nil {
		b.Fatal(err)
	}
	roots := roots(b)
	cfg := hsmtest.NewToken(b, "crl-bench")
	cfg.MaxSessions = runtime.GOMAXPROCS(0) + 1
	h, err := hsm.Open(cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	if err := h.InitCardKeySecret("ck"); err != nil {
		b.Fatal(err)
	}
	keyer, err := h.CardKeyer("ck")
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		s, err := whitelist.Open(filepath.Join(b.TempDir(), "w.db"), whitelist.Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		l, err := crl.Check(der, roots)
		if err != nil {
			b.Fatal(err)
		}
		keys, err := l.Keys(keyer)
		if err != nil {
			b.Fatal(err)
		}
		applied, err := s.ApplyCRL(l.Info, keys)
		if err != nil || applied.Added != len(serials) {
			b.Fatalf("applied %+v, %v", applied, err)
		}
		b.StopTimer()
		s.Close()
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "crl_import_100k_s/s")
}
