package printer_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mynagate/mynagate/hw/escpos"
	"github.com/mynagate/mynagate/hw/printer"
	"github.com/mynagate/mynagate/hw/printer/printertest"
	"github.com/mynagate/mynagate/hw/receipt"
)

var (
	at   = time.Date(2026, 11, 25, 9, 30, 0, 0, time.UTC)
	seat = receipt.Seat{Event: "ウインターライブ2026", At: at, Gate: "東ゲート3", Seat: "1階 A列 12番", TicketRef: "T-2026-000123"}
	slip = receipt.Shelter{Shelter: "小木中学校 体育館", At: at, CheckinNo: "0123"}
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func mustBytes(t *testing.T, r printer.Receipt) []byte {
	t.Helper()
	b, err := r.ESCPOS()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// listen starts a fake network printer for the test.
func listen(t *testing.T) (*printertest.Server, string) {
	t.Helper()
	s, err := printertest.ListenTCP()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, s.Addr
}

func newPrinter(t *testing.T, cfg printer.Config) *printer.Printer {
	t.Helper()
	p, err := printer.New(cfg, quiet())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// waitFor bounds a wait for bytes the fake printer has yet to read; it only stops
// a hung test and asserts nothing about time.
func waitFor(t *testing.T, fake interface {
	WaitReceived(context.Context, int) ([]byte, error)
}, want []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got, err := fake.WaitReceived(ctx, len(want))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("printer received %d bytes, want %d:\n got % x\nwant % x", len(got), len(want), got, want)
	}
}

func TestTCPPrint(t *testing.T) {
	fake, addr := listen(t)
	p := newPrinter(t, printer.Config{Transport: printer.TCP, Address: addr})
	if err := p.Print(context.Background(), seat); err != nil {
		t.Fatal(err)
	}
	if err := p.Print(context.Background(), slip); err != nil {
		t.Fatal(err)
	}
	waitFor(t, fake, append(mustBytes(t, seat), mustBytes(t, slip)...))
}

func TestTCPStatus(t *testing.T) {
	tests := []struct {
		name  string
		state escpos.Status
		want  string
	}{
		{"ready", escpos.Status{}, "ready"},
		{"paper out", escpos.Status{PaperOut: true}, "paper out: load a new roll"},
		{"cover open", escpos.Status{CoverOpen: true}, "cover open: close the printer cover"},
		{"offline", escpos.Status{Offline: true}, "offline: check the printer's power and error lamp"},
		{"near end", escpos.Status{PaperNearEnd: true}, "paper near end: prepare a new roll"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake, addr := listen(t)
			fake.SetStatus(tt.state)
			p := newPrinter(t, printer.Config{Transport: printer.TCP, Address: addr})
			st, err := p.Status(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if st.String() != tt.want {
				t.Errorf("Status = %q, want %q", st, tt.want)
			}
			err = p.Print(context.Background(), seat)
			var nr *printer.NotReadyError
			if st.Ready() {
				if err != nil {
					t.Fatalf("Print on a ready printer: %v", err)
				}
				waitFor(t, fake, mustBytes(t, seat))
				return
			}
			if !errors.As(err, &nr) || nr.Status != st || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Print = %v, want a NotReadyError saying %q", err, tt.want)
			}
			if n := len(fake.Received()); n != 0 {
				t.Errorf("a printer that is not ready was sent %d bytes; they would come out later for someone else", n)
			}
		})
	}
}

func TestSilentPrinterStillPrints(t *testing.T) {
	fake, addr := listen(t)
	fake.SetMute(true)
	p := newPrinter(t, printer.Config{Transport: printer.TCP, Address: addr, TimeoutMS: 400})
	if _, err := p.Status(context.Background()); !errors.Is(err, printer.ErrNoStatus) {
		t.Errorf("Status of a silent printer = %v, want ErrNoStatus", err)
	}
	if err := p.Print(context.Background(), slip); err != nil {
		t.Fatal(err)
	}
	waitFor(t, fake, mustBytes(t, slip))
}

// huge is a receipt larger than the socket buffers, so sending it blocks on a
// printer that stopped reading.
type huge struct{}

func (huge) ESCPOS() ([]byte, error) { return bytes.Repeat([]byte("x"), 64<<20), nil }

func TestStuckPrinterDoesNotBlock(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 4)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			// Answer status once (ready), then never read again: a jammed printer.
			go func() {
				buf := make([]byte, 12)
				if _, err := io.ReadFull(c, buf); err == nil {
					_, _ = c.Write(printertest.Answers(escpos.Status{}))
				}
			}()
			accepted <- c
		}
	}()
	p := newPrinter(t, printer.Config{Transport: printer.TCP, Address: ln.Addr().String(), TimeoutMS: 300})
	errc := make(chan error, 1)
	go func() { errc <- p.Print(context.Background(), huge{}) }()
	err = <-errc
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Print to a stuck printer = %v, want a deadline error", err)
	}
	if !strings.Contains(err.Error(), "check that the printer is on") {
		t.Errorf("error %q gives the operator no hint", err)
	}
	for len(accepted) > 0 {
		(<-accepted).Close()
	}
}

