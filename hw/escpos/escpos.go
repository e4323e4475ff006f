// Package escpos writes the ESC/POS commands of Epson-compatible receipt printers,
// with Japanese text in Shift_JIS through the Kanji commands (FS &, FS C) and QR
// codes through GS ( k, and parses the printer's real-time status (DLE EOT n).
//
// It produces bytes only; package printer carries them to a device.
package escpos

import (
	"bytes"
	"fmt"

	"golang.org/x/text/encoding/japanese"
)

// Align is a line justification.
type Align byte

// Justifications for ESC a.
const (
	Left   Align = 0
	Center Align = 1
	Right  Align = 2
)

// ErrorLevel is a QR code error correction level.
type ErrorLevel byte

// QR error correction levels for GS ( k fn 169: L recovers 7 %, M 15 %, Q 25 %, H 30 %.
const (
	LevelL ErrorLevel = 48
	LevelM ErrorLevel = 49
	LevelQ ErrorLevel = 50
	LevelH ErrorLevel = 51
)

// maxQR is the most data GS ( k fn 180 accepts in one store command.
const maxQR = 7089

// Doc accumulates the commands of one receipt. The first error sticks and is
// returned by Bytes, so a template can chain calls and check once. The zero value
// is not usable; create it with New.
type Doc struct {
	buf bytes.Buffer
	err error
}

// New starts a document: ESC @ (initialise), ESC t 1 (Katakana page for half-width
// kana), FS C 1 (Kanji code system Shift_JIS) and FS & (Kanji mode on), so that Text
// can mix ASCII and Japanese.
func New() *Doc {
	d := &Doc{}
	d.raw(0x1b, '@')
	d.raw(0x1b, 't', 1)
	d.raw(0x1c, 'C', 1)
	d.raw(0x1c, '&')
	return d
}

func (d *Doc) raw(b ...byte) *Doc {
	d.buf.Write(b)
	return d
}

// jisVariants maps the JIS X 0208 code points that Unicode text from macOS, Linux
// and the web commonly uses to the Windows-31J code points the encoder and the
// printers know; without it "18:00〜" would print as "18:00?".
var jisVariants = map[rune]rune{
	'\u301c': '\uff5e', // WAVE DASH -> FULLWIDTH TILDE
	'\u2212': '\uff0d', // MINUS SIGN -> FULLWIDTH HYPHEN-MINUS
	'\u2014': '\u2015', // EM DASH -> HORIZONTAL BAR
	'\u2016': '\u2225', // DOUBLE VERTICAL LINE -> PARALLEL TO
	'\u00a5': '\uffe5', // YEN SIGN -> FULLWIDTH YEN SIGN
	'\u00a2': '\uffe0', // CENT SIGN -> FULLWIDTH CENT SIGN
	'\u00a3': '\uffe1', // POUND SIGN -> FULLWIDTH POUND SIGN
	'\u00ac': '\uffe2', // NOT SIGN -> FULLWIDTH NOT SIGN
}

// Text writes s in Shift_JIS (Windows-31J, as Japanese ESC/POS printers use).
// Runes it cannot represent (emoji, for example) are printed as '?'; control
// characters other than newline are dropped so that outside text cannot inject
// printer commands.
func (d *Doc) Text(s string) *Doc {
	enc := japanese.ShiftJIS.NewEncoder()
	for _, r := range s {
		if v, ok := jisVariants[r]; ok {
			r = v
		}
		switch {
		case r == '\n':
			d.buf.WriteByte('\n')
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
		case r < 0x80:
			d.buf.WriteByte(byte(r))
		default:
			b, err := enc.Bytes([]byte(string(r)))
			if err != nil {
				d.buf.WriteByte('?')
				continue
			}
			d.buf.Write(b)
		}
	}
	return d
}

// Line writes s and a line feed.
func (d *Doc) Line(s string) *Doc { return d.Text(s).raw('\n') }

// Align sets the justification of the following lines (ESC a n).
func (d *Doc) Align(a Align) *Doc {
	if a > Right {
		d.fail(fmt.Errorf("escpos: justification %d is not left, center or right", a))
		return d
	}
	return d.raw(0x1b, 'a', byte(a))
}

// Bold turns emphasis on or off (ESC E n).
func (d *Doc) Bold(on bool) *Doc { return d.raw(0x1b, 'E', boolByte(on)) }

// Size sets the character magnification, 1 to 8 times in each direction (GS ! n);
// it applies to Kanji as well.
func (d *Doc) Size(width, height int) *Doc {
	if width < 1 || width > 8 || height < 1 || height > 8 {
		d.fail(fmt.Errorf("escpos: character size %dx%d out of range; use 1 to 8", width, height))
		return d
	}
	return d.raw(0x1d, '!', byte((width-1)<<4|(height-1)))
}

// Feed prints the buffer and feeds n lines (ESC d n).
func (d *Doc) Feed(n int) *Doc {
	if n < 0 || n > 255 {
		d.fail(fmt.Errorf("escpos: feed of %d lines out of range; use 0 to 255", n))
		return d
	}
	return d.raw(0x1b, 'd', byte(n))
}

// QR prints data as a QR code, model 2, with module size 1 to 16 dots and error
// correction level (GS ( k functions 165, 167, 169, 180 and 181).
func (d *Doc) QR(data string, module int, level ErrorLevel) *Doc {
	switch {
	case data == "":
		d.fail(fmt.Errorf("escpos: empty QR code data"))
		return d
	case len(data) > maxQR:
		d.fail(fmt.Errorf("escpos: QR code data of %d bytes exceeds %d", len(data), maxQR))
		return d
	case module < 1 || module > 16:
		d.fail(fmt.Errorf("escpos: QR module size %d out of range; use 1 to 16", module))
		return d
	case level < LevelL || level > LevelH:
		d.fail(fmt.Errorf("escpos: QR error correction level %d unknown", level))
		return d
	}
	d.raw(0x1d, '(', 'k', 4, 0, '1', 'A', '2', 0) // model 2
	d.raw(0x1d, '(', 'k', 3, 0, '1', 'C', byte(module))
	d.raw(0x1d, '(', 'k', 3, 0, '1', 'E', byte(level))
	n := len(data) + 3
	d.raw(0x1d, '(', 'k', byte(n), byte(n>>8), '1', 'P', '0')
	d.buf.WriteString(data)
	return d.raw(0x1d, '(', 'k', 3, 0, '1', 'Q', '0') // print
}

// Cut feeds the paper past the cutter and cuts it partially, leaving a hinge so the
// receipt does not fall (GS V 66 n).
func (d *Doc) Cut() *Doc { return d.raw(0x1d, 'V', 66, 3) }

// Bytes ends Kanji mode (FS .) and returns the document, or the first error a
// command met.
func (d *Doc) Bytes() ([]byte, error) {
	if d.err != nil {
		return nil, d.err
	}
	return append(bytes.Clone(d.buf.Bytes()), 0x1c, '.'), nil
}

func (d *Doc) fail(err error) {
	if d.err == nil {
		d.err = err
	}
}

func boolByte(b bool) byte {
	if b {
		return 1
	}
	return 0
}

// Receipt is anything that renders to ESC/POS bytes; receipt.Seat and
// receipt.Shelter satisfy it. It lives here, beside the commands, so that code
// which only builds receipts (the agent) needs no printer transport.
type Receipt interface {
	ESCPOS() ([]byte, error)
}
