package hub

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/mynagate/mynagate/event"
	"github.com/mynagate/mynagate/sync/peers"
)

var (
	bucketEvents    = []byte("events")
	bucketGates     = []byte("gates")
	bucketStatus    = []byte("status")
	bucketInside    = []byte("inside")
	bucketConflicts = []byte("conflicts")
	bucketLists     = []byte("lists")
)

// maxGroup bounds events per ingest transaction.
const maxGroup = 2048

// Store is the hub's database of events (deduplicated by id), gate health and
// the site-wide inside view. Safe for concurrent use.
type Store struct {
	// rw lets Close wait for Ingests that passed the closed check, so that
	// none is queued after the writer's final drain.
	rw      sync.RWMutex
	closed  bool
	db      *bolt.DB
	log     *slog.Logger
	reqs    chan *ingestReq
	stop    chan struct{}
	stopped chan struct{}
	// changes counts committed ingest groups and office amendments, so that
	// views computed from the events know when to compute again.
	changes atomic.Uint64
	// shelters caches the shelter view per site (shelters.go).
	shelters shelterCache
}

// Record is an event as the hub keeps it: the gate's event with its tap time
// and offline flag, and when the hub received it.
type Record struct {
	Event      json.RawMessage `json:"event"`
	ReceivedAt time.Time       `json:"received_at"`
}

// GateStats counts a gate's events as the hub has them (each id once).
type GateStats struct {
	Site string `json:"site"`
	Gate string `json:"gate"`
	// Events is the number of distinct events; Admits and Denies split them;
	// Offline counts those decided without a broker connection.
	Events  uint64 `json:"events"`
	Admits  uint64 `json:"admits"`
	Denies  uint64 `json:"denies"`
	Offline uint64 `json:"offline"`
	// Duplicates counts re-deliveries dropped by id (at-least-once on the wire).
	Duplicates uint64 `json:"duplicates"`
	// MaxSeq is the highest gate sequence number seen; MaxSeq - Events is how
	// many events of this gate the hub has not (yet) received.
	MaxSeq uint64 `json:"max_seq"`
	// Conflicts counts admitted entries of holders already inside (two gates
	// that decided offline, or a passback).
	Conflicts uint64 `json:"conflicts"`
	// ByReason counts the distinct events by "decision/reason"
	// ("deny/not_listed"); stores from before it was kept lack it.
	ByReason       map[string]uint64 `json:"by_reason,omitempty"`
	LastTapAt      time.Time         `json:"last_tap_at,omitzero"`
	LastReceivedAt time.Time         `json:"last_received_at,omitzero"`
}

// Conflict is an admitted entry of a holder the hub already had inside. It
// names events and gates, never a person.
type Conflict struct {
	Site       string    `json:"site"`
	Gate       string    `json:"gate"`
	Event      string    `json:"event"`
	At         time.Time `json:"at"`
	InsideGate string    `json:"inside_gate"`
	InsideFrom string    `json:"inside_event"`
	Offline    bool      `json:"offline"`
}

// GateStatus is a gate's last status message with when it arrived.
type GateStatus struct {
	Status     json.RawMessage `json:"status"`
	ReceivedAt time.Time       `json:"received_at"`
}

// ListInfo is the last list version the hub saw published for a site.
type ListInfo struct {
	Site      string    `json:"site"`
	List      string    `json:"list"`
	Version   uint64    `json:"version"`
	Kind      string    `json:"kind"`
	Created   time.Time `json:"created"`
	Published time.Time `json:"published"`
}

// OpenStore opens (creating) the hub database at path, mode 0600.
func OpenStore(path string, log *slog.Logger) (*Store, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("hub: open %s: %w; is another gatehub run using it?", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketEvents, bucketGates, bucketStatus, bucketInside, bucketConflicts, bucketLists} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("hub: initialise %s: %w", path, err)
	}
	s := &Store{db: db, log: log, reqs: make(chan *ingestReq, maxGroup), stop: make(chan struct{}), stopped: make(chan struct{})}
	go s.writer()
	return s, nil
}

type ingestReq struct {
	site, gate string
	payload    []byte
	received   time.Time
	// done receives the result, or, when nil, then is called with it by the
	// writer goroutine, in request order, after the commit.
	done chan ingestResult
	then func(Ingested, error)
}

func (r *ingestReq) finish(res ingestResult) {
	if r.then != nil {
		r.then(res.Ingested, res.err)
		return
	}
	r.done <- res
}

// Ingested is what the store did with one event: the event's seq and id, and
// whether it was there already. Either way it is in the store, and the gate
// gets a receipt for it.
type Ingested struct {
	Seq uint64
	ID  string
	Dup bool
}

type ingestResult struct {
	Ingested
	err error
}

