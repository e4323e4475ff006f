package textenc

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/encoding/unicode"
)

const sample = "service_id,seat\nT-1,1階 A列 12番\nT-2,ｱﾘｰﾅ 東スタンド\n"

// enc encodes s, which the tests write in characters every encoding has.
func enc(e interface{ NewEncoder() *encoding.Encoder }, s string) []byte {
	b, err := e.NewEncoder().Bytes([]byte(s))
	if err != nil {
		panic(err)
	}
	return b
}

func TestOpen(t *testing.T) {
	sjis := enc(japanese.ShiftJIS, sample)
	euc := enc(japanese.EUCJP, sample)
	u16 := enc(unicode.UTF16(unicode.LittleEndian, unicode.UseBOM), sample)
	u16noBOM := enc(unicode.UTF16(unicode.BigEndian, unicode.IgnoreBOM), sample)
	long := strings.Repeat("T-0,A-1\n", 20000) + sample // the Japanese comes after many buffers
	tests := []struct {
		name    string
		in      []byte
		want    Encoding
		text    string
		wantErr string
	}{
		{"ascii", []byte("a,b\n1,2\n"), UTF8, "a,b\n1,2\n", ""},
		{"utf-8", []byte(sample), UTF8, sample, ""},
		{"utf-8 bom", append([]byte("\xef\xbb\xbf"), sample...), UTF8BOM, sample, ""},
		{"shift_jis", sjis, ShiftJIS, sample, ""},
		{"shift_jis late", enc(japanese.ShiftJIS, long), ShiftJIS, long, ""},
		{"utf-8 late", []byte(long), UTF8, long, ""},
		{"euc-jp", euc, "", "", "EUC-JP"},
		{"utf-16 bom", u16, "", "", "UTF-16"},
		{"utf-16 no bom", u16noBOM, "", "", "NUL"},
		{"bom then shift_jis", append([]byte("\xef\xbb\xbf"), sjis...), "", "", "line 2 is not UTF-8"},
		{"garbage", []byte("a,b\n\x81\x20x\n"), "", "", "line 2 is neither UTF-8 nor Shift_JIS"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, got0, err := Open(bytes.NewReader(tc.in))
			if tc.wantErr != "" {
				if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, want ErrUnsupported with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(r)
			if err != nil {
				t.Fatal(err)
			}
			if got0 != tc.want || string(got) != tc.text {
				t.Fatalf("got %s %q, want %s %q", got0, got, tc.want, tc.text)
			}
		})
	}
}

func FuzzOpen(f *testing.F) {
	f.Add([]byte(sample))
	f.Add(enc(japanese.ShiftJIS, sample))
	f.Add([]byte("\xef\xbb\xbfa\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, e, err := Open(bytes.NewReader(b))
		if err != nil {
			return
		}
		got, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		if !utf8.Valid(got) {
			t.Fatalf("%s text is not UTF-8: %q", e, got)
		}
		if e == UTF8 && !bytes.Equal(got, b) {
			t.Fatal("UTF-8 text changed")
		}
	})
}
