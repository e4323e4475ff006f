package vcard

import (
	"bytes"
	"testing"
)

func TestParseAPDU(t *testing.T) {
	tests := []struct {
		name     string
		in       []byte
		wantErr  bool
		data     []byte
		ne       int
		extended bool
	}{
		{name: "case 1", in: []byte{0x00, 0x20, 0x00, 0x80}},
		{name: "case 2 Le 00", in: []byte{0x00, 0xB0, 0x00, 0x00, 0x00}, ne: 256},
		{name: "case 2 Le 04", in: []byte{0x00, 0xB0, 0x00, 0x00, 0x04}, ne: 4},
		{name: "case 3", in: []byte{0x00, 0xA4, 0x02, 0x0C, 0x02, 0x00, 0x0A}, data: []byte{0x00, 0x0A}},
		{name: "case 4", in: []byte{0x80, 0x2A, 0x00, 0x80, 0x01, 0xAA, 0x00}, data: []byte{0xAA}, ne: 256},
		{name: "case 2 extended", in: []byte{0x00, 0xB0, 0x8A, 0x00, 0x00, 0x00, 0x00}, ne: 65536, extended: true},
		{name: "case 3 extended", in: []byte{0x00, 0x2A, 0x00, 0xBE, 0x00, 0x00, 0x01, 0xAA}, data: []byte{0xAA}, extended: true},
		{name: "case 4 extended", in: []byte{0x00, 0x2A, 0x00, 0xBE, 0x00, 0x00, 0x01, 0xAA, 0x01, 0x00}, data: []byte{0xAA}, ne: 256, extended: true},
		{name: "too short", in: []byte{0x00, 0xA4, 0x04}, wantErr: true},
		{name: "Lc longer than data", in: []byte{0x00, 0xA4, 0x02, 0x0C, 0x02, 0x00}, wantErr: true},
		{name: "trailing bytes", in: []byte{0x00, 0xA4, 0x02, 0x0C, 0x01, 0x00, 0x00, 0x00}, wantErr: true},
		{name: "extended Lc 0", in: []byte{0x00, 0xB0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}, wantErr: true},
		{name: "extended header cut", in: []byte{0x00, 0xB0, 0x00, 0x00, 0x00, 0x01}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseAPDU(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseAPDU(% X) error = %v, want error %v", tt.in, err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if !bytes.Equal(c.data, tt.data) || c.ne != tt.ne || c.extended != tt.extended {
				t.Errorf("parseAPDU(% X) = data % X ne %d ext %v, want % X %d %v", tt.in, c.data, c.ne, c.extended, tt.data, tt.ne, tt.extended)
			}
		})
	}
}
