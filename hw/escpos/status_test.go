package escpos_test

import (
	"testing"

	"github.com/mynagate/mynagate/hw/escpos"
)

func TestParseStatus(t *testing.T) {
	tests := []struct {
		name    string
		answers []byte
		want    escpos.Status
		ready   bool
		text    string
	}{
		{"ready", []byte{0x12, 0x12, 0x12, 0x12}, escpos.Status{}, true, "ready"},
		{"drawer and feed bits ignored", []byte{0x16, 0x52, 0x12, 0x12}, escpos.Status{}, true, "ready"},
		{"paper out", []byte{0x1a, 0x72, 0x12, 0x72}, escpos.Status{Offline: true, PaperOut: true}, false, "paper out: load a new roll"},
		{"cover open", []byte{0x1a, 0x16, 0x12, 0x12}, escpos.Status{Offline: true, CoverOpen: true}, false, "cover open: close the printer cover"},
		{"near end prints", []byte{0x12, 0x12, 0x12, 0x1e}, escpos.Status{PaperNearEnd: true}, true, "paper near end: prepare a new roll"},
		{"cutter", []byte{0x1a, 0x52, 0x1a, 0x12}, escpos.Status{Offline: true, CutterError: true}, false, "cutter error: open the cover, remove jammed paper"},
		{"offline alone", []byte{0x1a, 0x12, 0x12, 0x12}, escpos.Status{Offline: true}, false, "offline: check the printer's power and error lamp"},
		{"head hot", []byte{0x1a, 0x52, 0x52, 0x12}, escpos.Status{Offline: true, AutoRecoverable: true}, false, "temporary error (head temperature): wait a moment"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := escpos.ParseStatus(tt.answers)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want || got.Ready() != tt.ready || got.String() != tt.text {
				t.Errorf("ParseStatus(% x) = %+v ready=%v %q\nwant %+v ready=%v %q", tt.answers, got, got.Ready(), got, tt.want, tt.ready, tt.text)
			}
		})
	}
}

func TestParseStatusRejects(t *testing.T) {
	for _, answers := range [][]byte{
		nil,
		{0x12, 0x12, 0x12},
		{0x12, 0x12, 0x12, 0x12, 0x12},
		{0x00, 0x12, 0x12, 0x12}, // fixed bits missing
		{0x12, 0x12, 0x12, 0x93}, // bit 7 set
		{0x12, 0x12, 0x12, 0x13}, // bit 0 set
	} {
		if s, err := escpos.ParseStatus(answers); err == nil {
			t.Errorf("ParseStatus(% x) = %+v, want an error", answers, s)
		}
	}
}

func FuzzParseStatus(f *testing.F) {
	f.Add([]byte{0x12, 0x12, 0x12, 0x12})
	f.Add([]byte{0x1a, 0x72, 0x12, 0x72})
	f.Add([]byte{0xff, 0x00})
	f.Fuzz(func(t *testing.T, answers []byte) {
		s, err := escpos.ParseStatus(answers)
		if err != nil {
			if s != (escpos.Status{}) {
				t.Errorf("error with a non-zero status %+v", s)
			}
			return
		}
		if len(answers) != 4 {
			t.Fatalf("accepted %d bytes", len(answers))
		}
		for _, b := range answers {
			if b&0x93 != 0x12 {
				t.Fatalf("accepted answer %#02x without the fixed bits", b)
			}
		}
		blocking := len(s.Problems())
		if s.PaperNearEnd {
			blocking--
		}
		if s.Ready() == (blocking > 0) {
			t.Errorf("Ready()=%v contradicts Problems() %q", s.Ready(), s.Problems())
		}
	})
}
