package vcard

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadProfile(t *testing.T) {
	p, err := LoadProfile("testdata/pki/card-001.json")
	if err != nil {
		t.Fatal(err)
	}
	if p.Label != LabelMyNumberCard || p.PIN != "1234" {
		t.Errorf("loaded label %q pin %q", p.Label, p.PIN)
	}
}

func TestLoadProfileErrors(t *testing.T) {
	good, err := os.ReadFile("testdata/pki/card-001.json")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		json string
		want []string // substrings of the error
	}{
		{"unknown key", `{"label": "", "colour": "blue"}`, []string{"bad.json", `"colour"`}},
		{"not JSON", `{`, []string{"bad.json", "decode"}},
		{"two objects", `{} {}`, []string{"trailing"}},
		{"bad atr", `{"atr": "zz"}`, []string{"atr"}},
		{"bad force_sw", `{"force_sw": "90"}`, []string{"force_sw"}},
		{"bad delay", `{"delay": 5}`, []string{"duration"}},
		{"bad padding byte", `{"padding": 3, "padding_byte": 7}`, []string{"padding_byte"}},
		{"pin tries", `{"pin_tries": 16}`, []string{"pin_tries"}},
		{"label too long", `{"label": "` + strings.Repeat("X", 33) + `"}`, []string{"label"}},
		{"JPKI card without PIN", strings.Replace(string(good), `"pin": "1234"`, `"pin": "12a4"`, 1), []string{"pin"}},
		{"JPKI card without cert", strings.Replace(string(good), "CERTIFICATE-----\\nMII", "CERTIFICATE-----\\nAII", 1), []string{"certificate"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "bad.json")
			if err := os.WriteFile(path, []byte(tt.json), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := LoadProfile(path)
			if err == nil {
				t.Fatalf("LoadProfile accepted %s", tt.json)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}
