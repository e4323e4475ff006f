package whitelist

import (
	"bytes"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/mynagate/mynagate/offline/cardkey"
)

// FuzzReadCSV feeds arbitrary bytes to the import parser: it must never panic,
// and every row it accepts must encode to a value that decodes to itself.
func FuzzReadCSV(f *testing.F) {
	small, err := os.ReadFile("testdata/small.csv")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(small)
	f.Add([]byte("issuer_key_id,serial,service_id,kind,valid_from,valid_until,zones,seat,group,daily_from,daily_until\n01,02,T,staff,,,a;b,,,22:00,24:00\n"))
	f.Add([]byte("\xEF\xBB\xBFissuer_key_id,serial\n\"x"))
	k := cardkey.NewSoftware(bytes.Repeat([]byte{1}, 32))
	f.Fuzz(func(t *testing.T, b []byte) {
		recs, err := readCSV(bytes.NewReader(b), k, nil)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "whitelist: import: ") {
				t.Fatalf("error without the package prefix: %v", err)
			}
			return
		}
		for _, r := range recs {
			e, err := decodeEntry(r.val)
			if err != nil {
				t.Fatalf("accepted row at line %d does not decode: %v", r.line, err)
			}
			if !reflect.DeepEqual(encodeEntry(nil, e), r.val) {
				t.Fatalf("line %d: value does not round-trip", r.line)
			}
		}
	})
}

// FuzzDecodeEntry checks that a corrupt stored value is an error, never a panic.
func FuzzDecodeEntry(f *testing.F) {
	f.Add(encodeEntry(nil, Entry{ServiceID: "T-1", Kind: KindTicket, Zones: []string{"A"}, Daily: Daily{From: 60, Until: 120}}))
	f.Add([]byte{1, 1, 7, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := decodeEntry(b)
		if err != nil {
			return
		}
		again, err := decodeEntry(encodeEntry(nil, e))
		if err != nil || !reflect.DeepEqual(again, e) {
			t.Fatalf("decoded %+v does not survive re-encoding: %+v, %v", e, again, err)
		}
	})
}