func TestCallerDeadlineWins(t *testing.T) {
	fake, addr := listen(t)
	fake.SetMute(true)
	p := newPrinter(t, printer.Config{Transport: printer.TCP, Address: addr, TimeoutMS: 60000})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.Print(ctx, seat); !errors.Is(err, context.Canceled) {
		t.Errorf("Print with a cancelled context = %v, want context.Canceled", err)
	}
}

func TestConnectError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	p := newPrinter(t, printer.Config{Transport: printer.TCP, Address: addr})
	err = p.Print(context.Background(), seat)
	if err == nil || !strings.Contains(err.Error(), addr) || !strings.Contains(err.Error(), "check the printer's power") {
		t.Errorf("Print to a closed port = %v, want an error naming %s with a hint", err, addr)
	}
}

func TestSerialOverPTY(t *testing.T) {
	master, slave := openPTY(t)
	fake := &printertest.Printer{}
	fake.SetStatus(escpos.Status{PaperNearEnd: true})
	go func() { _ = fake.Serve(master) }()
	p := newPrinter(t, printer.Config{Transport: printer.Serial, Path: slave, Baud: 19200, Parity: "even", DataBits: 8, StopBits: 1})
	st, err := p.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !st.Ready() || !st.PaperNearEnd {
		t.Errorf("Status over serial = %+v, want ready with paper near end", st)
	}
	if err := p.Print(context.Background(), seat); err != nil {
		t.Fatal(err)
	}
	waitFor(t, fake, mustBytes(t, seat))
}

func TestUSBDeviceOverPTY(t *testing.T) {
	// A pty slave is a pollable character device like /dev/usb/lp0.
	master, slave := openPTY(t)
	fake := &printertest.Printer{}
	fake.SetStatus(escpos.Status{CoverOpen: true})
	go func() { _ = fake.Serve(master) }()
	p := newPrinter(t, printer.Config{Transport: printer.USB, Path: slave})
	err := p.Print(context.Background(), slip)
	var nr *printer.NotReadyError
	if !errors.As(err, &nr) || !nr.Status.CoverOpen {
		t.Fatalf("Print with the cover open = %v, want NotReadyError", err)
	}
	fake.SetStatus(escpos.Status{})
	if err := p.Print(context.Background(), slip); err != nil {
		t.Fatal(err)
	}
	waitFor(t, fake, mustBytes(t, slip))
}

func TestFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "receipts.bin")
	p := newPrinter(t, printer.Config{Transport: printer.File, Path: path})
	for _, r := range []printer.Receipt{seat, slip} {
		if err := p.Print(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := append(mustBytes(t, seat), mustBytes(t, slip)...); !bytes.Equal(got, want) {
		t.Errorf("file holds %d bytes, want the two receipts' %d", len(got), len(want))
	}
	if _, err := p.Status(context.Background()); !errors.Is(err, printer.ErrNoStatus) {
		t.Errorf("Status of a file printer = %v, want ErrNoStatus", err)
	}
}

func TestRenderErrorIsNotSent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "receipts.bin")
	p := newPrinter(t, printer.Config{Transport: printer.File, Path: path})
	if err := p.Print(context.Background(), receipt.Seat{}); err == nil || !strings.HasPrefix(err.Error(), "printer: render: ") {
		t.Errorf("Print of an invalid receipt = %v", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Error("an invalid receipt opened the printer")
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  printer.Config
		want string // "" for valid
	}{
		{"tcp default port", printer.Config{Transport: "tcp", Address: "192.0.2.7"}, ""},
		{"serial defaults", printer.Config{Transport: "serial", Path: "/dev/ttyUSB0"}, ""},
		{"usb", printer.Config{Transport: "usb", Path: "/dev/usb/lp0"}, ""},
		{"unknown transport", printer.Config{Transport: "bluetooth"}, `transport "bluetooth" unknown`},
		{"tcp without address", printer.Config{Transport: "tcp"}, "address is empty"},
		{"usb without path", printer.Config{Transport: "usb"}, "path is empty"},
		{"tcp with path", printer.Config{Transport: "tcp", Address: "p:9100", Path: "/dev/x"}, "use address"},
		{"usb with address", printer.Config{Transport: "usb", Path: "/dev/usb/lp0", Address: "x"}, "use path"},
		{"baud on tcp", printer.Config{Transport: "tcp", Address: "p", Baud: 9600}, "serial transport only"},
		{"bad parity", printer.Config{Transport: "serial", Path: "/dev/ttyS0", Parity: "mark"}, "parity"},
		{"bad baud", printer.Config{Transport: "serial", Path: "/dev/ttyS0", Baud: 12}, "baud"},
		{"bad data bits", printer.Config{Transport: "serial", Path: "/dev/ttyS0", DataBits: 5}, "data_bits"},
		{"bad stop bits", printer.Config{Transport: "serial", Path: "/dev/ttyS0", StopBits: 3}, "stop_bits"},
		{"bad timeout", printer.Config{Transport: "file", Path: "/tmp/r", TimeoutMS: -1}, "timeout_ms"},
	}
	for _, tt := range tests {
		err := tt.cfg.Validate()
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%s: Validate = %v, want %q", tt.name, err, tt.want)
		}
	}
	c := printer.Config{Transport: "tcp", Address: "192.0.2.7"}
	_ = c.Validate()
	if c.Address != "192.0.2.7:9100" {
		t.Errorf("address %q, want port 9100 added", c.Address)
	}
}
