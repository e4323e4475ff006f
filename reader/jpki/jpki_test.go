package jpki

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// playback is a Transport that expects an exact APDU sequence, the way periph's
// conntest replays a bus: it proves how many and which commands go out.
type playback struct {
	t     *testing.T
	steps []step
	i     int
}

type step struct {
	cmd string // hex, spaces ignored
	rsp []byte
	err error
}

func (p *playback) Transmit(cmd []byte) ([]byte, error) {
	p.t.Helper()
	if p.i >= len(p.steps) {
		p.t.Fatalf("unexpected APDU %X after the script ended", cmd)
	}
	s := p.steps[p.i]
	p.i++
	want, _ := hex.DecodeString(strings.ReplaceAll(s.cmd, " ", ""))
	if !bytes.Equal(cmd, want) {
		p.t.Fatalf("APDU %d = %X, want %X", p.i, cmd, want)
	}
	return s.rsp, s.err
}

func (p *playback) done() {
	p.t.Helper()
	if p.i != len(p.steps) {
		p.t.Fatalf("script has %d unsent APDUs", len(p.steps)-p.i)
	}
}

func ok(data []byte) []byte { return append(append([]byte{}, data...), 0x90, 0x00) }
func sw(v uint16) []byte    { return []byte{byte(v >> 8), byte(v)} }

// fakeCert returns a DER-shaped object of total length n followed by padding.
func fakeCert(n, padding int) []byte {
	b := make([]byte, n+padding)
	b[0], b[1], b[2], b[3] = 0x30, 0x82, byte((n-4)>>8), byte(n-4)
	for i := 4; i < n; i++ {
		b[i] = byte(i)
	}
	for i := n; i < len(b); i++ {
		b[i] = 0xFF
	}
	return b
}