// ErrInvalidEvent is wrapped by Ingest when the payload is not a valid event;
// it is not stored.
var ErrInvalidEvent = errors.New("not a valid event")

// ErrStoreClosed is returned by Ingest after Close.
var ErrStoreClosed = errors.New("hub: store closed")

// Ingest stores one event received on site/gate's events topic, unless its id is
// already stored, and returns once it is durable. Concurrent calls share a
// commit. A payload that is not a valid event is an error and is not stored.
func (s *Store) Ingest(ctx context.Context, site, gate string, payload []byte, received time.Time) (dup bool, err error) {
	r := &ingestReq{site: site, gate: gate, payload: payload, received: received, done: make(chan ingestResult, 1)}
	if err := s.submit(ctx, r); err != nil {
		return false, err
	}
	res := <-r.done
	return res.Dup, res.err
}

// IngestThen is Ingest without waiting for the commit: then is called with the
// result once the event is durable (or refused), by the store's writer
// goroutine, in the order of the calls. then must be quick: the next commit
// waits for it. IngestThen itself waits only while the write queue is full,
// which is what slows a flood down to the disk's pace. The hub uses it to
// receipt a gate's events after they are on disk without holding up the
// next message.
func (s *Store) IngestThen(site, gate string, payload []byte, received time.Time, then func(Ingested, error)) {
	r := &ingestReq{site: site, gate: gate, payload: payload, received: received, then: then}
	if err := s.submit(context.Background(), r); err != nil {
		then(Ingested{}, err)
	}
}

func (s *Store) submit(ctx context.Context, r *ingestReq) error {
	s.rw.RLock()
	if s.closed {
		s.rw.RUnlock()
		return ErrStoreClosed
	}
	select {
	case s.reqs <- r:
	case <-ctx.Done():
		s.rw.RUnlock()
		return ctx.Err()
	}
	s.rw.RUnlock()
	return nil
}

func (s *Store) writer() {
	defer close(s.stopped)
	for {
		var group []*ingestReq
		select {
		case r := <-s.reqs:
			group = append(group, r)
		case <-s.stop:
			for {
				select {
				case r := <-s.reqs:
					group = append(group, r)
				default:
					if len(group) > 0 {
						s.commit(group)
					}
					return
				}
			}
		}
	more:
		for len(group) < maxGroup {
			select {
			case r := <-s.reqs:
				group = append(group, r)
			default:
				break more
			}
		}
		s.commit(group)
	}
}

