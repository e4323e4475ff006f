package jpki

import (
	"errors"
	"fmt"
)

// ErrShortHeader means more bytes are needed to know the DER object's length.
var ErrShortHeader = errors.New("jpki: DER header incomplete")

// DERLength returns the total length (header and contents) of the DER object that
// starts b, reading only its header: a certificate file is read up to exactly this
// length, ignoring any padding the card keeps after it. It accepts definite
// lengths only, as DER requires, and refuses objects over 32 KiB, the most a
// 15-bit READ BINARY offset can address.
func DERLength(b []byte) (int, error) {
	if len(b) < 2 {
		return 0, ErrShortHeader
	}
	if b[0]&0x1F == 0x1F {
		return 0, fmt.Errorf("jpki: DER header: multi-byte tag %02X: %w", b[0], ErrMalformed)
	}
	first := b[1]
	if first < 0x80 {
		return 2 + int(first), nil
	}
	n := int(first & 0x7F)
	switch {
	case n == 0:
		return 0, fmt.Errorf("jpki: DER header: indefinite length: %w", ErrMalformed)
	case n > 2:
		return 0, fmt.Errorf("jpki: DER header: %d length bytes is over 32 KiB: %w", n, ErrMalformed)
	case len(b) < 2+n:
		return 0, ErrShortHeader
	}
	length := 0
	for _, c := range b[2 : 2+n] {
		length = length<<8 | int(c)
	}
	if n == 2 && length < 0x100 || n == 1 && length < 0x80 {
		return 0, fmt.Errorf("jpki: DER header: length %d not minimally encoded: %w", length, ErrMalformed)
	}
	total := 2 + n + length
	if total > 0x7FFF {
		return 0, fmt.Errorf("jpki: DER header: object of %d bytes is over 32 KiB: %w", total, ErrMalformed)
	}
	return total, nil
}
