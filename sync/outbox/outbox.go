// Package outbox is a gate's durable journal of decided taps: every event is
// committed to a bbolt file (fsync'd) before Append returns, numbered gap-free per
// gate, and kept until the hub has confirmed it stored it (a receipt, see
// sync/receipts): a broker's acknowledgement alone deletes nothing.
//
// Concurrent Appends are grouped into one transaction (group commit), so a burst
// of taps pays one fsync per group, not one per tap. The outbox is the only buffer
// between a tap and the hub: nothing is held only in memory.
package outbox

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/mynagate/mynagate/event"
	"github.com/mynagate/mynagate/sync/receipts"
)

var (
	bucketEvents = []byte("events")
	bucketMeta   = []byte("meta")
	keyLastSeq   = []byte("last_seq")
)

// maxGroup bounds how many requests share one transaction, so that one huge
// burst does not make a single transaction (and its page writes) unbounded.
const maxGroup = 4096

// ErrClosed is returned by calls on a closed Outbox.
var ErrClosed = errors.New("outbox: closed")

// ErrFull means a tap cannot be recorded: the outbox's disk budget is spent or
// the file system is full (ENOSPC). Append wraps it (errors.Is(err, ErrFull));
// the event was not stored and got no sequence number. What the gate does then
// is the agent's policy per mode (a venue gate refuses entry, a shelter admits
// and raises an alarm); the outbox never drops an older tap to make room.
var ErrFull = errors.New("outbox: full, cannot record")

// DefaultWarnAt are the fractions of MaxBytes at which a warning is logged.
var DefaultWarnAt = []float64{0.5, 0.8, 0.95}

// Options tunes an Outbox. The zero value is valid.
type Options struct {
	// Logger receives warnings (disk budget); nil discards them.
	Logger *slog.Logger
	// MaxBytes is the disk budget: bytes of the file in use by events, not
	// counting free pages bbolt will reuse. When it is reached, Append fails
	// with ErrFull until acknowledged events free space. One commit group
	// may overshoot it by a few megabytes. Zero means no budget (ENOSPC still
	// yields ErrFull).
	MaxBytes int64
	// WarnAt lists fractions of MaxBytes at which a warning is logged when
	// use rises past them; nil means DefaultWarnAt.
	WarnAt []float64
}

// Usage is the outbox's disk use.
type Usage struct {
	// FileBytes is the file's size; UsedBytes excludes free pages.
	FileBytes, UsedBytes int64
	// MaxBytes is the budget (0: none).
	MaxBytes int64
	// DiskFreeBytes is what the file system holding the outbox has left for
	// it (-1 when it cannot be read).
	DiskFreeBytes int64
	// Full is true while Append fails with ErrFull: the budget is spent, or
	// the last commit met a full disk (ENOSPC) and none has succeeded since.
	Full bool
}

// Outbox is the durable queue of events waiting for the uplink. It is safe for
// concurrent use.
type Outbox struct {
	db     *bolt.DB
	dir    string
	log    *slog.Logger
	reqs   chan *request
	notify chan struct{}

	mu    sync.Mutex // guards count, usage and noSpace
	count int
	usage Usage
	// overBudget is set while the used bytes exceed MaxBytes: appends are
	// refused without trying. noSpace is set when a commit failed with
	// ENOSPC and cleared by the next commit that succeeds; appends are still
	// tried, since space may have been freed meanwhile.
	overBudget, noSpace bool
	// warned is the highest WarnAt index crossed, -1 for none.
	warned int
	warnAt []float64
	// rw makes Close wait for submitters that passed the closed check, so
	// that no request is queued after the writer's final drain.
	rw      sync.RWMutex
	closed  bool
	stop    chan struct{}
	stopped chan struct{}
}

// request is one Append or Ack handed to the writer goroutine.
type request struct {
	ev   *event.Event       // Append when non-nil
	acks []receipts.Receipt // Ack otherwise
	done chan error
}