func (s *Store) commit(group []*ingestReq) {
	results := make([]ingestResult, len(group))
	// fresh are the new events with a place, for the shelter view.
	var fresh []event.Event
	err := s.db.Update(func(tx *bolt.Tx) error {
		fresh = fresh[:0]
		for i := range results {
			results[i] = ingestResult{}
		}
		stats := map[string]*GateStats{}
		for i, r := range group {
			e, err := event.Decode(r.payload)
			if err != nil {
				results[i].err = fmt.Errorf("hub: ingest from %s/%s: %w: %w", r.site, r.gate, ErrInvalidEvent, err)
				continue
			}
			dup, err := s.ingestOne(tx, stats, r, &e)
			if err != nil {
				return err
			}
			results[i].Ingested = Ingested{Seq: e.Seq, ID: e.ID, Dup: dup}
			if !dup && e.Place != "" {
				fresh = append(fresh, e)
			}
		}
		gb := tx.Bucket(bucketGates)
		for k, st := range stats {
			v, err := json.Marshal(st)
			if err != nil {
				return err
			}
			if err := gb.Put([]byte(k), v); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		s.shelters.add(fresh)
	}
	s.changes.Add(1)
	for i, r := range group {
		if err != nil {
			r.finish(ingestResult{err: fmt.Errorf("hub: store events: %w; the broker redelivers them, check the hub's disk", err)})
			continue
		}
		r.finish(results[i])
	}
}

func gateKey(site, gate string) string { return site + "/" + gate }

func (s *Store) gateStats(tx *bolt.Tx, stats map[string]*GateStats, site, gate string) *GateStats {
	k := gateKey(site, gate)
	if st := stats[k]; st != nil {
		return st
	}
	st := &GateStats{Site: site, Gate: gate}
	if v := tx.Bucket(bucketGates).Get([]byte(k)); v != nil {
		_ = json.Unmarshal(v, st)
	}
	stats[k] = st
	return st
}

func (s *Store) ingestOne(tx *bolt.Tx, stats map[string]*GateStats, r *ingestReq, e *event.Event) (bool, error) {
	st := s.gateStats(tx, stats, r.site, r.gate)
	eb := tx.Bucket(bucketEvents)
	if eb.Get([]byte(e.ID)) != nil {
		st.Duplicates++
		return true, nil
	}
	rec, err := json.Marshal(Record{Event: r.payload, ReceivedAt: r.received})
	if err != nil {
		return false, err
	}
	if err := eb.Put([]byte(e.ID), rec); err != nil {
		return false, err
	}
	st.Events++
	if st.ByReason == nil {
		st.ByReason = map[string]uint64{}
	}
	st.ByReason[string(e.Decision)+"/"+string(e.Reason)]++
	if e.Decision == event.Admit {
		st.Admits++
	} else {
		st.Denies++
	}
	if e.Offline {
		st.Offline++
	}
	st.MaxSeq = max(st.MaxSeq, e.Seq)
	if e.At.After(st.LastTapAt) {
		st.LastTapAt = e.At
	}
	st.LastReceivedAt = r.received
	if e.Site != r.site || e.Gate != r.gate {
		s.log.Warn("hub: event names another site or gate than its topic; counted under the topic's", "topic_site", r.site, "topic_gate", r.gate, "event", e.ID)
	}
	if ahead := e.At.Sub(r.received); ahead > peers.DefaultMaxAhead {
		// Stored for the record, but a gate clock years ahead must not
		// keep its holder inside for ever (the gates ignore it too).
		s.log.Warn("hub: event dated ahead of the hub's clock; stored, but not counted for who is inside; check the gate's clock",
			"site", r.site, "gate", r.gate, "event", e.ID, "ahead", ahead.Round(time.Second).String())
		return false, nil
	}
	return false, s.presence(tx, st, r.site, e)
}

// presence updates the site's inside view and records a conflict when an
// admitted entry finds the holder already inside.
func (s *Store) presence(tx *bolt.Tx, st *GateStats, site string, e *event.Event) error {
	holder := peers.HolderKey(e)
	if holder == "" {
		return nil
	}
	ib := tx.Bucket(bucketInside)
	key := []byte(site + "\x00" + holder)
	var cur peers.Presence
	v := ib.Get(key)
	known := v != nil
	if known {
		if err := json.Unmarshal(v, &cur); err != nil {
			known = false
		}
	}
	// A check-in at another place is a move between shelters, not a conflict.
	if known && cur.Inside && e.Decision == event.Admit && (e.Kind == event.KindEntry || (e.Kind == event.KindCheckin && cur.Place == e.Place)) &&
		cur.Event != e.ID && e.At.After(cur.At) {
		st.Conflicts++
		c := Conflict{Site: site, Gate: e.Gate, Event: e.ID, At: e.At, InsideGate: cur.Gate, InsideFrom: cur.Event, Offline: e.Offline}
		cb, err := json.Marshal(c)
		if err != nil {
			return err
		}
		if err := tx.Bucket(bucketConflicts).Put([]byte(e.ID), cb); err != nil {
			return err
		}
		s.log.Warn("hub: anti-passback conflict: entry admitted while the holder was already inside",
			"site", site, "gate", e.Gate, "event", e.ID, "inside_gate", cur.Gate, "inside_event", cur.Event, "offline", e.Offline)
	}
	next, changed := peers.Transition(cur, known, e)
	if !changed {
		return nil
	}
	nb, err := json.Marshal(next)
	if err != nil {
		return err
	}
	return ib.Put(key, nb)
}

// PutStatus keeps a gate's latest status message.
func (s *Store) PutStatus(site, gate string, payload []byte, received time.Time) error {
	v, err := json.Marshal(GateStatus{Status: payload, ReceivedAt: received})
	if err != nil {
		return fmt.Errorf("hub: encode status: %w", err)
	}
	err = s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketStatus).Put([]byte(gateKey(site, gate)), v) })
	if err != nil {
		return fmt.Errorf("hub: store status of %s/%s: %w", site, gate, err)
	}
	return nil
}

// PutList records a list version seen published.
func (s *Store) PutList(li ListInfo) error {
	v, err := json.Marshal(li)
	if err != nil {
		return fmt.Errorf("hub: encode list info: %w", err)
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketLists)
		k := []byte(li.Site + "/" + li.List)
		if old := b.Get(k); old != nil {
			var prev ListInfo
			if json.Unmarshal(old, &prev) == nil && prev.Version >= li.Version {
				return nil
			}
		}
		return b.Put(k, v)
	})
	if err != nil {
		return fmt.Errorf("hub: store list info: %w", err)
	}
	return nil
}

// Event returns the stored record of an event id.
func (s *Store) Event(id string) (Record, bool, error) {
	var rec Record
	var ok bool
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketEvents).Get([]byte(id))
		if v == nil {
			return nil
		}
		ok = true
		return json.Unmarshal(v, &rec)
	})
	if err != nil {
		return Record{}, false, fmt.Errorf("hub: read event %s: %w", id, err)
	}
	return rec, ok, nil
}

