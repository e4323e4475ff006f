package cardkey_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mynagate/mynagate/offline/cardkey"
)

var secret = bytes.Repeat([]byte{0x42}, 32)

func TestMessageEncoding(t *testing.T) {
	tests := []struct {
		akid, serial string
		want         string
	}{
		{"0102", "03", "0002010200" + "0103"},
		{"0102", "000003", "0002010200" + "0103"}, // leading zeros are not part of the serial
		{"01", "0203", "000101" + "00020203"},     // same bytes as the first, split elsewhere
	}
	for _, tt := range tests {
		akid, _ := hex.DecodeString(tt.akid)
		serial, _ := hex.DecodeString(tt.serial)
		m, err := cardkey.Message(akid, serial)
		if err != nil {
			t.Fatal(err)
		}
		if got := hex.EncodeToString(m); got != tt.want {
			t.Errorf("Message(%s, %s) = %s, want %s", tt.akid, tt.serial, got, tt.want)
		}
	}
	for _, bad := range [][2][]byte{{nil, {1}}, {{1}, nil}, {{1}, {0, 0}}, {make([]byte, 70000), {1}}} {
		if _, err := cardkey.Message(bad[0], bad[1]); err == nil {
			t.Errorf("Message(%x, %x) succeeded", bad[0], bad[1])
		}
	}
}

func TestSoftwareKnownAnswer(t *testing.T) {
	k := cardkey.NewSoftware(secret)
	got, err := k.CardKey([]byte{0xAA, 0xBB}, []byte{0x01, 0x33, 0xC3, 0x49})
	if err != nil {
		t.Fatal(err)
	}
	h := hmac.New(sha256.New, secret)
	h.Write([]byte{0, 2, 0xAA, 0xBB, 0, 4, 0x01, 0x33, 0xC3, 0x49})
	if want := hex.EncodeToString(h.Sum(nil)); got.String() != want {
		t.Fatalf("card key %s, want %s", got, want)
	}
	// Shifting a byte between the parts must change the key.
	other, _ := k.CardKey([]byte{0xAA}, []byte{0xBB, 0x01, 0x33, 0xC3, 0x49})
	if other == got {
		t.Fatal("ambiguous encoding: different (akid, serial) pairs gave the same key")
	}
	if _, err := cardkey.NewSoftware([]byte("short")).CardKey([]byte{1}, []byte{1}); err == nil {
		t.Fatal("a 5-byte secret was accepted")
	}
}

func TestForCert(t *testing.T) {
	k := cardkey.NewSoftware(secret)
	c := &x509.Certificate{AuthorityKeyId: []byte{1, 2, 3}, SerialNumber: big.NewInt(0x0133C349)}
	got, err := cardkey.ForCert(k, c)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := k.CardKey([]byte{1, 2, 3}, []byte{0x01, 0x33, 0xC3, 0x49})
	if got != want {
		t.Fatalf("ForCert = %s, want %s", got, want)
	}
	for name, c := range map[string]*x509.Certificate{
		"nil":         nil,
		"no akid":     {SerialNumber: big.NewInt(1)},
		"zero serial": {AuthorityKeyId: []byte{1}, SerialNumber: big.NewInt(0)},
	} {
		if _, err := cardkey.ForCert(k, c); err == nil {
			t.Errorf("%s: ForCert succeeded", name)
		}
	}
}

func TestParseKey(t *testing.T) {
	k := cardkey.Key{0xde, 0xad, 31: 0xff}
	s := k.String()
	if s != strings.ToLower(s) || len(s) != 64 {
		t.Fatalf("String() = %q", s)
	}
	for _, in := range []string{s, strings.ToUpper(s)} {
		got, err := cardkey.ParseKey(in)
		if err != nil || got != k {
			t.Fatalf("ParseKey(%q) = %v, %v", in, got, err)
		}
	}
	for _, bad := range []string{"", s[:62], s + "00", "zz" + s[2:]} {
		if _, err := cardkey.ParseKey(bad); err == nil {
			t.Errorf("ParseKey(%q) succeeded", bad)
		}
	}
}

func TestLoadSecretFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(p, mode)
		return p
	}
	want, _ := cardkey.NewSoftware(secret).CardKey([]byte{1}, []byte{2})
	tests := []struct {
		name string
		path string
		ok   bool
	}{
		{"hex with newline", write("hex", []byte(hex.EncodeToString(secret)+"\n"), 0o600), true},
		{"raw 32 bytes", write("raw", secret, 0o400), true},
		{"world readable", write("world", secret, 0o644), false},
		{"group readable", write("group", secret, 0o640), false},
		{"too short", write("short", secret[:16], 0o600), false},
		{"bad hex", write("badhex", []byte(strings.Repeat("g", 64)), 0o600), false},
		{"missing", filepath.Join(dir, "none"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := cardkey.LoadSecretFile(tt.path)
			if (err == nil) != tt.ok {
				t.Fatalf("LoadSecretFile: %v, want ok=%v", err, tt.ok)
			}
			if err != nil {
				return
			}
			got, err := k.CardKey([]byte{1}, []byte{2})
			if err != nil || got != want {
				t.Fatalf("loaded keyer gives %v, %v; want %v", got, err, want)
			}
		})
	}
}