// Open opens (creating if needed) the outbox file at path, mode 0600, with fsync
// on every commit. Only one process may hold it: a second Open waits up to a
// second for the file lock and then fails.
func Open(path string, opt Options) (*Outbox, error) {
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return nil, fmt.Errorf("outbox: open %s: %w; is another gateagent running on this file?", path, err)
	}
	o := &Outbox{
		db:      db,
		dir:     filepath.Dir(path),
		log:     log,
		warned:  -1,
		warnAt:  opt.WarnAt,
		usage:   Usage{MaxBytes: opt.MaxBytes},
		reqs:    make(chan *request, maxGroup),
		notify:  make(chan struct{}, 1),
		stop:    make(chan struct{}),
		stopped: make(chan struct{}),
	}
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketEvents)
		if err != nil {
			return err
		}
		if _, err := tx.CreateBucketIfNotExists(bucketMeta); err != nil {
			return err
		}
		o.count = b.Stats().KeyN
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("outbox: initialise %s: %w", path, err)
	}
	if o.warnAt == nil {
		o.warnAt = DefaultWarnAt
	}
	o.measure()
	go o.writer()
	return o, nil
}

// Append assigns e.Seq (the next number of this gate, persisted) and returns once
// the event is durably committed. ctx bounds only the wait for a place in the
// write queue: once queued, Append waits for the commit, so that a caller never
// sees an error for a tap that is on disk. On error e.Seq is left zero and no
// sequence number is consumed.
func (o *Outbox) Append(ctx context.Context, e *event.Event) error {
	if e == nil {
		return errors.New("outbox: append: nil event")
	}
	r := &request{ev: e, done: make(chan error, 1)}
	if err := o.submit(ctx, r); err != nil {
		return err
	}
	return <-r.done
}

// Ack deletes the events the hub has receipted: each receipt deletes the event
// with its seq only if that event has its id, so a stale receipt (meant for an
// outbox this gate had before its disk was wiped) deletes nothing. Unknown
// receipts are ignored, so acknowledging twice is harmless. Concurrent Acks
// share a commit with each other and with Appends.
func (o *Outbox) Ack(rs ...receipts.Receipt) error {
	if len(rs) == 0 {
		return nil
	}
	r := &request{acks: rs, done: make(chan error, 1)}
	if err := o.submit(context.Background(), r); err != nil {
		return err
	}
	return <-r.done
}

func (o *Outbox) submit(ctx context.Context, r *request) error {
	o.rw.RLock()
	defer o.rw.RUnlock()
	if o.closed {
		return ErrClosed
	}
	select {
	case o.reqs <- r:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("outbox: append: %w; the tap was not recorded", ctx.Err())
	}
}

// writer is the only goroutine that writes: it takes whatever requests are
// queued (at least one) and commits them in one transaction. While a commit's
// fsync runs, the next group queues up, which is what makes a burst cheap.
func (o *Outbox) writer() {
	defer close(o.stopped)
	group := make([]*request, 0, maxGroup)
	for {
		group = group[:0]
		select {
		case r := <-o.reqs:
			group = append(group, r)
		case <-o.stop:
			o.drain()
			return
		}
	more:
		for len(group) < maxGroup {
			select {
			case r := <-o.reqs:
				group = append(group, r)
			default:
				break more
			}
		}
		o.commit(group)
	}
}

// drain commits what was queued before Close.
func (o *Outbox) drain() {
	for {
		group := make([]*request, 0, maxGroup)
	more:
		for len(group) < maxGroup {
			select {
			case r := <-o.reqs:
				group = append(group, r)
			default:
				break more
			}
		}
		if len(group) == 0 {
			return
		}
		o.commit(group)
	}
}

