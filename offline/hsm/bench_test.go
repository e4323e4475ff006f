package hsm_test

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/mynagate/mynagate/offline/hsm"
	"github.com/mynagate/mynagate/offline/hsm/hsmtest"
	"github.com/mynagate/mynagate/offline/whitelist"
	"github.com/mynagate/mynagate/offline/whitelist/whitelisttest"
)

// BenchmarkCardKeyerSoftHSM measures one card key computed in a SoftHSM2
// token (a PKCS#11 HMAC round trip), the HSM's share of the decision path and
// of an import.
func BenchmarkCardKeyerSoftHSM(b *testing.B) {
	cfg := hsmtest.NewToken(b, "bench")
	h, err := hsm.Open(cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	if err := h.ImportCardKeySecret("ck", bytes.Repeat([]byte{1}, 32)); err != nil {
		b.Fatal(err)
	}
	k, err := h.CardKeyer("ck")
	if err != nil {
		b.Fatal(err)
	}
	akid, serial := bytes.Repeat([]byte{0x1a}, 20), []byte{0x01, 0x33, 0xC3, 0x49}
	b.ResetTimer()
	for range b.N {
		if _, err := k.CardKey(akid, serial); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkImport1MSoftHSM imports one million rows keyed in a SoftHSM2 token
// (run with -benchtime=1x; needs MYNAGATE_BENCH_LARGE=1) and reports seconds
// per import as whitelist_import_1m_softhsm_s.
func BenchmarkImport1MSoftHSM(b *testing.B) {
	if os.Getenv("MYNAGATE_BENCH_LARGE") != "1" {
		b.Skip("set MYNAGATE_BENCH_LARGE=1 to run benchmarks over millions of entries")
	}
	cfg := hsmtest.NewToken(b, "bench")
	cfg.MaxSessions = runtime.GOMAXPROCS(0) + 1
	h, err := hsm.Open(cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	if err := h.InitCardKeySecret("ck"); err != nil {
		b.Fatal(err)
	}
	k, err := h.CardKeyer("ck")
	if err != nil {
		b.Fatal(err)
	}
	csvPath := filepath.Join(b.TempDir(), "list.csv")
	f, err := os.Create(csvPath)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.Copy(f, whitelisttest.CSV(1_000_000)); err != nil {
		b.Fatal(err)
	}
	f.Close()
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		s, err := whitelist.Open(filepath.Join(b.TempDir(), "w.db"), whitelist.Options{})
		if err != nil {
			b.Fatal(err)
		}
		csv, err := os.Open(csvPath)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if _, err := s.ImportCSV(csv, k, nil); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		csv.Close()
		s.Close()
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "whitelist_import_1m_softhsm_s/s")
}
