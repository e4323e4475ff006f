package outbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mynagate/mynagate/event"
	"github.com/mynagate/mynagate/internal/testenv"
	"github.com/mynagate/mynagate/sync/receipts"
)

func testEvent(i int) *event.Event {
	return &event.Event{
		ID:        fmt.Sprintf("01JTEST%019d", i),
		At:        time.Date(2026, 11, 25, 9, 0, 0, i, time.UTC),
		Site:      "stadium",
		Gate:      "g1",
		Kind:      event.KindEntry,
		Decision:  event.Admit,
		Reason:    event.ReasonAdmit,
		Assurance: "pinless",
	}
}

// rc returns the receipts the hub would send for testEvent(seq), seq by seq.
func rc(seqs ...uint64) []receipts.Receipt {
	out := make([]receipts.Receipt, len(seqs))
	for i, s := range seqs {
		out[i] = receipts.Receipt{Seq: s, ID: testEvent(int(s)).ID}
	}
	return out
}

func open(t *testing.T, path string) *Outbox {
	t.Helper()
	o, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close() })
	return o
}

func TestAppendAssignsGapFreeSeqAndPersists(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.db")
	o := open(t, path)
	for i := 1; i <= 3; i++ {
		e := testEvent(i)
		if err := o.Append(context.Background(), e); err != nil {
			t.Fatal(err)
		}
		if e.Seq != uint64(i) {
			t.Fatalf("event %d got seq %d", i, e.Seq)
		}
	}
	if err := o.Ack(rc(1, 2, 3)...); err != nil {
		t.Fatal(err)
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("file mode %v, want 0600", fi.Mode().Perm())
	}
	// The counter survives reopening even when every event was acknowledged.
	o = open(t, path)
	e := testEvent(4)
	if err := o.Append(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	if e.Seq != 4 {
		t.Fatalf("after reopen got seq %d, want 4", e.Seq)
	}
}

func TestPendingAckBacklog(t *testing.T) {
	o := open(t, filepath.Join(t.TempDir(), "outbox.db"))
	for i := 1; i <= 10; i++ {
		if err := o.Append(context.Background(), testEvent(i)); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		after    uint64
		max      int
		wantSeqs []uint64
	}{
		{0, 3, []uint64{1, 2, 3}},
		{8, 5, []uint64{9, 10}},
		{10, 5, nil},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("after%d_max%d", tc.after, tc.max), func(t *testing.T) {
			got, err := o.Pending(tc.after, tc.max)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.wantSeqs) {
				t.Fatalf("got %d events, want %d", len(got), len(tc.wantSeqs))
			}
			for i, e := range got {
				if e.Seq != tc.wantSeqs[i] || e.ID != testEvent(int(e.Seq)).ID {
					t.Errorf("event %d: seq %d id %s", i, e.Seq, e.ID)
				}
			}
		})
	}
	if err := o.Ack(rc(1, 2, 5, 99)...); err != nil {
		t.Fatal(err)
	}
	n, oldest := o.Backlog()
	if n != 7 || !oldest.Equal(testEvent(3).At) {
		t.Fatalf("backlog %d oldest %v, want 7 and %v", n, oldest, testEvent(3).At)
	}
	got, _ := o.Pending(0, 100)
	if len(got) != 7 || got[0].Seq != 3 || got[2].Seq != 6 {
		t.Fatalf("after ack pending = %v", got)
	}
	if err := o.Ack(rc(1, 2)...); err != nil {
		t.Fatalf("acknowledging twice: %v", err)
	}
}

