package printer

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"go.bug.st/serial"
)

// link is one open connection to the printer.
type link interface {
	io.WriteCloser
	// twoWay reports whether the printer's answers can be read.
	twoWay() bool
	// readByte reads one byte within d. Only for a twoWay link.
	readByte(d time.Duration) (byte, error)
}

// dial opens the configured transport.
func dial(ctx context.Context, c Config) (link, error) {
	switch c.Transport {
	case TCP:
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", c.Address)
		if err != nil {
			return nil, fmt.Errorf("printer: connect to %s: %w; check the printer's power, network cable and IP address", c.Address, err)
		}
		return netLink{conn}, nil
	case Serial:
		parity := map[string]serial.Parity{"none": serial.NoParity, "even": serial.EvenParity, "odd": serial.OddParity}[c.Parity]
		stop := map[int]serial.StopBits{1: serial.OneStopBit, 2: serial.TwoStopBits}[c.StopBits]
		port, err := serial.Open(c.Path, &serial.Mode{BaudRate: c.Baud, Parity: parity, DataBits: c.DataBits, StopBits: stop})
		if err != nil {
			return nil, fmt.Errorf("printer: open serial %s: %w; check the cable, that the device exists and that the gate user may open it (group dialout)", c.Path, err)
		}
		// Drop bytes left from before (XON/XOFF, a late status answer) so that they
		// are not read as this job's status.
		if err := port.ResetInputBuffer(); err != nil {
			port.Close()
			return nil, fmt.Errorf("printer: reset serial %s: %w", c.Path, err)
		}
		return serialLink{port}, nil
	case USB:
		f, err := os.OpenFile(c.Path, os.O_RDWR, 0)
		if err != nil {
			return nil, fmt.Errorf("printer: open %s: %w; check the USB cable and that the gate user may open it (group lp)", c.Path, err)
		}
		// Reading needs a device the poller can watch (usblp can); otherwise a read
		// would block past any deadline, and the link is treated as one-way.
		return fileLink{f, f.SetReadDeadline(time.Time{}) == nil}, nil
	case File:
		f, err := os.OpenFile(c.Path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return nil, fmt.Errorf("printer: open %s: %w; check that its directory exists and is writable", c.Path, err)
		}
		return fileLink{f, false}, nil
	}
	return nil, fmt.Errorf("printer: transport %q unknown", c.Transport)
}

type netLink struct{ net.Conn }

func (netLink) twoWay() bool { return true }

func (l netLink) readByte(d time.Duration) (byte, error) {
	if err := l.SetReadDeadline(time.Now().Add(d)); err != nil {
		return 0, err
	}
	var b [1]byte
	_, err := io.ReadFull(l.Conn, b[:])
	return b[0], err
}

type serialLink struct{ serial.Port }

func (serialLink) twoWay() bool { return true }

func (l serialLink) readByte(d time.Duration) (byte, error) {
	if err := l.SetReadTimeout(d); err != nil {
		return 0, err
	}
	var b [1]byte
	n, err := l.Read(b[:])
	if err != nil {
		return 0, err
	}
	if n == 0 {
		return 0, os.ErrDeadlineExceeded
	}
	return b[0], nil
}

// fileLink is a USB printer class device (two-way where the kernel can poll it)
// or an output file (one-way).
type fileLink struct {
	*os.File
	readable bool
}

func (l fileLink) twoWay() bool { return l.readable }

func (l fileLink) readByte(d time.Duration) (byte, error) {
	if err := l.SetReadDeadline(time.Now().Add(d)); err != nil {
		return 0, err
	}
	var b [1]byte
	_, err := io.ReadFull(l.File, b[:])
	return b[0], err
}