func TestDERLength(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
		err  error
	}{
		{"3003", 5, nil},
		{"30817F", 0, ErrMalformed}, // 1-byte long form for a short length
		{"308180", 0x83, nil},
		{"30820640", 4 + 0x640, nil},
		{"308200FF", 0, ErrMalformed}, // not minimal
		{"3082", 0, ErrShortHeader},
		{"30", 0, ErrShortHeader},
		{"3080", 0, ErrMalformed},       // indefinite
		{"3083010000", 0, ErrMalformed}, // over 32 KiB
		{"30827FFF", 0, ErrMalformed},   // total over 15-bit offsets
		{"1F8101", 0, ErrMalformed},     // multi-byte tag
	} {
		b, _ := hex.DecodeString(tc.in)
		got, err := DERLength(b)
		if !errors.Is(err, tc.err) || got != tc.want {
			t.Errorf("DERLength(%s) = %d, %v; want %d, %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestParseToken(t *testing.T) {
	pad := func(s string) []byte { return []byte(s + strings.Repeat(" ", 32-len(s))) }
	for _, tc := range []struct {
		in   []byte
		want TokenKind
	}{
		{pad("JPKIAPICCTOKEN2"), TokenMyNumberCard},
		{pad("JPKIAPICCTOKEN"), TokenJukiCard},
		{pad("JPKIAPGPSETOKEN"), TokenAndroid},
		{pad("JPKIAPIOSTOKEN"), TokenIPhone},
		{pad("SOMETHINGELSE"), TokenUnknown},
		{nil, TokenUnknown},
	} {
		if got := ParseToken(tc.in); got.Kind != tc.want {
			t.Errorf("ParseToken(%q) = %v, want %v", tc.in, got.Kind, tc.want)
		}
	}
}

func TestStatusErrors(t *testing.T) {
	for _, tc := range []struct {
		sw    uint16
		want  error
		tries int
	}{
		{0x6A82, ErrFileNotFound, -1},
		{0x6B00, ErrEndOfFile, -1},
		{0x6A86, ErrWrongP1P2, -1},
		{0x6982, ErrSecurityStatus, -1},
		{0x6984, ErrPINBlocked, -1},
		{0x63C0, ErrPINBlocked, 0},
		{0x63C2, ErrWrongPIN, 2},
		{0x6700, ErrWrongLength, -1},
		{0x6D00, ErrNotSupported, -1},
		{0x6985, ErrConditions, -1},
	} {
		_, err := splitResponse("TEST", sw(tc.sw))
		var se *StatusError
		if !errors.Is(err, tc.want) || !errors.As(err, &se) || se.TriesLeft != tc.tries {
			t.Errorf("SW %04X: err %v (tries %d), want %v (tries %d)", tc.sw, err, se.TriesLeft, tc.want, tc.tries)
		}
	}
	if _, err := splitResponse("TEST", []byte{0x90}); !errors.Is(err, ErrMalformed) {
		t.Errorf("1-byte response: %v, want ErrMalformed", err)
	}
}

const selectAP = "00A4040C0A D392F000260100000001"

// TestReadCertificate pins the APDU sequences: the fewest commands the card
// allows, and the fallbacks when it allows less.
func TestReadCertificate(t *testing.T) {
	cert := fakeCert(1600, 40)
	chunks := func(from int) []step {
		var s []step
		for off := from; off < 1600; off += 256 {
			n := min(256, 1600-off)
			s = append(s, step{cmd: fmt.Sprintf("00B0%04X%02X", off, byte(n)), rsp: ok(cert[off : off+n])})
		}
		return s
	}
	for _, tc := range []struct {
		name     string
		caps     Caps
		script   []step
		wantCaps Caps
	}{
		{
			name:     "extended by short EF id: one READ BINARY",
			script:   []step{{cmd: "00B08A00000000", rsp: ok(cert)}},
			wantCaps: Caps{ShortEFID: Supported, Extended: Supported},
		},
		{
			name: "extended refused: 7 short READ BINARY, the first by short EF id",
			script: append([]step{
				{cmd: "00B08A00000000", rsp: sw(0x6700)},
				{cmd: "00B08A0000", rsp: ok(cert[:256])},
			}, chunks(256)...),
			wantCaps: Caps{ShortEFID: Supported, Extended: Unsupported},
		},
		{
			name: "known short-only reader skips the extended try",
			caps: Caps{Extended: Unsupported, ShortEFID: Supported},
			script: append([]step{
				{cmd: "00B08A0000", rsp: ok(cert[:256])},
			}, chunks(256)...),
			wantCaps: Caps{ShortEFID: Supported, Extended: Unsupported},
		},
		{
			name: "no short EF id: SELECT EF then chunks",
			caps: Caps{Extended: Unsupported},
			script: append([]step{
				{cmd: "00B08A0000", rsp: sw(0x6A86)},
				{cmd: "00A4020C02000A", rsp: sw(0x9000)},
				{cmd: "00B0000000", rsp: ok(cert[:256])},
			}, chunks(256)...),
			wantCaps: Caps{ShortEFID: Unsupported, Extended: Unsupported},
		},
		{
			name: "reader truncates the extended response: falls back",
			script: append([]step{
				{cmd: "00B08A00000000", rsp: ok(cert[:1000])},
				{cmd: "00B08A0000", rsp: ok(cert[:256])},
			}, chunks(256)...),
			wantCaps: Caps{ShortEFID: Supported, Extended: Unsupported},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &playback{t: t, steps: tc.script}
			caps := tc.caps
			c := New(p, &caps)
			got, err := c.ReadCertificate(EFAuthCert)
			if err != nil {
				t.Fatal(err)
			}
			p.done()
			if !bytes.Equal(got, cert[:1600]) {
				t.Errorf("certificate differs (len %d), padding must be cut", len(got))
			}
			if caps != tc.wantCaps {
				t.Errorf("caps = %+v, want %+v", caps, tc.wantCaps)
			}
			if c.APDUs() != len(tc.script) {
				t.Errorf("APDUs() = %d, want %d", c.APDUs(), len(tc.script))
			}
		})
	}
}

func TestReadCertificateRemoved(t *testing.T) {
	removed := fmt.Errorf("pcsc: %w", ErrRemoved)
	p := &playback{t: t, steps: []step{{cmd: "00B08A00000000", err: removed}}}
	if _, err := New(p, nil).ReadCertificate(EFAuthCert); !errors.Is(err, ErrRemoved) {
		t.Fatalf("err = %v, want ErrRemoved without a retry", err)
	}
	p.done()
}

func TestSelectAPNotJPKI(t *testing.T) {
	p := &playback{t: t, steps: []step{{cmd: selectAP, rsp: sw(0x6A82)}}}
	if err := New(p, nil).SelectAP(); !errors.Is(err, ErrNotJPKI) {
		t.Fatalf("err = %v, want ErrNotJPKI", err)
	}
}

func TestPINAndSign(t *testing.T) {
	digest := bytes.Repeat([]byte{0xAB}, 32)
	sig := bytes.Repeat([]byte{0x5A}, 256)
	p := &playback{t: t, steps: []step{
		{cmd: "00A4020C020018", rsp: sw(0x9000)},
		{cmd: "00200080", rsp: sw(0x63C3)},
		{cmd: "00A4020C020018", rsp: sw(0x9000)},
		{cmd: "0020008004 31323334", rsp: sw(0x63C2)},
		{cmd: "00A4020C020018", rsp: sw(0x9000)},
		{cmd: "0020008004 31323335", rsp: sw(0x9000)},
		{cmd: "00A4020C020017", rsp: sw(0x9000)},
		{cmd: "802A008033" + hex.EncodeToString(SHA256DigestInfo) + hex.EncodeToString(digest) + "00", rsp: ok(sig)},
	}}
	c := New(p, nil)
	if n, err := c.PINTriesLeft(); err != nil || n != 3 {
		t.Fatalf("PINTriesLeft = %d, %v", n, err)
	}
	err := c.VerifyPIN([]byte("1234"))
	var se *StatusError
	if !errors.Is(err, ErrWrongPIN) || !errors.As(err, &se) || se.TriesLeft != 2 {
		t.Fatalf("wrong PIN: %v", err)
	}
	if strings.Contains(err.Error(), "1234") {
		t.Fatalf("error reveals the PIN: %v", err)
	}
	if err := c.VerifyPIN([]byte("1235")); err != nil {
		t.Fatal(err)
	}
	got, err := c.SignSHA256(digest)
	if err != nil || !bytes.Equal(got, sig) {
		t.Fatalf("SignSHA256 = %X, %v", got, err)
	}
	p.done()
	if err := c.VerifyPIN([]byte("12a4")); err == nil {
		t.Fatal("non-digit PIN accepted")
	}
}
