// Package peers keeps a site's shared anti-passback view: who is inside, from
// the admitted entry and exit events of every gate of the site. Each gate
// subscribes to {prefix}/{site}/+/events (its own events included) and feeds
// its own decisions in directly, so that offline it still decides on local
// knowledge; the hub flags conflicts that two disconnected gates created.
//
// A holder is keyed by the event's service id (ticket or resident id) when it
// has one, else by its card key: a holder with a renewed card (new card key,
// same ticket) cannot be inside twice. Events arrive late and out of order
// (a gate's backlog after an outage), so the latest tap time wins per holder:
// an old entry replayed after a newer exit does not put the holder back inside.
package peers

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/mynagate/mynagate/event"
)

var bucketHolders = []byte("holders")

// Presence is what the set knows about one holder.
type Presence struct {
	Inside bool `json:"inside"`
	// At is the tap time of the event that decided it; Since equals At while
	// inside.
	At time.Time `json:"at"`
	// Event is the id of that event, Gate where it happened.
	Event string `json:"event"`
	Gate  string `json:"gate"`
	// Place is the named place (a shelter) the holder is at or left; a
	// check-in at another place moves the holder there.
	Place string `json:"place,omitempty"`
}

// Options tunes Open.
type Options struct {
	// Logger receives refused messages; nil discards them.
	Logger *slog.Logger
	// Retain is how long an "outside" record is kept to order late events
	// (default 48 h); older ones are dropped at Open.
	Retain time.Duration
	// MaxAhead is how far a peer's event may be dated ahead of this gate's
	// clock (default DefaultMaxAhead). A later one is ignored: its gate's
	// clock is wrong, and since the latest tap wins, an entry dated 2099
	// would keep its holder inside for ever. Open drops saved presences
	// dated beyond it for the same reason.
	MaxAhead time.Duration
	// OnFuture, if set, is called for each peer event ignored for its date
	// (the gate counts them in a metric).
	OnFuture func()
}

// DefaultMaxAhead is Options.MaxAhead's default.
const DefaultMaxAhead = 10 * time.Minute

// Set is the site's "inside" set, in memory and persisted in bbolt. Safe for
// concurrent use.
type Set struct {
	db       *bolt.DB
	log      *slog.Logger
	maxAhead time.Duration
	onFuture func()

	mu      sync.Mutex
	holders map[string]Presence
	dirty   map[string]struct{}
	wake    chan struct{}
	stop    chan struct{}
	stopped chan struct{}
}

