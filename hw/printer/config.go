package printer

import (
	"fmt"
	"net"
	"time"
)

// Transports.
const (
	USB    = "usb"    // USB printer class device, /dev/usb/lp0
	Serial = "serial" // RS-232 or USB-serial, /dev/ttyUSB0
	TCP    = "tcp"    // network printer, raw port 9100
	File   = "file"   // appends the ESC/POS bytes to a file: demo and tests
)

// DefaultTimeout bounds a print job or a status query when Config.TimeoutMS is 0.
const DefaultTimeout = 5 * time.Second

// Config selects and sets up the receipt printer. It is decoded from the gate
// config (hw.printer) with unknown keys rejected.
type Config struct {
	// Transport is "usb", "serial", "tcp" or "file".
	Transport string `json:"transport"`
	// Path is the device (usb, serial) or the output file (file).
	Path string `json:"path,omitempty"`
	// Address is host or host:port of a network printer; the port defaults to 9100.
	Address string `json:"address,omitempty"`
	// Baud, Parity ("none", "even", "odd"), DataBits (7 or 8) and StopBits (1 or 2)
	// set up a serial line; they default to 9600, none, 8 and 1, and must match the
	// printer's DIP switches or memory switches.
	Baud     int    `json:"baud,omitempty"`
	Parity   string `json:"parity,omitempty"`
	DataBits int    `json:"data_bits,omitempty"`
	StopBits int    `json:"stop_bits,omitempty"`
	// TimeoutMS bounds each print job and status query, in milliseconds; 0 means 5000.
	TimeoutMS int `json:"timeout_ms,omitempty"`
}

// Validate checks the config and fills in defaults, naming the bad key.
func (c *Config) Validate() error {
	switch c.Transport {
	case USB, Serial, File:
		if c.Path == "" {
			return fmt.Errorf("printer: hw.printer.path is empty; the %s transport needs a device or file path", c.Transport)
		}
		if c.Address != "" {
			return fmt.Errorf("printer: hw.printer.address is set but the transport is %s; use path", c.Transport)
		}
	case TCP:
		if c.Address == "" {
			return fmt.Errorf("printer: hw.printer.address is empty; give the printer's host or host:9100")
		}
		if _, _, err := net.SplitHostPort(c.Address); err != nil {
			c.Address = net.JoinHostPort(c.Address, "9100")
		}
		if c.Path != "" {
			return fmt.Errorf("printer: hw.printer.path is set but the transport is tcp; use address")
		}
	default:
		return fmt.Errorf("printer: hw.printer.transport %q unknown; use usb, serial, tcp or file", c.Transport)
	}
	if c.Transport != Serial && (c.Baud != 0 || c.Parity != "" || c.DataBits != 0 || c.StopBits != 0) {
		return fmt.Errorf("printer: hw.printer baud, parity, data_bits and stop_bits apply to the serial transport only")
	}
	if c.Transport == Serial {
		if c.Baud == 0 {
			c.Baud = 9600
		}
		if c.Parity == "" {
			c.Parity = "none"
		}
		if c.DataBits == 0 {
			c.DataBits = 8
		}
		if c.StopBits == 0 {
			c.StopBits = 1
		}
		if c.Baud < 1200 || c.Baud > 921600 {
			return fmt.Errorf("printer: hw.printer.baud %d out of range; printers use 9600 to 115200", c.Baud)
		}
		if c.Parity != "none" && c.Parity != "even" && c.Parity != "odd" {
			return fmt.Errorf("printer: hw.printer.parity %q unknown; use none, even or odd", c.Parity)
		}
		if c.DataBits != 7 && c.DataBits != 8 {
			return fmt.Errorf("printer: hw.printer.data_bits %d unsupported; use 7 or 8", c.DataBits)
		}
		if c.StopBits != 1 && c.StopBits != 2 {
			return fmt.Errorf("printer: hw.printer.stop_bits %d unsupported; use 1 or 2", c.StopBits)
		}
	}
	if c.TimeoutMS < 0 || c.TimeoutMS > 60000 {
		return fmt.Errorf("printer: hw.printer.timeout_ms %d out of range; use 0 (default 5000) to 60000", c.TimeoutMS)
	}
	return nil
}

func (c Config) timeout() time.Duration {
	if c.TimeoutMS == 0 {
		return DefaultTimeout
	}
	return time.Duration(c.TimeoutMS) * time.Millisecond
}

// where names the printer in messages: its device, file or address.
func (c Config) where() string {
	if c.Transport == TCP {
		return c.Address
	}
	return c.Path
}
