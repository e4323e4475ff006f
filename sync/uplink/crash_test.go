package uplink

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/mynagate/mynagate/event"
	"github.com/mynagate/mynagate/internal/mqtttest"
	"github.com/mynagate/mynagate/sync/outbox"
)

// The crash child is this test binary re-executed: it appends a burst of taps
// from many goroutines while its uplink publishes, printing each event id once
// Append returned, until the parent kills it with SIGKILL.
const (
	envChild  = "MYNAGATE_UPLINK_CRASH_CHILD"
	envPath   = "MYNAGATE_UPLINK_CRASH_OUTBOX"
	envBroker = "MYNAGATE_UPLINK_CRASH_BROKER"
	envRound  = "MYNAGATE_UPLINK_CRASH_ROUND"
)

func TestMain(m *testing.M) {
	if os.Getenv(envChild) == "1" {
		crashChild()
		return
	}
	os.Exit(m.Run())
}

func crashChild() {
	ob, err := outbox.Open(os.Getenv(envPath), outbox.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	up, err := New(Config{Broker: os.Getenv(envBroker), Site: "stadium", Gate: "g1"}, ob, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	go up.Run(context.Background())
	out := bufio.NewWriter(os.Stdout)
	var mu sync.Mutex
	var wg sync.WaitGroup
	const workers, each = 20, 500 // a 10,000-tap burst
	round := os.Getenv(envRound)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				e := &event.Event{ID: fmt.Sprintf("crash-%s-%02d-%04d", round, w, i), At: time.Now(), Site: "stadium", Gate: "g1",
					Kind: event.KindEntry, Decision: event.Admit, Reason: event.ReasonAdmit, Assurance: "pinless"}
				if err := ob.Append(context.Background(), e); err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(3)
				}
				mu.Lock()
				fmt.Fprintln(out, e.ID)
				out.Flush()
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	select {} // wait for the kill
}

// TestKill9MidBurstLosesNothing kills the child twice in the middle of a burst,
// checks the bbolt file after each kill, then drains: every tap whose Append
// returned reaches the subscriber, each id once after dedupe, in seq order.
func TestKill9MidBurstLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns child processes")
	}
	b := mqtttest.Start(t)
	sub := mqtttest.Subscribe(t, b.Addr(), "mynagate/v1/stadium/g1/events")
	mqtttest.StartReceipter(t, b.Addr(), DefaultPrefix)
	path := filepath.Join(t.TempDir(), "outbox.db")
	acked := map[string]bool{}
	for round := range 2 {
		ids := runAndKill(t, path, b.Addr(), round, 4000)
		for _, id := range ids {
			acked[id] = true
		}
		checkBolt(t, path)
	}
	ob := newOutbox2(t, path)
	run(t, Config{Broker: b.Addr(), Site: "stadium", Gate: "g1"}, ob)
	last, err := ob.LastSeq()
	if err != nil {
		t.Fatal(err)
	}
	msgs, ok := sub.WaitFor(120*time.Second, distinctAtLeast(t, int(last)))
	got := dedupe(t, msgs)
	if !ok {
		t.Fatalf("drained %d distinct events of %d", len(got), last)
	}
	// Each event arrives; the receipted ones before a kill were deleted
	// from the outbox, so they are not sent again.
	seen := map[string]bool{}
	seqs := make([]bool, last+1)
	for _, e := range got {
		if e.Seq == 0 || e.Seq > last || seqs[e.Seq] {
			t.Fatalf("distinct event with seq %d: out of range or twice", e.Seq)
		}
		seqs[e.Seq] = true
		seen[e.ID] = true
	}
	for id := range acked {
		if !seen[id] {
			t.Fatalf("tap %s was acknowledged to the caller but never reached the subscriber", id)
		}
	}
	t.Logf("%d taps acknowledged before the kills, %d stored, %d messages (with duplicates) received", len(acked), last, len(msgs))
	waitBacklog(t, ob, 0)
}

// runAndKill starts the child and kills it after it reported n appended taps.
func runAndKill(t *testing.T, path, broker string, round, n int) []string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envChild+"=1", envPath+"="+path, envBroker+"="+broker, fmt.Sprintf("%s=%d", envRound, round))
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var ids []string
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		ids = append(ids, sc.Text())
		if len(ids) == n {
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
		}
	}
	err = cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child ended with %v before the kill (reported %d taps)", err, len(ids))
	}
	return ids
}

// checkBolt runs bbolt's consistency check on the file left by a kill.
func checkBolt(t *testing.T, path string) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("reopen after kill: %v", err)
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatalf("bbolt consistency check after kill: %v", err)
	}
}

func newOutbox2(t *testing.T, path string) *outbox.Outbox {
	t.Helper()
	ob, err := outbox.Open(path, outbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ob.Close() })
	return ob
}

// TestBrokerStoppedDuringBurst stops the broker while taps are appended and
// starts it again: the backlog drains, nothing lost, in seq order but for the
// events in flight at the crash.
func TestBrokerStoppedDuringBurst(t *testing.T) {
	b := mqtttest.Start(t)
	sub := mqtttest.Subscribe(t, b.Addr(), "mynagate/v1/stadium/g1/events")
	mqtttest.StartReceipter(t, b.Addr(), DefaultPrefix)
	ob := newOutbox(t)
	run(t, Config{Broker: b.Addr(), Site: "stadium", Gate: "g1", MaxReconnectInterval: time.Second, ConfirmTimeout: 2 * time.Second}, ob)
	const n = 2000
	// A burst from several lanes; the broker stops a third of the way in.
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < n; i += 8 {
				if i == n/3 {
					b.Stop()
				}
				errs <- ob.Append(context.Background(), testEvent(i+1))
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	b.Restart()
	msgs, ok := sub.WaitFor(120*time.Second, distinctAtLeast(t, n))
	got := dedupe(t, msgs)
	if !ok {
		t.Fatalf("drained %d distinct of %d", len(got), n)
	}
	// Every event arrives. Their first sightings are in seq order except
	// around the crash: the events the broker had not passed on when it
	// went down come again when their receipts are overdue, after later
	// ones; at most one hub window of events is out of order. The hub
	// orders by seq.
	seen := make([]bool, n+1)
	for i, e := range got {
		if e.Seq < 1 || e.Seq > n || seen[e.Seq] {
			t.Fatalf("distinct event %d has seq %d: out of range or twice", i, e.Seq)
		}
		seen[e.Seq] = true
		if d := int(e.Seq) - (i + 1); d > hubWindow || d < -hubWindow {
			t.Fatalf("distinct event %d has seq %d: further out of order than the %d-event window", i, e.Seq, hubWindow)
		}
	}
	waitBacklog(t, ob, 0)
}