// Open loads the set from path (created mode 0600 if missing) and starts
// persisting changes.
func Open(path string, opt Options) (*Set, error) {
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opt.Retain <= 0 {
		opt.Retain = 48 * time.Hour
	}
	if opt.MaxAhead <= 0 {
		opt.MaxAhead = DefaultMaxAhead
	}
	if opt.OnFuture == nil {
		opt.OnFuture = func() {}
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return nil, fmt.Errorf("peers: open %s: %w; is another gateagent running on this file?", path, err)
	}
	s := &Set{db: db, log: log.With("component", "peers"), maxAhead: opt.MaxAhead, onFuture: opt.OnFuture, holders: map[string]Presence{}, dirty: map[string]struct{}{},
		wake: make(chan struct{}, 1), stop: make(chan struct{}), stopped: make(chan struct{})}
	now := time.Now()
	cutoff, ahead := now.Add(-opt.Retain), now.Add(opt.MaxAhead)
	future := 0
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketHolders)
		if err != nil {
			return err
		}
		var stale [][]byte
		err = b.ForEach(func(k, v []byte) error {
			var p Presence
			if json.Unmarshal(v, &p) != nil || (!p.Inside && p.At.Before(cutoff)) {
				stale = append(stale, append([]byte(nil), k...))
				return nil
			}
			if p.At.After(ahead) {
				// Saved before MaxAhead was enforced (or under a larger
				// one): kept, it would outrank every real tap of the
				// holder, so the holder is forgotten instead.
				future++
				stale = append(stale, append([]byte(nil), k...))
				return nil
			}
			s.holders[string(k)] = p
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range stale {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("peers: load %s: %w", path, err)
	}
	if future > 0 {
		s.log.Warn("peers: dropped saved presences dated ahead of this gate's clock; a gate's clock was wrong (gateagent doctor)",
			"holders", future, "max_ahead", opt.MaxAhead.String())
	}
	go s.writer()
	return s, nil
}

// Filter returns the subscription filter for a site's events.
func Filter(prefix, site string) string { return prefix + "/" + site + "/+/events" }

// HolderKey returns the key an event's holder is tracked by: the service id
// (with the seat: companions on one order are holders of their own), else the
// card key, else a staff record's slip number at its place, else, for
// a check-in admitted for reconciliation without any card key (a card that
// was no My Number card, a station without its HSM), the event itself, so the
// person is counted in until staff check them out; and for a venue staff
// override (an entry staff let through without a card), the override event,
// so the person it let in is counted inside.
func HolderKey(e *event.Event) string {
	switch {
	case e.ServiceID != "" && e.Seat != "":
		// Companions on one order: each seat is a holder of its own.
		return "s:" + e.ServiceID + "\x1f" + e.Seat // PostgreSQL text holds no NUL
	case e.ServiceID != "":
		return "s:" + e.ServiceID
	case e.Card != "":
		return "c:" + e.Card
	case e.Slip != "":
		return "m:" + e.Place + "/" + e.Slip
	case e.Reconcile && e.Kind == event.KindCheckin:
		return "e:" + e.ID
	case e.Staff != "" && e.Kind == event.KindEntry:
		return "o:" + e.ID
	}
	return ""
}

// Handle takes one event message from a peer (or this gate, echoed by the
// broker). It never blocks on the disk. Use it as the uplink handler for
// Filter(prefix, site). An event dated more than MaxAhead after this gate's
// clock is ignored with one log line.
func (s *Set) Handle(topic string, payload []byte) {
	e, err := event.Decode(payload)
	if err != nil {
		s.log.Warn("peers: ignored undecodable event", "topic", topic, "err", err)
		return
	}
	if ahead := time.Until(e.At); ahead > s.maxAhead {
		s.log.Warn("peers: ignored an event dated ahead of this gate's clock; check that gate's clock (gateagent doctor)",
			"topic", topic, "event", e.ID, "ahead", ahead.Round(time.Second).String(), "max_ahead", s.maxAhead.String())
		s.onFuture()
		return
	}
	s.Observe(&e)
}

// Observe applies one decided event to the set: an admitted entry or checkin
// puts its holder inside, an admitted exit or checkout takes them out, and an
// annul takes them out if the entry it cancels is what put them in. Other
// events, and events older than what is known of the holder, change nothing.
// It reports whether the set changed.
func (s *Set) Observe(e *event.Event) bool {
	key := HolderKey(e)
	if key == "" {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, known := s.holders[key]
	next, changed := Transition(cur, known, e)
	if !changed {
		return false
	}
	s.holders[key] = next
	s.dirty[key] = struct{}{}
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return true
}

// Transition returns a holder's presence after event e, given what was known
// (cur, known), and whether it changed. It is the rule Observe applies and the
// hub's ingest repeats: the latest tap time wins, only admitted entry, checkin,
// exit and checkout events move a holder, and an annul moves them out only if
// it names the entry that put them in.
func Transition(cur Presence, known bool, e *event.Event) (Presence, bool) {
	var next Presence
	switch {
	case e.Kind == event.KindAnnul:
		if !known || !cur.Inside || cur.Event != e.Ref {
			return cur, false
		}
		// Back to outside, as of the annulled entry's time, so that a later
		// exit or entry still orders after it.
		return Presence{Inside: false, At: cur.At, Event: e.ID, Gate: e.Gate, Place: cur.Place}, true
	case e.Decision != event.Admit:
		return cur, false
	case e.Kind == event.KindEntry || e.Kind == event.KindCheckin:
		next = Presence{Inside: true, At: e.At, Event: e.ID, Gate: e.Gate, Place: e.Place}
	case e.Kind == event.KindExit || e.Kind == event.KindCheckout:
		next = Presence{Inside: false, At: e.At, Event: e.ID, Gate: e.Gate, Place: e.Place}
	default:
		return cur, false
	}
	if known && !e.At.After(cur.At) {
		return cur, false // late or repeated: the newer tap already decided
	}
	return next, true
}

// Inside reports whether the holder with this key (see HolderKey) is inside, and
// since when.
func (s *Set) Inside(key string) (since time.Time, inside bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.holders[key]
	if !ok || !p.Inside {
		return time.Time{}, false
	}
	return p.At, true
}

// Lookup returns everything known about a holder.
func (s *Set) Lookup(key string) (Presence, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.holders[key]
	return p, ok
}

// CountAt returns how many holders are inside at a named place.
func (s *Set) CountAt(place string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, p := range s.holders {
		if p.Inside && p.Place == place {
			n++
		}
	}
	return n
}

// Count returns how many holders are inside.
func (s *Set) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, p := range s.holders {
		if p.Inside {
			n++
		}
	}
	return n
}

// writer persists changed holders in batches, off the message path.
func (s *Set) writer() {
	defer close(s.stopped)
	for {
		select {
		case <-s.wake:
		case <-s.stop:
			if err := s.flush(); err != nil {
				s.log.Error("peers: persist on close", "err", err)
			}
			return
		}
		if err := s.flush(); err != nil {
			// Kept in memory and retried with the next change.
			s.log.Error("peers: persist inside set; check the disk", "err", err)
		}
	}
}

// flush writes the changed holders in one transaction.
func (s *Set) flush() error {
	s.mu.Lock()
	batch := make(map[string]Presence, len(s.dirty))
	for k := range s.dirty {
		batch[k] = s.holders[k]
	}
	s.dirty = map[string]struct{}{}
	s.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketHolders)
		for k, p := range batch {
			v, err := json.Marshal(p)
			if err != nil {
				return err
			}
			if err := b.Put([]byte(k), v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		s.mu.Lock()
		for k := range batch {
			s.dirty[k] = struct{}{}
		}
		s.mu.Unlock()
		return fmt.Errorf("peers: persist %d holders: %w", len(batch), err)
	}
	return nil
}

// Close persists pending changes and closes the file.
func (s *Set) Close() error {
	select {
	case <-s.stop:
		return errors.New("peers: closed twice")
	default:
	}
	close(s.stop)
	<-s.stopped
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("peers: close: %w", err)
	}
	return nil
}
