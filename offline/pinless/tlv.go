package pinless

import (
	"errors"
	"fmt"
)

var errTrailing = errors.New("trailing bytes")

func orTrailing(err error) error {
	if err != nil {
		return err
	}
	return errTrailing
}

// tlv encodes one BER-TLV with a one- or two-byte tag and a minimal length.
func tlv(tag int, v []byte) []byte {
	var out []byte
	if tag > 0xFF {
		out = append(out, byte(tag>>8))
	}
	out = append(out, byte(tag))
	switch n := len(v); {
	case n < 0x80:
		out = append(out, byte(n))
	case n <= 0xFF:
		out = append(out, 0x81, byte(n))
	default:
		out = append(out, 0x82, byte(n>>8), byte(n))
	}
	return append(out, v...)
}

// readTLV reads one TLV that must carry tag, returning its value and the
// bytes after it. Lengths must be minimal (DER), at most two bytes.
func readTLV(b []byte, tag int) (value, rest []byte, err error) {
	n := 1
	if tag > 0xFF {
		n = 2
	}
	if len(b) < n+1 {
		return nil, nil, fmt.Errorf("tag %X: truncated", tag)
	}
	got := int(b[0])
	if n == 2 {
		got = got<<8 | int(b[1])
	}
	if got != tag {
		return nil, nil, fmt.Errorf("tag %X where %X belongs", got, tag)
	}
	b = b[n:]
	l, hdr := int(b[0]), 1
	switch {
	case b[0] == 0x81 && len(b) >= 2 && b[1] >= 0x80:
		l, hdr = int(b[1]), 2
	case b[0] == 0x82 && len(b) >= 3 && b[1] != 0:
		l, hdr = int(b[1])<<8|int(b[2]), 3
	case b[0] >= 0x80:
		return nil, nil, fmt.Errorf("tag %X: unsupported or non-minimal length", tag)
	}
	if len(b) < hdr+l {
		return nil, nil, fmt.Errorf("tag %X: length %d past the end", tag, l)
	}
	return b[hdr : hdr+l], b[hdr+l:], nil
}