// View is the hub's overview: gates with their counts and status, sites with
// how many are inside, lists, conflicts. It holds no personal data.
type View struct {
	Gates     []GateView `json:"gates"`
	Sites     []SiteView `json:"sites"`
	Lists     []ListInfo `json:"lists"`
	Conflicts uint64     `json:"conflicts"`
	At        time.Time  `json:"at"`
}

// GateView is one gate in a View.
type GateView struct {
	GateStats
	Status *GateStatus `json:"status,omitempty"`
}

// SiteView is one site in a View.
type SiteView struct {
	Site   string `json:"site"`
	Inside int    `json:"inside"`
	Events uint64 `json:"events"`
	// Places splits Inside by named place (shelters of a municipality).
	Places map[string]int `json:"places,omitempty"`
}

// View assembles the overview.
func (s *Store) View() (View, error) {
	v := View{At: time.Now()}
	sites := map[string]*SiteView{}
	site := func(name string) *SiteView {
		if sites[name] == nil {
			sites[name] = &SiteView{Site: name}
		}
		return sites[name]
	}
	err := s.db.View(func(tx *bolt.Tx) error {
		status := tx.Bucket(bucketStatus)
		seen := map[string]bool{}
		err := tx.Bucket(bucketGates).ForEach(func(k, b []byte) error {
			var g GateView
			if err := json.Unmarshal(b, &g.GateStats); err != nil {
				return err
			}
			if sb := status.Get(k); sb != nil {
				g.Status = &GateStatus{}
				if err := json.Unmarshal(sb, g.Status); err != nil {
					return err
				}
			}
			seen[string(k)] = true
			v.Conflicts += g.Conflicts
			site(g.Site).Events += g.Events
			v.Gates = append(v.Gates, g)
			return nil
		})
		if err != nil {
			return err
		}
		// Gates that reported status but no event yet.
		err = status.ForEach(func(k, b []byte) error {
			if seen[string(k)] {
				return nil
			}
			sg, g, _ := strings.Cut(string(k), "/")
			gv := GateView{GateStats: GateStats{Site: sg, Gate: g}, Status: &GateStatus{}}
			if err := json.Unmarshal(b, gv.Status); err != nil {
				return err
			}
			site(sg)
			v.Gates = append(v.Gates, gv)
			return nil
		})
		if err != nil {
			return err
		}
		err = tx.Bucket(bucketInside).ForEach(func(k, b []byte) error {
			sg, _, _ := bytes.Cut(k, []byte{0})
			var p peers.Presence
			if json.Unmarshal(b, &p) == nil && p.Inside {
				sv := site(string(sg))
				sv.Inside++
				if p.Place != "" {
					if sv.Places == nil {
						sv.Places = map[string]int{}
					}
					sv.Places[p.Place]++
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		return tx.Bucket(bucketLists).ForEach(func(_, b []byte) error {
			var li ListInfo
			if err := json.Unmarshal(b, &li); err != nil {
				return err
			}
			v.Lists = append(v.Lists, li)
			return nil
		})
	})
	if err != nil {
		return View{}, fmt.Errorf("hub: read overview: %w", err)
	}
	for _, sv := range sites {
		v.Sites = append(v.Sites, *sv)
	}
	sort.Slice(v.Sites, func(i, j int) bool { return v.Sites[i].Site < v.Sites[j].Site })
	sort.Slice(v.Gates, func(i, j int) bool {
		return gateKey(v.Gates[i].Site, v.Gates[i].Gate) < gateKey(v.Gates[j].Site, v.Gates[j].Gate)
	})
	return v, nil
}

// Close commits pending ingests and closes the database.
func (s *Store) Close() error {
	s.rw.Lock()
	if s.closed {
		s.rw.Unlock()
		return nil
	}
	s.closed = true
	s.rw.Unlock()
	close(s.stop)
	<-s.stopped
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("hub: close store: %w", err)
	}
	return nil
}

// ScanEvents calls fn with each stored event whose id sorts after after ("":
// from the first), in id order (ids are ULIDs: tap-time order), until fn
// returns false. It reads one consistent snapshot. The record queries
// (events.go) read the store through it.
func (s *Store) ScanEvents(after string, fn func(Record) bool) error {
	err := s.db.View(func(tx *bolt.Tx) error { return scanEvents(tx, after, fn) })
	if err != nil {
		return fmt.Errorf("hub: read events: %w", err)
	}
	return nil
}

func scanEvents(tx *bolt.Tx, after string, fn func(Record) bool) error {
	c := tx.Bucket(bucketEvents).Cursor()
	k, v := c.Seek([]byte(after))
	if k != nil && string(k) == after {
		k, v = c.Next()
	}
	for ; k != nil; k, v = c.Next() {
		var rec Record
		if err := json.Unmarshal(v, &rec); err != nil {
			return fmt.Errorf("event %s: %w", k, err)
		}
		if !fn(rec) {
			return nil
		}
	}
	return nil
}