func TestConcurrentBurstIsGapFree(t *testing.T) {
	o := open(t, filepath.Join(t.TempDir(), "outbox.db"))
	const workers, each = 50, 200
	var wg sync.WaitGroup
	seen := make([]bool, workers*each+1)
	var mu sync.Mutex
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				e := testEvent(w*each + i)
				if err := o.Append(context.Background(), e); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if e.Seq == 0 || e.Seq >= uint64(len(seen)) || seen[e.Seq] {
					t.Errorf("bad or duplicate seq %d", e.Seq)
				} else {
					seen[e.Seq] = true
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	n, _ := o.Backlog()
	if n != workers*each {
		t.Fatalf("backlog %d, want %d", n, workers*each)
	}
	got, err := o.Pending(0, workers*each+10)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range got {
		if e.Seq != uint64(i+1) {
			t.Fatalf("pending[%d].Seq = %d", i, e.Seq)
		}
	}
}

func TestNotifySignalsAfterCommit(t *testing.T) {
	o := open(t, filepath.Join(t.TempDir(), "outbox.db"))
	if err := o.Append(context.Background(), testEvent(1)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-o.Notify():
	default:
		t.Fatal("no signal after a committed append")
	}
	got, _ := o.Pending(0, 10)
	if len(got) != 1 {
		t.Fatalf("signalled but pending has %d events", len(got))
	}
}

func TestClosed(t *testing.T) {
	o := open(t, filepath.Join(t.TempDir(), "outbox.db"))
	o.Close()
	e := testEvent(1)
	if err := o.Append(context.Background(), e); !errors.Is(err, ErrClosed) {
		t.Fatalf("append after close: %v", err)
	}
	if e.Seq != 0 {
		t.Fatalf("failed append left seq %d", e.Seq)
	}
}

func TestSecondOpenFailsWithHint(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.db")
	open(t, path)
	_, err := Open(path, Options{})
	if err == nil {
		t.Fatal("second open of a held file succeeded")
	}
}

func BenchmarkAppendParallel(b *testing.B) {
	o, err := Open(filepath.Join(b.TempDir(), "outbox.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer o.Close()
	b.SetParallelism(16)
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			i++
			if err := o.Append(context.Background(), testEvent(i)); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func TestBudgetRefusesThenRecovers(t *testing.T) {
	var logs strings.Builder
	log := slog.New(slog.NewTextHandler(&logs, nil))
	o, err := Open(filepath.Join(t.TempDir(), "outbox.db"), Options{Logger: log, MaxBytes: 256 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	var stored []uint64
	var full error
	for i := 1; i < 100000; i++ {
		e := testEvent(i)
		if err := o.Append(context.Background(), e); err != nil {
			full = err
			if e.Seq != 0 {
				t.Fatalf("refused event kept seq %d", e.Seq)
			}
			break
		}
		stored = append(stored, e.Seq)
	}
	if !errors.Is(full, ErrFull) {
		t.Fatalf("filling the budget gave %v, want ErrFull", full)
	}
	if u := o.Usage(); !u.Full || u.UsedBytes < u.MaxBytes {
		t.Fatalf("usage after refusal: %+v", u)
	}
	if n, _ := o.Backlog(); n != len(stored) {
		t.Fatalf("backlog %d, stored %d: an accepted tap went missing", n, len(stored))
	}
	for _, want := range []string{"journal space filling", "disk budget spent"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}
	if err := o.Ack(rc(stored...)...); err != nil {
		t.Fatal(err)
	}
	// Freed pages become reusable once no reader holds them; a second commit
	// makes that visible.
	if err := o.Ack(rc(stored[0])...); err != nil {
		t.Fatal(err)
	}
	e := testEvent(0)
	if err := o.Append(context.Background(), e); err != nil {
		t.Fatalf("append after the backlog drained: %v", err)
	}
	if e.Seq != uint64(len(stored)+1) {
		t.Fatalf("seq after refusals %d, want %d (refusals must not consume numbers)", e.Seq, len(stored)+1)
	}
}

func TestAckNeedsTheEventsID(t *testing.T) {
	o := open(t, filepath.Join(t.TempDir(), "outbox.db"))
	for i := 1; i <= 3; i++ {
		if err := o.Append(context.Background(), testEvent(i)); err != nil {
			t.Fatal(err)
		}
	}
	// A receipt for an earlier outbox's seq 2 (another id) deletes nothing.
	if err := o.Ack(receipts.Receipt{Seq: 2, ID: "01JSTALE000000000000000002"}); err != nil {
		t.Fatal(err)
	}
	if n, _ := o.Backlog(); n != 3 {
		t.Fatalf("backlog %d after a stale receipt, want 3", n)
	}
	if err := o.Ack(rc(2)...); err != nil {
		t.Fatal(err)
	}
	got, _ := o.Pending(0, 10)
	if len(got) != 2 || got[0].Seq != 1 || got[1].Seq != 3 {
		t.Fatalf("pending after receipt for seq 2: %v", got)
	}
}

// TestDiskFullIsReported fills a small tmpfs: the append that meets ENOSPC is
// refused with ErrFull, Usage says Full, the warnings speak of the disk's
// free space although no budget is set, and once space is freed taps are
// recorded again.
func TestDiskFullIsReported(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Unavailable(t, "mounting a small tmpfs needs root")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", dir).CombinedOutput(); err != nil {
		testenv.Unavailable(t, fmt.Sprintf("mount tmpfs: %v: %s", err, out))
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })
	var logs strings.Builder
	var mu sync.Mutex
	o, err := Open(filepath.Join(dir, "outbox.db"), Options{Logger: slog.New(slog.NewTextHandler(&lockedWriter{mu: &mu, w: &logs}, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	filler := filepath.Join(dir, "filler")
	var full error
	var stored int
	for i := 1; i < 100000; i++ {
		e := testEvent(i)
		if err := o.Append(context.Background(), e); err != nil {
			full = err
			break
		}
		stored++
		if i == 200 {
			// Leave the outbox little room: the rest of the disk goes to
			// another file, as a log or a core dump would take it.
			if err := fillDisk(filler); err != nil {
				t.Fatal(err)
			}
		}
	}
	if !errors.Is(full, ErrFull) || !errors.Is(full, syscall.ENOSPC) {
		t.Fatalf("filling the disk gave %v, want ErrFull wrapping ENOSPC", full)
	}
	if u := o.Usage(); !u.Full || u.MaxBytes != 0 {
		t.Fatalf("usage after ENOSPC: %+v, want Full without a budget", u)
	}
	if n, _ := o.Backlog(); n != stored {
		t.Fatalf("backlog %d, stored %d", n, stored)
	}
	mu.Lock()
	for _, want := range []string{"journal space filling", "disk_free_bytes", "the disk is full"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}
	mu.Unlock()
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if err := o.Append(context.Background(), testEvent(100001)); err != nil {
		t.Fatalf("append after space was freed: %v", err)
	}
	if u := o.Usage(); u.Full {
		t.Fatalf("still full after a successful commit: %+v", u)
	}
}

// fillDisk writes to path until the file system is full.
func fillDisk(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for {
		if _, err := f.Write(buf); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				return nil
			}
			return err
		}
	}
}

// lockedWriter serialises log writes with the test's reads.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