func (o *Outbox) commit(group []*request) {
	o.mu.Lock()
	full := o.overBudget
	o.mu.Unlock()
	if full {
		// Refuse the appends but still process acks: they are what frees
		// the space.
		kept := group[:0:0]
		for _, r := range group {
			if r.ev != nil {
				r.done <- fmt.Errorf("outbox: append: %w: %d of %d budget bytes in use; the tap was not recorded, restore the uplink so that the backlog drains or raise the budget", ErrFull, o.Usage().UsedBytes, o.Usage().MaxBytes)
				continue
			}
			kept = append(kept, r)
		}
		group = kept
		if len(group) == 0 {
			return
		}
	}
	var added, deleted int
	err := o.db.Update(func(tx *bolt.Tx) error {
		added, deleted = 0, 0
		b := tx.Bucket(bucketEvents)
		meta := tx.Bucket(bucketMeta)
		var last uint64
		if v := meta.Get(keyLastSeq); len(v) == 8 {
			last = binary.BigEndian.Uint64(v)
		}
		for _, r := range group {
			if r.ev != nil {
				last++
				r.ev.Seq = last
				val, err := json.Marshal(r.ev)
				if err != nil {
					return fmt.Errorf("encode event %s: %w", r.ev.ID, err)
				}
				if err := b.Put(seqKey(last), val); err != nil {
					return err
				}
				added++
				continue
			}
			for _, rc := range r.acks {
				k := seqKey(rc.Seq)
				v := b.Get(k)
				if v == nil || storedID(v) != rc.ID {
					continue
				}
				if err := b.Delete(k); err != nil {
					return err
				}
				deleted++
			}
		}
		return meta.Put(keyLastSeq, seqKey(last))
	})
	if err != nil {
		if errors.Is(err, syscall.ENOSPC) {
			o.mu.Lock()
			if !o.noSpace {
				o.log.Error("outbox: the disk is full; new taps cannot be recorded until space is freed", "dir", o.dir, "backlog", o.count)
			}
			o.noSpace = true
			o.usage.Full = true
			o.mu.Unlock()
			err = fmt.Errorf("outbox: commit: %w: %w; the tap was not recorded, free disk space", ErrFull, err)
		} else {
			err = fmt.Errorf("outbox: commit: %w; the tap was not recorded, check the disk", err)
		}
		for _, r := range group {
			if r.ev != nil {
				r.ev.Seq = 0
			}
			r.done <- err
		}
		return
	}
	o.mu.Lock()
	o.count += added - deleted
	if o.noSpace {
		o.noSpace = false
		o.log.Info("outbox: the disk takes writes again; taps are recorded", "dir", o.dir)
	}
	o.mu.Unlock()
	o.measure()
	// Signal before answering, so that a caller who saw Append return also
	// finds the signal.
	if added > 0 {
		select {
		case o.notify <- struct{}{}:
		default:
		}
	}
	for _, r := range group {
		r.done <- nil
	}
}

// measure refreshes Usage after a commit and logs crossings of the warning
// levels, which look at the budget and at the disk's free space alike: a
// budget of 512 MiB on a card with 40 MiB left warns as the card fills.
func (o *Outbox) measure() {
	var size int64
	_ = o.db.View(func(tx *bolt.Tx) error { size = tx.Size(); return nil })
	st := o.db.Stats()
	used := size - int64(st.FreePageN+st.PendingPageN)*int64(o.db.Info().PageSize)
	free := diskFree(o.dir)
	o.mu.Lock()
	defer o.mu.Unlock()
	o.usage.FileBytes, o.usage.UsedBytes, o.usage.DiskFreeBytes = size, used, free
	var frac float64
	if o.usage.MaxBytes > 0 {
		frac = float64(used) / float64(o.usage.MaxBytes)
	}
	if free >= 0 && used+free > 0 {
		frac = max(frac, float64(used)/float64(used+free))
	}
	level := -1
	for i, w := range o.warnAt {
		if frac >= w {
			level = i
		}
	}
	if level > o.warned {
		o.log.Warn("outbox: journal space filling; is the uplink down? taps are refused once it is full",
			"used_bytes", used, "max_bytes", o.usage.MaxBytes, "disk_free_bytes", free, "percent", int(frac*100), "backlog", o.count)
	} else if level < o.warned {
		o.log.Info("outbox: journal space back down", "used_bytes", used, "max_bytes", o.usage.MaxBytes, "disk_free_bytes", free, "percent", int(frac*100))
	}
	o.warned = level
	wasFull := o.overBudget
	o.overBudget = o.usage.MaxBytes > 0 && used >= o.usage.MaxBytes
	if o.overBudget && !wasFull {
		o.log.Error("outbox: disk budget spent; new taps cannot be recorded until the backlog drains",
			"used_bytes", used, "max_bytes", o.usage.MaxBytes, "backlog", o.count)
	} else if wasFull && !o.overBudget {
		o.log.Info("outbox: disk budget available again; taps are recorded")
	}
	o.usage.Full = o.overBudget || o.noSpace
}

