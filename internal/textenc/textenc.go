// Package textenc reads the text files operators export from spreadsheets:
// UTF-8 with or without a byte-order mark, and Shift_JIS as Windows writes it
// (CP932, Windows-31J: what Excel saves as "CSV" in Japanese). Anything else
// (UTF-16, EUC-JP, binary) is refused by name rather than read as mojibake.
package textenc

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"

	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/transform"
)

// Encoding names a text encoding Open accepts.
type Encoding string

// The encodings Open reads.
const (
	UTF8     Encoding = "UTF-8"
	UTF8BOM  Encoding = "UTF-8 with byte-order mark"
	ShiftJIS Encoding = "Shift_JIS (CP932)"
)

// ErrUnsupported is wrapped by Open's error when the file is in an encoding
// it refuses; the message names the encoding when it can tell.
var ErrUnsupported = errors.New("unsupported text encoding")

const hint = "save the file as UTF-8 or as Shift_JIS (CP932), e.g. Excel's \"CSV UTF-8\" or \"CSV\""

var bomUTF8 = []byte("\xef\xbb\xbf")

// Open reads r once to tell its encoding, rewinds it and returns a reader of
// its text in UTF-8 without a byte-order mark.
func Open(r io.ReadSeeker) (io.Reader, Encoding, error) {
	enc, err := detect(r)
	if err != nil {
		return nil, "", err
	}
	if enc == ShiftJIS {
		// Shift_JIS is what is left; check that it is that indeed.
		if err := rewind(r); err != nil {
			return nil, "", err
		}
		if err := checkShiftJIS(r); err != nil {
			return nil, "", err
		}
	}
	if err := rewind(r); err != nil {
		return nil, "", err
	}
	switch enc {
	case UTF8BOM:
		if _, err := io.CopyN(io.Discard, r, int64(len(bomUTF8))); err != nil {
			return nil, "", fmt.Errorf("textenc: skip byte-order mark: %w", err)
		}
	case ShiftJIS:
		return transform.NewReader(r, japanese.ShiftJIS.NewDecoder()), enc, nil
	}
	return r, enc, nil
}

// detect scans the whole file: it is UTF-8 if every byte sequence is; else
// Shift_JIS if it decodes without a replacement character and does not look
// like EUC-JP (whose bytes are also mostly valid Shift_JIS, as half-width
// katakana).
func detect(r io.Reader) (Encoding, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	head, _ := br.Peek(4)
	switch {
	case bytes.HasPrefix(head, []byte{0xff, 0xfe}) || bytes.HasPrefix(head, []byte{0xfe, 0xff}):
		return "", fmt.Errorf("textenc: the file is UTF-16 (it starts with a UTF-16 byte-order mark): %w; %s", ErrUnsupported, hint)
	}
	s := scan{bom: bytes.HasPrefix(head, bomUTF8), utf8OK: true, line: 1, nul: -1}
	buf := make([]byte, 1<<16)
	var carry int
	for {
		n, err := br.Read(buf[carry:])
		n += carry
		carry = s.feed(buf[:n], err == io.EOF)
		copy(buf, buf[n-carry:n])
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", fmt.Errorf("textenc: read: %w", err)
		}
	}
	switch {
	case s.nul >= 0:
		return "", fmt.Errorf("textenc: byte %d is NUL: the file is UTF-16 or not text: %w; %s", s.nul, ErrUnsupported, hint)
	case s.utf8OK && s.bom:
		return UTF8BOM, nil
	case s.utf8OK:
		return UTF8, nil
	case s.bom:
		return "", fmt.Errorf("textenc: the file starts with a UTF-8 byte-order mark but line %d is not UTF-8: %w; %s", s.badLine, ErrUnsupported, hint)
	case !s.sjisLead && validEUCJP(s.nonASCII):
		return "", fmt.Errorf("textenc: the file looks like EUC-JP: %w; %s", ErrUnsupported, hint)
	}
	return ShiftJIS, nil
}

// scan tracks what the bytes seen so far allow.
type scan struct {
	bom, utf8OK bool
	// sjisLead is set once a byte 0x81–0x9F (other than EUC-JP's 0x8E, 0x8F)
	// is seen: a Shift_JIS lead byte that EUC-JP never uses.
	sjisLead bool
	nul      int64
	off      int64
	line     int
	badLine  int
	// nonASCII keeps a sample of non-ASCII runs to tell EUC-JP apart.
	nonASCII []byte
}

// feed scans p and returns how many trailing bytes it left for the next call
// (an incomplete UTF-8 sequence cut by the buffer).
func (s *scan) feed(p []byte, atEOF bool) int {
	for i := 0; i < len(p); {
		c := p[i]
		if c < utf8.RuneSelf {
			switch {
			case c == 0 && s.nul < 0:
				s.nul = s.off + int64(i)
			case c == '\n':
				s.line++
			}
			i++
			continue
		}
		size := 1
		if s.utf8OK {
			if !atEOF && !utf8.FullRune(p[i:]) {
				s.off += int64(i)
				return len(p) - i
			}
			var r rune
			if r, size = utf8.DecodeRune(p[i:]); r == utf8.RuneError && size == 1 {
				s.utf8OK, s.badLine = false, s.line
			}
		}
		for _, b := range p[i : i+size] {
			if b >= 0x81 && b <= 0x9f && b != 0x8e && b != 0x8f && !s.utf8OK {
				s.sjisLead = true
			}
			if len(s.nonASCII) < 1<<16 {
				s.nonASCII = append(s.nonASCII, b)
			}
		}
		i += size
	}
	s.off += int64(len(p))
	return 0
}

// validEUCJP reports whether b (non-ASCII bytes of a file) pairs up as EUC-JP
// double-byte characters.
func validEUCJP(b []byte) bool {
	if len(b) == 0 || len(b)%2 != 0 {
		return false
	}
	for i := 0; i < len(b); i += 2 {
		c0, c1 := b[i], b[i+1]
		switch {
		case c0 == 0x8e && c1 >= 0xa1 && c1 <= 0xdf:
		case c0 >= 0xa1 && c0 <= 0xfe && c1 >= 0xa1 && c1 <= 0xfe:
		default:
			return false
		}
	}
	return true
}

func rewind(r io.Seeker) error {
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("textenc: rewind: %w", err)
	}
	return nil
}

// checkShiftJIS decodes r as Shift_JIS and fails at the first line holding a
// byte sequence that is not, naming the line. It goes rune by rune so that no
// buffer boundary splits a character.
func checkShiftJIS(r io.Reader) error {
	br := bufio.NewReaderSize(transform.NewReader(r, japanese.ShiftJIS.NewDecoder()), 1<<16)
	line := 1
	for {
		r, _, err := br.ReadRune()
		switch {
		case err == io.EOF:
			return nil
		case err != nil:
			return fmt.Errorf("textenc: read: %w", err)
		case r == '\n':
			line++
		case r == utf8.RuneError:
			return fmt.Errorf("textenc: line %d is neither UTF-8 nor Shift_JIS (CP932): %w; %s", line, ErrUnsupported, hint)
		}
	}
}
