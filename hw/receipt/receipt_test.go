package receipt_test

import (
	"bytes"
	"encoding/hex"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mynagate/mynagate/hw/receipt"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// at is 2026-11-25 09:30 UTC, 18:30 in Japan, a Wednesday.
var at = time.Date(2026, 11, 25, 9, 30, 0, 0, time.UTC)

func TestGolden(t *testing.T) {
	tests := []struct {
		name string
		r    interface{ ESCPOS() ([]byte, error) }
	}{
		{"seat", receipt.Seat{Event: "ウインターライブ2026〜冬〜", At: at, Gate: "東ゲート3", Seat: "1階 A列 12番", TicketRef: "T-2026-000123"}},
		{"shelter", receipt.Shelter{Shelter: "小木中学校 体育館", At: at, CheckinNo: "0123"}},
		{"shelter-reconcile", receipt.Shelter{Shelter: "小木中学校 体育館", At: at, CheckinNo: "0124", Reconcile: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.r.ESCPOS()
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", tt.name+".golden")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v; run go test -update to create it", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("bytes differ from %s (go test -update rewrites it after review)\n got:\n%s\nwant:\n%s", path, hex.Dump(got), hex.Dump(want))
			}
		})
	}
}

func TestKanjiInGolden(t *testing.T) {
	// Independent of the golden file: the seat label, the JST date and the wave
	// dash must be there in Shift_JIS.
	b, err := receipt.Seat{Event: "ライブ〜冬〜", At: at, Gate: "G", Seat: "A-1", TicketRef: "T1"}.ESCPOS()
	if err != nil {
		t.Fatal(err)
	}
	for name, sjis := range map[string]string{
		"お座席":                  "82a88dc090c8",
		"18:30 JST":            "31383a3330",
		"(水)":                  "28908529",
		"〜 as FULLWIDTH TILDE": "8160",
	} {
		if !strings.Contains(hex.EncodeToString(b), sjis) {
			t.Errorf("receipt lacks %s (%s)", name, sjis)
		}
	}
}

func TestInvalid(t *testing.T) {
	ok := receipt.Seat{Event: "E", At: at, Gate: "G", Seat: "S", TicketRef: "T1"}
	tests := []struct {
		name string
		r    interface{ ESCPOS() ([]byte, error) }
		want string
	}{
		{"no event", func() receipt.Seat { s := ok; s.Event = ""; return s }(), "without event"},
		{"no seat", func() receipt.Seat { s := ok; s.Seat = ""; return s }(), "without seat"},
		{"no time", func() receipt.Seat { s := ok; s.At = time.Time{}; return s }(), "without a time"},
		{"no ref", func() receipt.Seat { s := ok; s.TicketRef = ""; return s }(), "ticket reference"},
		{"ref with space", func() receipt.Seat { s := ok; s.TicketRef = "T 1"; return s }(), "printable ASCII"},
		{"ref too long", func() receipt.Seat { s := ok; s.TicketRef = strings.Repeat("9", 65); return s }(), "1 to 64"},
		{"shelter without number", receipt.Shelter{Shelter: "S", At: at}, "without checkin_no"},
		{"shelter without name", receipt.Shelter{At: at, CheckinNo: "1"}, "without shelter"},
	}
	for _, tt := range tests {
		if _, err := tt.r.ESCPOS(); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error = %v, want %q", tt.name, err, tt.want)
		}
	}
}
