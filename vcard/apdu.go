package vcard

import "errors"

// command is a parsed command APDU (ISO/IEC 7816-4 §5.1).
type command struct {
	cla, ins, p1, p2 byte
	data             []byte
	// ne is the maximum response length expected: 0 when Le is absent, 256
	// for a short Le of 00, 65536 for an extended Le of 0000.
	ne       int
	extended bool
}

var errLength = errors.New("malformed APDU length")

// parseAPDU splits a command APDU into header, data and Le, covering the four
// cases in short and extended form. Any inconsistency of Lc, Le and the total
// length is errLength, which the card answers with 6700.
func parseAPDU(b []byte) (command, error) {
	if len(b) < 4 {
		return command{}, errLength
	}
	c := command{cla: b[0], ins: b[1], p1: b[2], p2: b[3]}
	body := b[4:]
	switch {
	case len(body) == 0: // case 1
		return c, nil
	case len(body) == 1: // case 2 short
		c.ne = shortLe(body[0])
		return c, nil
	case body[0] != 0: // case 3 or 4 short
		lc := int(body[0])
		switch len(body) {
		case 1 + lc:
		case 2 + lc:
			c.ne = shortLe(body[1+lc])
		default:
			return command{}, errLength
		}
		c.data = body[1 : 1+lc]
		return c, nil
	}
	c.extended = true
	if len(body) == 3 { // case 2 extended
		c.ne = extLe(body[1], body[2])
		return c, nil
	}
	if len(body) < 3 {
		return command{}, errLength
	}
	lc := int(body[1])<<8 | int(body[2])
	if lc == 0 {
		return command{}, errLength
	}
	switch len(body) {
	case 3 + lc:
	case 5 + lc:
		c.ne = extLe(body[3+lc], body[4+lc])
	default:
		return command{}, errLength
	}
	c.data = body[3 : 3+lc]
	return c, nil
}

func shortLe(b byte) int {
	if b == 0 {
		return 256
	}
	return int(b)
}

func extLe(hi, lo byte) int {
	n := int(hi)<<8 | int(lo)
	if n == 0 {
		return 65536
	}
	return n
}
