// Package whitelisttest generates whitelists of any size for tests and
// benchmarks: a deterministic CSV (row i is always the same card) and a cached
// on-disk store built from it through the real import path.
package whitelisttest

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/mynagate/mynagate/offline/cardkey"
	"github.com/mynagate/mynagate/offline/whitelist"
)

// Keyer is the software keyer every generated list is keyed with.
var Keyer = cardkey.NewSoftware(bytes.Repeat([]byte{0x4D}, 32))

// Two issuer key identifiers, as two J-LIS root generations would give.
var issuers = [2][]byte{
	{0x1a, 0xc1, 0x00, 0xf5, 0x96, 0xa3, 0xbc, 0x8c, 0x4b, 0x3d, 0xf1, 0x95, 0xe3, 0x26, 0x99, 0x24, 0x9e, 0x9e, 0x30, 0x8a},
	{0x95, 0x67, 0x95, 0x1b, 0x5c, 0xa7, 0x0d, 0x84, 0xa0, 0xff, 0xf1, 0xd8, 0x5a, 0x87, 0xf1, 0xaa, 0xb1, 0x34, 0x03, 0x85},
}

// Card returns the issuer key identifier and serial of generated card i.
func Card(i int) (issuerKeyID, serial []byte) {
	s := binary.BigEndian.AppendUint64([]byte{0x4A}, uint64(i))
	return issuers[i%2], s
}

// Key returns the card key of generated card i.
func Key(i int) cardkey.Key {
	a, s := Card(i)
	k, err := Keyer.CardKey(a, s)
	if err != nil {
		panic(err)
	}
	return k
}

// Records returns the records of cards from..from+n-1, with the same entries
// as CSV gives them, as a list snapshot or delta carries them.
func Records(from, n int) []whitelist.Record {
	jst := time.FixedZone("JST", 9*3600)
	vf, vu := time.Date(2026, 12, 1, 17, 0, 0, 0, jst), time.Date(2026, 12, 1, 22, 0, 0, 0, jst)
	zones := []string{"A", "B"}
	recs := make([]whitelist.Record, n)
	for j := range recs {
		i := from + j
		e := whitelist.Entry{ServiceID: fmt.Sprintf("T-%08d", i), Kind: whitelist.KindTicket, ValidFrom: vf, ValidUntil: vu,
			Zones: zones, Seat: fmt.Sprintf("%c-%d-%d", 'A'+i%6, i%40, i%30)}
		if i%4 == 0 {
			e.Group = "G-" + strconv.Itoa(i/4)
		}
		recs[j] = whitelist.Record{Key: Key(i), Entry: e}
	}
	return recs
}

// CSV returns a reader producing the import CSV of cards 0..n-1: tickets for
// an evening event in zones A and B, every fourth in a companion group.
func CSV(n int) io.Reader {
	pr, pw := io.Pipe()
	go func() {
		var b []byte
		b = append(b, "issuer_key_id,serial,service_id,kind,valid_from,valid_until,zones,seat,group\n"...)
		for i := range n {
			a, s := Card(i)
			b = fmt.Appendf(b, "%x,%X,T-%08d,ticket,2026-12-01T17:00:00+09:00,2026-12-01T22:00:00+09:00,A;B,%c-%d-%d,", a, s, i, 'A'+i%6, i%40, i%30)
			if i%4 == 0 {
				b = append(b, "G-"...)
				b = strconv.AppendInt(b, int64(i/4), 10)
			}
			b = append(b, '\n')
			if len(b) > 1<<16 {
				if _, err := pw.Write(b); err != nil {
					return
				}
				b = b[:0]
			}
		}
		pw.Write(b)
		pw.Close()
	}()
	return pr
}

// CachedStore returns the path of a store holding cards 0..n-1, building it
// on first use under the system temp directory (or $MYNAGATE_BENCH_DIR) and
// reusing it afterwards, since building millions of entries takes a while.
func CachedStore(tb testing.TB, n int) string {
	tb.Helper()
	dir := os.Getenv("MYNAGATE_BENCH_DIR")
	if dir == "" {
		dir = os.TempDir()
	}
	path := filepath.Join(dir, fmt.Sprintf("mynagate-bench-whitelist-v1-%d.db", n))
	if _, err := os.Stat(path); err == nil {
		return path
	}
	tmp := fmt.Sprintf("%s.%d.tmp", path, os.Getpid())
	defer os.Remove(tmp)
	s, err := whitelist.Open(tmp, whitelist.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := s.ImportCSV(CSV(n), Keyer, nil); err != nil {
		s.Close()
		tb.Fatal(err)
	}
	if err := s.Close(); err != nil {
		tb.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		tb.Fatal(err)
	}
	return path
}
