package vcard

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// DefaultVPCD is where vsmartcard's vpcd listens for slot 0.
const DefaultVPCD = "127.0.0.1:35963"

// ErrPulled is returned by Present when the profile's remove_after_apdus fault
// removed the card in the middle of a conversation.
var ErrPulled = errors.New("vcard: card pulled by fault injection")

// vpcd control payloads (one byte).
const (
	ctlPowerOff = 0x00
	ctlPowerOn  = 0x01
	ctlReset    = 0x02
	ctlGetATR   = 0x04
)

// Responder is what Present puts in the reader. *Card is one; a test may wrap
// a Card to model a device that lies on the card's behalf (a relay, a forger).
// The profile's faults apply only to a *Card.
type Responder interface {
	ATR() []byte
	// Process answers one command APDU with data || SW1 SW2.
	Process(apdu []byte) []byte
	// Reset is a power cycle or warm reset.
	Reset()
}

// Present inserts c into the vpcd reader at addr ("" = DefaultVPCD) and answers
// pcscd until ctx is done, then closes the connection, which pcscd sees as the
// card being removed. It returns nil after ctx ends, ErrPulled when fault
// injection removed the card, or the connection error.
func Present(ctx context.Context, addr string, c Responder) error {
	if addr == "" {
		addr = DefaultVPCD
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("vcard: connect to vpcd at %s: %w (is pcscd running with vsmartcard-vpcd? check /etc/reader.conf.d/vpcd)", addr, err)
	}
	tc := conn.(*net.TCPConn)
	raw, err := tc.SyscallConn()
	if err != nil {
		conn.Close()
		return fmt.Errorf("vcard: vpcd socket: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	defer conn.Close()
	slog.Debug("vcard: inserted", "vpcd", addr)
	err = serve(tc, raw, c)
	if ctx.Err() != nil {
		slog.Debug("vcard: removed", "vpcd", addr)
		return nil
	}
	return err
}

// serve runs the vpcd message loop: a 2-byte big-endian length, then a 1-byte
// control or a command APDU.
func serve(conn *net.TCPConn, raw syscall.RawConn, c Responder) error {
	faulty, _ := c.(*Card)
	var hdr [2]byte
	for {
		// vpcd writes length and payload in two sends; without QUICKACK our
		// delayed ACK meets its Nagle and each APDU costs ~40 ms. The flag does
		// not stick, so it is set before every read.
		raw.Control(func(fd uintptr) { //nolint:errcheck // a lost hint only costs latency
			unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_QUICKACK, 1) //nolint:errcheck
		})
		if _, err := io.ReadFull(conn, hdr[:]); err != nil {
			return fmt.Errorf("vcard: read from vpcd: %w", err)
		}
		msg := make([]byte, binary.BigEndian.Uint16(hdr[:]))
		if _, err := io.ReadFull(conn, msg); err != nil {
			return fmt.Errorf("vcard: read from vpcd: %w", err)
		}
		if len(msg) == 1 {
			slog.Debug("vcard: vpcd control", "code", msg[0])
		}
		var out []byte
		switch {
		case len(msg) == 1 && msg[0] == ctlGetATR:
			out = c.ATR()
		case len(msg) == 1:
			if msg[0] == ctlPowerOff || msg[0] == ctlPowerOn || msg[0] == ctlReset {
				c.Reset()
			}
			continue
		case len(msg) == 0:
			continue
		default:
			if faulty != nil && faulty.pulled() {
				return ErrPulled
			}
			if faulty != nil && faulty.delay() > 0 {
				time.Sleep(time.Duration(faulty.delay()))
			}
			out = c.Process(msg)
		}
		buf := binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(out)), uint16(len(out)))
		if _, err := conn.Write(append(buf, out...)); err != nil {
			return fmt.Errorf("vcard: write to vpcd: %w", err)
		}
	}
}
