// Package mqtttest gives integration tests a real Mosquitto broker on a free
// loopback port, a subscriber that collects what arrives, and a TCP proxy that
// can cut and restore the network between a client and the broker.
//
// Mosquitto is demanded through testenv: outside CI a missing binary skips the
// test, with CI=true it fails it.
package mqtttest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mynagate/mynagate/internal/testenv"
)

// Broker is a mosquitto process owned by one test. It is stopped at cleanup.
type Broker struct {
	t    testing.TB
	bin  string
	dir  string
	port int

	mu  sync.Mutex
	cmd *exec.Cmd
	log *bytes.Buffer
	// done is closed when the current process has exited.
	done chan struct{}
}

// Start runs mosquitto with a generated configuration in t.TempDir(): anonymous
// access (unless an option, such as WithPasswords, says otherwise; the last
// one applies), loopback only, persistence on (so that persistent sessions
// survive Restart) and generous queue limits so that outage tests never hit
// broker-side drops. The broker's log is printed if the test fails.
func Start(t testing.TB, opts ...Option) *Broker {
	t.Helper()
	return start(t, `autosave_interval 0
max_queued_messages 0
max_inflight_messages 0
max_packet_size 1048576
`, opts)
}

// StartDefault runs mosquitto as a site would run it out of the box: its
// default queue limits (1,000 queued and 20 in-flight messages per client) and
// persistence as Debian ships it, on, autosaved every 1,800 s and on a clean
// stop. Only what a test must have is set: the loopback listener, access (as
// for Start) and where to keep the persistence file. Promises of the delivery
// path are tested against this, not against Start's forgiving limits.
func StartDefault(t testing.TB, opts ...Option) *Broker {
	t.Helper()
	return start(t, "", opts)
}

func start(t testing.TB, settings string, opts []Option) *Broker {
	t.Helper()
	bin := testenv.LookPath(t, "mosquitto", "mosquitto")
	b := &Broker{t: t, bin: bin, dir: t.TempDir(), port: FreePort(t)}
	access := "allow_anonymous true"
	for _, o := range opts {
		access = o(t, b.dir)
	}
	// Run as the invoking user: mosquitto started as root otherwise switches
	// to "mosquitto", which cannot write its persistence file in the test's
	// private temporary directory.
	who := "mosquitto"
	if u, err := user.Current(); err == nil {
		who = u.Username
	}
	conf := fmt.Sprintf(`listener %d 127.0.0.1
user %s
%s
persistence true
persistence_location %s/
log_dest stderr
log_type error
log_type warning
log_type notice
%s`, b.port, who, access, b.dir, settings)
	if err := os.WriteFile(filepath.Join(b.dir, "mosquitto.conf"), []byte(conf), 0o600); err != nil {
		t.Fatalf("mqtttest: write config: %v", err)
	}
	b.start()
	t.Cleanup(func() {
		b.Stop()
		if t.Failed() {
			b.mu.Lock()
			t.Logf("mosquitto log:\n%s", b.log.String())
			b.mu.Unlock()
		}
	})
	return b
}

// Addr returns the broker URL, "tcp://127.0.0.1:PORT".
func (b *Broker) Addr() string { return fmt.Sprintf("tcp://127.0.0.1:%d", b.port) }

// HostPort returns "127.0.0.1:PORT", for a Proxy target or a raw dial.
func (b *Broker) HostPort() string { return fmt.Sprintf("127.0.0.1:%d", b.port) }

// Stop ends the broker gracefully (SIGTERM, so that it saves its persistence
// file) and waits for it. Stopping a stopped broker does nothing.
func (b *Broker) Stop() {
	b.mu.Lock()
	cmd, done := b.cmd, b.done
	b.cmd = nil
	b.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// Kill ends the broker with SIGKILL, as a power cut or the OOM killer would:
// no persistence file is written. Killing a stopped broker does nothing.
func (b *Broker) Kill() {
	b.mu.Lock()
	cmd, done := b.cmd, b.done
	b.cmd = nil
	b.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-done
}

// Restart starts the broker again on the same port with the same persistence
// directory, stopping it first if it runs.
func (b *Broker) Restart() {
	b.t.Helper()
	b.Stop()
	b.start()
}

func (b *Broker) start() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.log == nil {
		b.log = &bytes.Buffer{}
	}
	// The port was just released (or the previous process just exited); a
	// lingering socket makes bind fail for a moment, so retry briefly.
	deadline := time.Now().Add(10 * time.Second)
	for {
		cmd := exec.Command(b.bin, "-c", filepath.Join(b.dir, "mosquitto.conf"))
		cmd.Stdout = &syncWriter{mu: &b.mu, w: b.log}
		cmd.Stderr = cmd.Stdout
		if err := cmd.Start(); err != nil {
			b.t.Fatalf("mqtttest: start mosquitto: %v", err)
		}
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		b.mu.Unlock()
		up := waitListening(b.HostPort(), done, 10*time.Second)
		b.mu.Lock()
		if up {
			b.cmd, b.done = cmd, done
			return
		}
		select {
		case <-done:
		default:
			_ = cmd.Process.Kill()
			<-done
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("mqtttest: mosquitto did not listen on %s; log:\n%s", b.HostPort(), b.log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitListening dials addr until it answers or the process exits.
func waitListening(addr string, exited <-chan struct{}, within time.Duration) bool {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return false
		default:
		}
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// syncWriter serialises writes from the child's output with readers of the log.
type syncWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

// Write appends to the log under the broker's lock.
func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("mqtttest: find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// hostPort strips a tcp:// scheme.
func hostPort(addr string) string { return strings.TrimPrefix(addr, "tcp://") }
