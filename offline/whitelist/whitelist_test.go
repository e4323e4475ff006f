package whitelist_test

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/encoding/japanese"

	"github.com/mynagate/mynagate/offline/cardkey"
	"github.com/mynagate/mynagate/offline/whitelist"
)

var keyer = cardkey.NewSoftware(bytes.Repeat([]byte{7}, 32))

func open(t testing.TB) *whitelist.Store {
	t.Helper()
	s, err := whitelist.Open(filepath.Join(t.TempDir(), "whitelist.db"), whitelist.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func key(t testing.TB, akid, serial string) cardkey.Key {
	t.Helper()
	a, _ := hex.DecodeString(akid)
	s, _ := hex.DecodeString(serial)
	k, err := keyer.CardKey(a, s)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func importFile(t testing.TB, s *whitelist.Store, path string) whitelist.ImportStats {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := s.ImportCSV(f, keyer, nil)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

const akid = "1ac100f596a3bc8c4b3df195e32699249e9e308a"

func TestImportAndLookup(t *testing.T) {
	s := open(t)
	var seen []int
	f, _ := os.Open("testdata/small.csv")
	defer f.Close()
	st, err := s.ImportCSV(f, keyer, func(n int) { seen = append(seen, n) })
	if err != nil {
		t.Fatal(err)
	}
	if st.Rows != 4 || st.Version != 1 || s.Version() != 1 {
		t.Fatalf("stats %+v, version %d", st, s.Version())
	}
	if len(seen) == 0 || seen[len(seen)-1] != 4 {
		t.Fatalf("progress calls %v, want a final 4", seen)
	}
	jst := time.FixedZone("JST", 9*3600)
	tests := []struct {
		serial string
		want   whitelist.Entry
	}{
		{"0133C349", whitelist.Entry{ServiceID: "T-0001", Kind: "ticket",
			ValidFrom: time.Date(2026, 12, 1, 17, 0, 0, 0, jst), ValidUntil: time.Date(2026, 12, 1, 22, 0, 0, 0, jst),
			Zones: []string{"A", "B"}, Seat: "A-12-7", Group: "G-77"}},
		{"00000133C349", whitelist.Entry{ServiceID: "T-0001"}}, // leading zeros: same card
		{"0A0B0C0D0E", whitelist.Entry{ServiceID: "R-1001", Kind: "resident"}},
	}
	for _, tt := range tests {
		e, ok, err := s.Lookup(key(t, akid, tt.serial))
		if err != nil || !ok {
			t.Fatalf("Lookup(%s) = %v, %v", tt.serial, ok, err)
		}
		if tt.want.Kind == "" {
			if e.ServiceID != tt.want.ServiceID {
				t.Fatalf("Lookup(%s).ServiceID = %q", tt.serial, e.ServiceID)
			}
			continue
		}
		if !e.ValidFrom.Equal(tt.want.ValidFrom) || !e.ValidUntil.Equal(tt.want.ValidUntil) {
			t.Fatalf("Lookup(%s) window %v..%v", tt.serial, e.ValidFrom, e.ValidUntil)
		}
		e.ValidFrom, e.ValidUntil, tt.want.ValidFrom, tt.want.ValidUntil = time.Time{}, time.Time{}, time.Time{}, time.Time{}
		if !reflect.DeepEqual(e, tt.want) {
			t.Fatalf("Lookup(%s) = %+v, want %+v", tt.serial, e, tt.want)
		}
	}
	if _, ok, err := s.Lookup(key(t, akid, "FFFF")); ok || err != nil {
		t.Fatalf("unlisted card: ok=%v err=%v", ok, err)
	}
	stats, err := s.Stats()
	if err != nil || stats.Entries != 4 || stats.Version != 1 || stats.FileSize == 0 || stats.AppliedAt.IsZero() {
		t.Fatalf("Stats = %+v, %v", stats, err)
	}
}

const header = "issuer_key_id,serial,service_id,kind,valid_from,valid_until,zones,seat,group\n"

func TestImportRejectsBadRows(t *testing.T) {
	good := akid + ",0133C349,T-1,ticket,,,,,\n"
	tests := []struct {
		name, csv  string
		line       int
		column     string
		mentioning string
	}{
		{"empty file", "", 1, "", "empty file"},
		{"unknown column", strings.Replace(header, "seat", "sitz", 1) + good, 1, "", "sitz"},
		{"missing column", "issuer_key_id,serial\n", 1, "", "missing column"},
		{"bad hex akid", header + good + "xyz,01,T-2,ticket,,,,,\n", 3, "issuer_key_id", "not hex"},
		{"colon akid", header + "95:67,01,T-2,ticket,,,,,\n", 2, "issuer_key_id", "separators"},
		{"empty serial", header + akid + ",,T-2,ticket,,,,,\n", 2, "serial", "empty"},
		{"zero serial", header + akid + ",0000,T-2,ticket,,,,,\n", 2, "serial", "zero"},
		{"no service id", header + akid + ",02,,ticket,,,,,\n", 2, "service_id", "empty"},
		{"bad kind", header + akid + ",02,T-2,vip,,,,,\n", 2, "kind", "vip"},
		{"bad time", header + akid + ",02,T-2,ticket,2026-12-01 17:00,,,,\n", 2, "valid_from", "RFC 3339"},
		{"until before from", header + akid + ",02,T-2,ticket,2026-12-02T00:00:00Z,2026-12-01T00:00:00Z,,,\n", 2, "valid_until", "not after"},
		{"bad daily", strings.TrimSuffix(header, "\n") + ",daily_from,daily_until\n" + akid + ",02,T-2,staff,,,,,,8:5,17:00\n", 2, "daily_from", "HH:MM"},
		{"only daily_from", strings.TrimSuffix(header, "\n") + ",daily_from\n", 1, "", "together"},
		{"short row", header + akid + ",02,T-2\n", 2, "", "number of fields"},
		{"duplicate card", header + good + akid + ",000133C349,T-9,ticket,,,,,\n", 3, "", "line 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t)
			importFile(t, s, "testdata/small.csv")
			_, err := s.ImportCSV(strings.NewReader(tt.csv), keyer, nil)
			if err == nil {
				t.Fatal("import succeeded")
			}
			if !strings.Contains(err.Error(), tt.mentioning) || !strings.Contains(err.Error(), "nothing was applied") {
				t.Errorf("error %q does not mention %q and that nothing was applied", err, tt.mentioning)
			}
			var ie *whitelist.ImportError
			if tt.name != "duplicate card" {
				if !errors.As(err, &ie) || ie.Line != tt.line || ie.Column != tt.column {
					t.Fatalf("error %v: want line %d column %q", err, tt.line, tt.column)
				}
			}
			// The old list is untouched.
			if s.Version() != 1 {
				t.Fatalf("version moved to %d", s.Version())
			}
			if _, ok, _ := s.Lookup(key(t, akid, "06D18006")); !ok {
				t.Fatal("old list lost after a refused import")
			}
		})
	}
}

func TestImportReplacesAndOptionalColumns(t *testing.T) {
	s := open(t)
	importFile(t, s, "testdata/small.csv")
	csv := "\xEF\xBB\xBFserial,issuer_key_id,service_id,kind,valid_from,valid_until,zones,seat,group,daily_from,daily_until\n" +
		"0133C34A," + akid + ",T-0001,ticket,,, A ; ;B ,,,22:00,06:00\n"
	st, err := s.ImportCSV(strings.NewReader(csv), keyer, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.Version != 2 || st.Previous != 4 || st.Rows != 1 {
		t.Fatalf("stats %+v", st)
	}
	if _, ok, _ := s.Lookup(key(t, akid, "0133C349")); ok {
		t.Fatal("an import replaces the list; the old card is still listed")
	}
	e, ok, err := s.Lookup(key(t, akid, "0133C34A"))
	if err != nil || !ok {
		t.Fatal("new card not listed", err)
	}
	if want := (whitelist.Daily{From: 22 * 60, Until: 6 * 60}); e.Daily != want || !reflect.DeepEqual(e.Zones, []string{"A", "B"}) {
		t.Fatalf("entry %+v", e)
	}
}

// TestImportShiftJIS imports a file as Excel saves it in Japanese: the seat
// comes out as written.
func TestImportShiftJIS(t *testing.T) {
	s := open(t)
	const seat = "1階 Ａ列 12番 ﾛｰｼﾞｪ"
	csv, err := japanese.ShiftJIS.NewEncoder().String("serial,issuer_key_id,service_id,kind,valid_from,valid_until,zones,seat,group\n" +
		"0133C34A," + akid + ",T-0001,ticket,,,北," + seat + ",\n")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ImportCSV(strings.NewReader(csv), keyer, nil); err != nil {
		t.Fatal(err)
	}
	e, ok, err := s.Lookup(key(t, akid, "0133C34A"))
	if err != nil || !ok || e.Seat != seat || !reflect.DeepEqual(e.Zones, []string{"北"}) {
		t.Fatalf("entry %+v %v %v", e, ok, err)
	}
	utf16 := "\xff\xfes\x00"
	if _, err := s.ImportCSV(strings.NewReader(utf16), keyer, nil); err == nil || !strings.Contains(err.Error(), "UTF-16") {
		t.Fatalf("UTF-16 file: %v", err)
	}
}

func TestApply(t *testing.T) {
	s := open(t)
	k := func(i int) cardkey.Key { return key(t, akid, fmt.Sprintf("%08X", i+1)) }
	entry := func(id string) whitelist.Entry { return whitelist.Entry{ServiceID: id, Kind: whitelist.KindTicket} }
	if err := s.Apply(5, true, []whitelist.Record{{k(1), entry("T-1")}, {k(2), entry("T-2")}, {k(3), entry("T-3")}}, nil, []cardkey.Key{k(9)}, nil); err != nil {
		t.Fatal(err)
	}
	// Re-enrolment delta: T-2's renewed card gets a new key; the old one stays
	// until the hub deletes it.
	if err := s.Apply(6, false, []whitelist.Record{{k(4), entry("T-2")}}, []cardkey.Key{k(3), k(99)}, []cardkey.Key{k(1)}, []cardkey.Key{k(9)}); err != nil {
		t.Fatal(err)
	}
	for i, want := range map[int]bool{1: true, 2: true, 3: false, 4: true} {
		if _, ok, _ := s.Lookup(k(i)); ok != want {
			t.Errorf("card %d listed=%v, want %v", i, ok, want)
		}
	}
	for i, want := range map[int]bool{1: true, 9: false, 2: false} {
		if r, _ := s.Revoked(k(i)); r != want {
			t.Errorf("card %d revoked=%v, want %v", i, r, want)
		}
	}
	st, _ := s.Stats()
	if st.Entries != 3 || st.Revoked != 1 || st.Version != 6 {
		t.Fatalf("stats %+v", st)
	}

	tests := []struct {
		name     string
		version  uint64
		snapshot bool
		puts     []whitelist.Record
		deletes  []cardkey.Key
	}{
		{"same version", 6, false, []whitelist.Record{{k(7), entry("T-7")}}, nil},
		{"older version", 3, true, nil, nil},
		{"snapshot with deletes", 7, true, nil, []cardkey.Key{k(1)}},
		{"invalid entry", 7, false, []whitelist.Record{{k(7), entry("T-7")}, {k(8), whitelist.Entry{ServiceID: "T-8", Kind: "vip"}}}, nil},
		{"duplicate in snapshot", 7, true, []whitelist.Record{{k(7), entry("T-7")}, {k(7), entry("T-8")}}, nil},
	}
	for _, tt := range tests {
		if err := s.Apply(tt.version, tt.snapshot, tt.puts, tt.deletes, nil, nil); err == nil {
			t.Errorf("%s: Apply succeeded", tt.name)
		}
		if _, ok, _ := s.Lookup(k(7)); ok || s.Version() != 6 {
			t.Fatalf("%s: a refused Apply changed the store", tt.name)
		}
	}

	// A snapshot replaces both the list and the revocation set.
	if err := s.Apply(7, true, []whitelist.Record{{k(7), entry("T-7")}}, nil, nil, nil); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.Lookup(k(1)); ok {
		t.Fatal("snapshot kept an old entry")
	}
	if r, _ := s.Revoked(k(1)); r {
		t.Fatal("snapshot kept an old revocation")
	}
	if err := s.AddRevocations(k(7)); err != nil {
		t.Fatal(err)
	}
	if r, _ := s.Revoked(k(7)); !r || s.Version() != 7 {
		t.Fatalf("local revocation: revoked=%v version=%d", r, s.Version())
	}
}

func TestReopenAndLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "w.db")
	s, err := whitelist.Open(path, whitelist.Options{})
	if err != nil {
		t.Fatal(err)
	}
	importFile(t, s, "testdata/small.csv")
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("file mode %v, want 0600", fi.Mode().Perm())
	}
	_, err = whitelist.Open(path, whitelist.Options{Timeout: 50 * time.Millisecond, ReadOnly: true})
	if err == nil || !strings.Contains(err.Error(), "another gateagent holds it") {
		t.Fatalf("second open while locked: %v", err)
	}
	s.Close()
	r, err := whitelist.Open(path, whitelist.Options{ReadOnly: true, Preload: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Version() != 1 {
		t.Fatalf("version after reopen %d", r.Version())
	}
	if _, ok, _ := r.Lookup(key(t, akid, "0133C349")); !ok {
		t.Fatal("entry lost after reopen")
	}
	if _, err := whitelist.Open(filepath.Join(t.TempDir(), "none.db"), whitelist.Options{ReadOnly: true}); err == nil || !strings.Contains(err.Error(), "import") {
		t.Fatalf("read-only open of a missing file: %v", err)
	}
}

// TestStolenDatabase builds a list from random identities and greps the bbolt
// file for every serial and issuer key id, in hex (both cases) and raw.
func TestStolenDatabase(t *testing.T) {
	s := open(t)
	var csv strings.Builder
	csv.WriteString(header)
	var secrets [][]byte
	for i := range 200 {
		a, sn := make([]byte, 20), make([]byte, 16)
		rand.Read(a)
		rand.Read(sn)
		sn[0] |= 0x10 // no leading zero: the file form is the raw form
		secrets = append(secrets, a, sn)
		fmt.Fprintf(&csv, "%x,%X,T-%d,ticket,,,,,\n", a, sn, i)
	}
	if _, err := s.ImportCSV(strings.NewReader(csv.String()), keyer, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Apply(2, false, nil, nil, []cardkey.Key{key(t, akid, "0133C349")}, nil); err != nil {
		t.Fatal(err)
	}
	s.Close()
	db, err := os.ReadFile(s.Path())
	if err != nil {
		t.Fatal(err)
	}
	lower := bytes.ToLower(db)
	for _, sec := range secrets {
		for _, needle := range [][]byte{sec, []byte(hex.EncodeToString(sec))} {
			if bytes.Contains(db, needle) || bytes.Contains(lower, bytes.ToLower(needle)) {
				t.Fatalf("the database file contains %x in clear", sec)
			}
		}
	}
	for _, needle := range []string{akid, "0133C349", "0133c349"} {
		if bytes.Contains(db, []byte(needle)) {
			t.Fatalf("the database file contains %s", needle)
		}
	}
}
