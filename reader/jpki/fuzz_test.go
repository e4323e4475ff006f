package jpki

import (
	"errors"
	"testing"
)

// FuzzDERLength feeds card-supplied certificate headers: never panic, and a
// length that is returned is within what READ BINARY can address.
func FuzzDERLength(f *testing.F) {
	for _, s := range [][]byte{{0x30, 0x82, 0x06, 0x40}, {0x30, 0x81, 0x80}, {0x30, 0x03}, {0x30, 0x80}, {}} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := DERLength(b)
		if err == nil && (n < 2 || n > 0x7FFF) {
			t.Fatalf("DERLength(%X) = %d", b, n)
		}
	})
}

// FuzzReadCertificate answers every READ BINARY with fuzzed bytes: the reader
// must end with a certificate or an error, never panic or loop.
func FuzzReadCertificate(f *testing.F) {
	f.Add([]byte{0x30, 0x82, 0x01, 0x00, 0x90, 0x00}, true)
	f.Add([]byte{0x6A, 0x86}, false)
	f.Add([]byte{0x30, 0x81, 0x90, 0x01, 0x90, 0x00}, false)
	f.Fuzz(func(t *testing.T, rsp []byte, extended bool) {
		caps := &Caps{}
		if !extended {
			caps.Extended = Unsupported
		}
		ft := &fixedTransport{rsp: rsp}
		c := New(ft, caps)
		cert, err := c.ReadCertificate(EFAuthCert)
		if err == nil {
			if n, lerr := DERLength(cert); lerr != nil || n != len(cert) {
				t.Fatalf("returned %d bytes that are not one DER object: %v", len(cert), lerr)
			}
		} else if errors.Is(err, ErrRemoved) {
			t.Fatal("no removal was simulated")
		}
		if ft.n > 200 {
			t.Fatalf("%d APDUs for one certificate", ft.n)
		}
	})
}

type fixedTransport struct {
	rsp []byte
	n   int
}

func (f *fixedTransport) Transmit([]byte) ([]byte, error) {
	f.n++
	return append([]byte(nil), f.rsp...), nil
}