// diskFree returns the bytes an unprivileged writer may still use on the file
// system holding dir, or -1 when it cannot be read.
func diskFree(dir string) int64 {
	var fs syscall.Statfs_t
	if err := syscall.Statfs(dir, &fs); err != nil {
		return -1
	}
	return int64(fs.Bavail) * int64(fs.Bsize)
}

// Usage returns the outbox's disk use and whether it is full.
func (o *Outbox) Usage() Usage {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.usage
}

// Pending returns up to max events with a sequence number above afterSeq, in
// sequence order.
func (o *Outbox) Pending(afterSeq uint64, max int) ([]event.Event, error) {
	var out []event.Event
	err := o.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketEvents).Cursor()
		for k, v := c.Seek(seqKey(afterSeq + 1)); k != nil && len(out) < max; k, v = c.Next() {
			var e event.Event
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("decode event seq %d: %w", binary.BigEndian.Uint64(k), err)
			}
			out = append(out, e)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("outbox: pending: %w", err)
	}
	return out, nil
}

// Backlog returns how many events wait for acknowledgement and the tap time of
// the oldest (zero when none wait).
func (o *Outbox) Backlog() (n int, oldest time.Time) {
	o.mu.Lock()
	n = o.count
	o.mu.Unlock()
	_ = o.db.View(func(tx *bolt.Tx) error {
		_, v := tx.Bucket(bucketEvents).Cursor().First()
		if v == nil {
			return nil
		}
		var e struct {
			At time.Time `json:"at"`
		}
		if json.Unmarshal(v, &e) == nil {
			oldest = e.At
		}
		return nil
	})
	return n, oldest
}

// LastSeq returns the last sequence number assigned (0 before the first event).
func (o *Outbox) LastSeq() (uint64, error) {
	var last uint64
	err := o.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketMeta).Get(keyLastSeq); len(v) == 8 {
			last = binary.BigEndian.Uint64(v)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("outbox: last seq: %w", err)
	}
	return last, nil
}

// Notify returns a channel that receives a signal after appended events are
// committed. Signals coalesce (capacity one): after a receive, read Pending until
// it is empty. Meant for one consumer, the uplink.
func (o *Outbox) Notify() <-chan struct{} { return o.notify }

// Close waits for queued writes, then closes the file. Calls after Close return
// ErrClosed.
func (o *Outbox) Close() error {
	o.rw.Lock()
	if o.closed {
		o.rw.Unlock()
		return nil
	}
	o.closed = true
	o.rw.Unlock()
	close(o.stop)
	<-o.stopped
	if err := o.db.Close(); err != nil {
		return fmt.Errorf("outbox: close: %w", err)
	}
	return nil
}

func seqKey(s uint64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], s)
	return k[:]
}

// storedID returns the id of a stored event without decoding the rest.
func storedID(v []byte) string {
	var e struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(v, &e) != nil {
		return ""
	}
	return e.ID
}
