package escpos_test

import (
	"encoding/hex"
	"strings"
	"testing"

	"github.com/mynagate/mynagate/hw/escpos"
)

// prologue is what New writes: ESC @, ESC t 1, FS C 1, FS &.
const prologue = "1b40" + "1b7401" + "1c4301" + "1c26"

// epilogue is what Bytes appends: FS . (Kanji mode off).
const epilogue = "1c2e"

func TestCommands(t *testing.T) {
	tests := []struct {
		name string
		doc  func(d *escpos.Doc)
		want string // hex between prologue and epilogue
	}{
		{"ascii", func(d *escpos.Doc) { d.Line("Gate 3") }, "476174652033" + "0a"},
		{"kanji", func(d *escpos.Doc) { d.Text("席番") }, "90c894d4"},
		{"half-width kana", func(d *escpos.Doc) { d.Text("ｱｲ") }, "b1b2"},
		{"wave dash", func(d *escpos.Doc) { d.Text("18:00〜") }, "31383a3030" + "8160"},
		{"yen sign", func(d *escpos.Doc) { d.Text("¥500") }, "818f" + "353030"},
		{"unencodable", func(d *escpos.Doc) { d.Text("a😀b") }, "613f62"},
		{"controls dropped", func(d *escpos.Doc) { d.Text("a\x1b@\x10\x04\x01\u0085b\nc") }, "61" + "40" + "62" + "0a" + "63"},
		{"align", func(d *escpos.Doc) { d.Align(escpos.Center) }, "1b6101"},
		{"bold", func(d *escpos.Doc) { d.Bold(true).Bold(false) }, "1b4501" + "1b4500"},
		{"size", func(d *escpos.Doc) { d.Size(2, 3) }, "1d2112"},
		{"feed", func(d *escpos.Doc) { d.Feed(4) }, "1b6404"},
		{"cut", func(d *escpos.Doc) { d.Cut() }, "1d564203"},
		{"qr", func(d *escpos.Doc) { d.QR("T-1", 6, escpos.LevelM) },
			"1d286b0400314132" + "00" +
				"1d286b0300314306" +
				"1d286b0300314531" +
				"1d286b0600315030" + "542d31" +
				"1d286b0300315130"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := escpos.New()
			tt.doc(d)
			b, err := d.Bytes()
			if err != nil {
				t.Fatal(err)
			}
			got := hex.EncodeToString(b)
			if want := prologue + tt.want + epilogue; got != want {
				t.Errorf("bytes\n got %s\nwant %s", got, want)
			}
		})
	}
}

func TestQRLength(t *testing.T) {
	data := strings.Repeat("9", 300) // pL pH = 303 = 0x012f
	b, err := escpos.New().QR(data, 4, escpos.LevelL).Bytes()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(hex.EncodeToString(b), "1d286b2f01315030") {
		t.Error("store command length not little-endian 303")
	}
}

func TestErrorsStick(t *testing.T) {
	tests := []struct {
		name string
		doc  func(d *escpos.Doc)
		want string
	}{
		{"size", func(d *escpos.Doc) { d.Size(9, 1) }, "character size"},
		{"feed", func(d *escpos.Doc) { d.Feed(300) }, "feed"},
		{"align", func(d *escpos.Doc) { d.Align(7) }, "justification"},
		{"qr empty", func(d *escpos.Doc) { d.QR("", 4, escpos.LevelM) }, "empty"},
		{"qr long", func(d *escpos.Doc) { d.QR(strings.Repeat("x", 7090), 4, escpos.LevelM) }, "exceeds"},
		{"qr module", func(d *escpos.Doc) { d.QR("x", 17, escpos.LevelM) }, "module"},
		{"qr level", func(d *escpos.Doc) { d.QR("x", 4, 3) }, "level"},
		{"first wins", func(d *escpos.Doc) { d.Size(0, 0).Feed(-1) }, "character size"},
	}
	for _, tt := range tests {
		d := escpos.New()
		tt.doc(d)
		d.Line("after the error")
		if _, err := d.Bytes(); err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "escpos: ") {
			t.Errorf("%s: Bytes error = %v, want one containing %q", tt.name, err, tt.want)
		}
	}
}
