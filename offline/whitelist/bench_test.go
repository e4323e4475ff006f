package whitelist_test

import (
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/mynagate/mynagate/offline/cardkey"
	"github.com/mynagate/mynagate/offline/whitelist"
	"github.com/mynagate/mynagate/offline/whitelist/whitelisttest"
)

// large reports whether the long benchmarks (millions of entries) may run;
// they are opt-in so a casual -bench . stays short on a shared machine.
func large(b *testing.B) {
	if os.Getenv("MYNAGATE_BENCH_LARGE") != "1" {
		b.Skip("set MYNAGATE_BENCH_LARGE=1 to run benchmarks over millions of entries")
	}
}

// BenchmarkLookup measures Lookup of listed cards in a random order at several
// list sizes and reports the p99 latency as whitelist_lookup_us_p99_{10k,1m,5m}
// (metric units are "name/unit", the form scripts/bench turns into rows). The 1M and 5M stores are
// built once and cached (whitelisttest.CachedStore), and opened with Preload
// as the daemon opens its list.
func BenchmarkLookup(b *testing.B) {
	for _, size := range []struct {
		name, metric string
		n            int
		large        bool
	}{
		{"entries=10k", "whitelist_lookup_us_p99_10k/µs", 10_000, false},
		{"entries=1M", "whitelist_lookup_us_p99_1m/µs", 1_000_000, true},
		{"entries=5M", "whitelist_lookup_us_p99_5m/µs", 5_000_000, true},
	} {
		b.Run(size.name, func(b *testing.B) {
			if size.large {
				large(b)
			}
			s, err := whitelist.Open(whitelisttest.CachedStore(b, size.n), whitelist.Options{ReadOnly: true, Preload: true})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			keys := make([]cardkey.Key, 50_000)
			for i := range keys {
				keys[i] = whitelisttest.Key(rand.IntN(size.n))
			}
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := range b.N {
				t0 := time.Now()
				_, ok, err := s.Lookup(keys[i%len(keys)])
				lat = append(lat, time.Since(t0))
				if err != nil || !ok {
					b.Fatalf("lookup: ok=%v err=%v", ok, err)
				}
			}
			b.StopTimer()
			b.ReportMetric(p99(lat), size.metric)
		})
	}
}

// BenchmarkImport1M imports one million rows into a fresh store per iteration
// (run with -benchtime=1x) and reports whitelist_import_1m_s,
// whitelist_bytes_per_entry (file size on disk) and
// whitelist_data_bytes_per_entry (without bbolt's growth reserve).
func BenchmarkImport1M(b *testing.B) {
	large(b)
	const n = 1_000_000
	// The CSV comes from a file, as an operator's import does, generated
	// before the clock starts.
	csvPath := filepath.Join(b.TempDir(), "list.csv")
	f, err := os.Create(csvPath)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.Copy(f, whitelisttest.CSV(n)); err != nil {
		b.Fatal(err)
	}
	f.Close()
	var perEntry, dataPerEntry float64
	for range b.N {
		b.StopTimer()
		path := filepath.Join(b.TempDir(), "w.db")
		s, err := whitelist.Open(path, whitelist.Options{})
		if err != nil {
			b.Fatal(err)
		}
		csv, err := os.Open(csvPath)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if _, err := s.ImportCSV(csv, whitelisttest.Keyer, nil); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		csv.Close()
		st, err := s.Stats()
		if err != nil {
			b.Fatal(err)
		}
		perEntry = st.BytesPerEntry()
		dataPerEntry = float64(st.DataSize) / float64(st.Entries)
		s.Close()
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "whitelist_import_1m_s/s")
	b.ReportMetric(perEntry, "whitelist_bytes_per_entry/bytes")
	b.ReportMetric(dataPerEntry, "whitelist_data_bytes_per_entry/bytes")
}

// p99 returns the 99th percentile of lat in microseconds.
func p99(lat []time.Duration) float64 {
	if len(lat) == 0 {
		return 0
	}
	slices.Sort(lat)
	return float64(lat[len(lat)*99/100].Nanoseconds()) / 1000
}

// BenchmarkApplySnapshot1M applies a one-million-record snapshot to a fresh
// store in one transaction (DESIGN.md §7 snapshot_apply_1m_s, without the
// signature check, which is the sync package's). Run with -benchtime=1x.
func BenchmarkApplySnapshot1M(b *testing.B) {
	large(b)
	recs := whitelisttest.Records(0, 1_000_000)
	for i := range b.N {
		b.StopTimer()
		s, err := whitelist.Open(filepath.Join(b.TempDir(), "w.db"), whitelist.Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if err := s.Apply(uint64(i+1), true, recs, nil, nil, nil); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		s.Close()
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "snapshot_apply_1m_s/s")
}

// BenchmarkApplyDelta100k applies a delta of 100 000 changes (50k new cards,
// 40k changed entries, 5k deletes, 5k revocations) to a copy of the 1M store
// (DESIGN.md §7 delta_apply_100k_s, without the signature check). Run with
// -benchtime=1x.
func BenchmarkApplyDelta100k(b *testing.B) {
	large(b)
	src := whitelisttest.CachedStore(b, 1_000_000)
	puts := append(whitelisttest.Records(1_000_000, 50_000), whitelisttest.Records(100_000, 40_000)...)
	var deletes, revoke []cardkey.Key
	for i := range 5_000 {
		deletes = append(deletes, whitelisttest.Key(200_000+i))
		revoke = append(revoke, whitelisttest.Key(300_000+i))
	}
	for range b.N {
		b.StopTimer()
		path := filepath.Join(b.TempDir(), "w.db")
		copyFile(b, src, path)
		s, err := whitelist.Open(path, whitelist.Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if err := s.Apply(s.Version()+1, false, puts, deletes, revoke, nil); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		s.Close()
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "delta_apply_100k_s/s")
}

func copyFile(b *testing.B, from, to string) {
	in, err := os.Open(from)
	if err != nil {
		b.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		b.Fatal(err)
	}
	if err := out.Close(); err != nil {
		b.Fatal(err)
	}
}
