// Package pcsctest gives integration tests a slot of the vpcd virtual reader behind
// a real pcscd. vpcd has two slots and go test runs packages in parallel processes,
// so a slot is held with an exclusive file lock for the whole test.
package pcsctest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ebfe/scard"

	"github.com/mynagate/mynagate/internal/testenv"
)

// VPCDPorts are the TCP ports vsmartcard-vpcd listens on, one per slot.
var VPCDPorts = [2]int{35963, 35964}

// ReaderName returns the PC/SC name pcscd gives vpcd's slot n.
func ReaderName(slot int) string { return fmt.Sprintf("Virtual PCD 00 %02d", slot) }

// Slot is a vpcd slot held by one test.
type Slot struct {
	// N is the slot number, 0 or 1.
	N int
	// Addr is where a virtual card connects (host:port).
	Addr string
	// Reader is the PC/SC reader name of the slot.
	Reader string
}

// Acquire ensures pcscd runs with the vpcd driver and locks slot n for the test.
func Acquire(t testing.TB, n int) Slot {
	t.Helper()
	EnsurePCSCD(t)
	lock(t, filepath.Join(os.TempDir(), fmt.Sprintf("mynagate-vpcd-slot%d.lock", n)))
	return Slot{N: n, Addr: fmt.Sprintf("127.0.0.1:%d", VPCDPorts[n]), Reader: ReaderName(n)}
}

// EnsurePCSCD starts pcscd in the background if vpcd's port is not listening. It
// is left running for the next tests; scripts/test starts it the same way.
func EnsurePCSCD(t testing.TB) {
	t.Helper()
	unlock := lock(t, filepath.Join(os.TempDir(), "mynagate-pcscd-start.lock"))
	defer unlock()
	if listening(VPCDPorts[0]) {
		waitReaders(t)
		return
	}
	bin := testenv.LookPath(t, "pcscd", "pcscd")
	if _, err := os.Stat("/usr/lib/pcsc/drivers/serial/libifdvpcd.so"); err != nil {
		testenv.Unavailable(t, "vpcd driver missing; install the Debian package vsmartcard-vpcd")
	}
	cmd := exec.Command(bin, "--foreground")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start pcscd: %v", err)
	}
	go cmd.Wait() //nolint:errcheck // reaped only; pcscd outlives the test on purpose
	deadline := time.Now().Add(10 * time.Second)
	for !listening(VPCDPorts[0]) {
		if time.Now().After(deadline) {
			t.Fatalf("pcscd started but vpcd port %d never listened; is /etc/reader.conf.d/vpcd present?", VPCDPorts[0])
		}
		time.Sleep(50 * time.Millisecond)
	}
	waitReaders(t)
}

// waitReaders waits until pcscd answers clients and lists vpcd's readers:
// pcscd opens the driver's port before its own socket, so a test that went
// on at the port alone met "Service not available" on a busy machine.
func waitReaders(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		err := readersListed()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("pcscd is running but not serving vpcd's readers: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func readersListed() error {
	sc, err := scard.EstablishContext()
	if err != nil {
		return err
	}
	defer sc.Release()
	names, err := sc.ListReaders()
	if err != nil {
		return err
	}
	for _, want := range []string{ReaderName(0), ReaderName(1)} {
		if !slices.Contains(names, want) {
			return fmt.Errorf("%q not listed (have %q)", want, names)
		}
	}
	return nil
}

// listening reads the kernel's socket table rather than dialling: a connection to
// vpcd's port is a card insertion.
func listening(port int) bool {
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(table)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) > 3 && strings.HasSuffix(f[1], fmt.Sprintf(":%04X", port)) && f[3] == "0A" {
				return true
			}
		}
	}
	return false
}

// lock takes an exclusive lock on path for the rest of the test; the returned
// function releases it early.
func lock(t testing.TB, path string) (unlock func()) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		t.Fatalf("open lock %s: %v", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		t.Fatalf("lock %s: %v", path, err)
	}
	t.Cleanup(func() { f.Close() })
	return func() { f.Close() }
}

// AcquireAll locks both vpcd slots, for tests that use two readers at once or
// that stop and restart pcscd (no other test may be using it then). Slots are
// always locked in order, so AcquireAll cannot deadlock with Acquire.
func AcquireAll(t testing.TB) [2]Slot {
	t.Helper()
	return [2]Slot{Acquire(t, 0), Acquire(t, 1)}
}

// RestartPCSCD stops pcscd and starts it again, as an operator's `systemctl
// restart pcscd` or a crash would. Hold AcquireAll first.
func RestartPCSCD(t testing.TB) {
	t.Helper()
	StopPCSCD(t)
	EnsurePCSCD(t)
}

// StopPCSCD stops pcscd and waits until it is gone. Hold AcquireAll first.
func StopPCSCD(t testing.TB) {
	t.Helper()
	if out, err := exec.Command("pkill", "-x", "pcscd").CombinedOutput(); err != nil {
		t.Fatalf("stop pcscd: %v: %s", err, out)
	}
	deadline := time.Now().Add(30 * time.Second)
	// Wait for the port, not the process: where PID 1 does not reap orphans
	// (containers), a killed pcscd lingers as a zombie that pgrep still lists.
	for listening(VPCDPorts[0]) {
		if time.Now().After(deadline) {
			t.Fatal("pcscd did not stop within 30 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
