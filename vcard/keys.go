package vcard

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"strings"
)

// atrContact is the My Number card's contact ATR, the one OpenSC's jpki driver
// matches: T=1, no historical bytes, TCK 14.
var atrContact = []byte{0x3B, 0xE0, 0x00, 0xFF, 0x81, 0x31, 0xFE, 0x45, 0x14}

// atrNFC is the ATR a PC/SC contactless reader synthesises for an ISO 14443
// Type B card (PC/SC part 3: 3B 88 80 01, ATQB application data, protocol info,
// MBLI, TCK). A gate must not identify the card by it.
var atrNFC = withTCK([]byte{0x3B, 0x88, 0x80, 0x01, 0x00, 0x00, 0x00, 0x00, 0xB3, 0x81, 0xE1, 0x00})

// withTCK appends the check byte: the XOR of T0 to the last historical byte.
func withTCK(atr []byte) []byte {
	var x byte
	for _, b := range atr[1:] {
		x ^= b
	}
	return append(atr, x)
}

func (p *Profile) atrBytes() ([]byte, error) {
	switch p.ATR {
	case "", "contact":
		return atrContact, nil
	case "nfc":
		return atrNFC, nil
	}
	b, err := hex.DecodeString(strings.ReplaceAll(p.ATR, " ", ""))
	if err != nil || len(b) < 2 || len(b) > 33 {
		return nil, fmt.Errorf("atr %q: want \"contact\", \"nfc\" or 2..33 bytes in hex", p.ATR)
	}
	return b, nil
}

// certDER decodes one PEM certificate; field names the profile key for errors.
func (p *Profile) certDER(s, field string) ([]byte, error) {
	blk, _ := pem.Decode([]byte(s))
	if blk == nil || blk.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("%s: want a PEM CERTIFICATE block", field)
	}
	if _, err := x509.ParseCertificate(blk.Bytes); err != nil {
		return nil, fmt.Errorf("%s: %w", field, err)
	}
	return blk.Bytes, nil
}

func (p *Profile) rsaKey() (*rsa.PrivateKey, error) {
	blk, _ := pem.Decode([]byte(p.PrivateKey))
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("private_key: want a PKCS#8 PEM PRIVATE KEY block")
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("private_key: %w", err)
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok || rk.N.BitLen() != 2048 {
		return nil, fmt.Errorf("private_key: want RSA-2048, got %T", k)
	}
	return rk, nil
}
