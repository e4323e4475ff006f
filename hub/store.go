package hub

import (
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

	"github.com/mynagate/mynagate/event"
	"github.com/mynagate/mynagate/sync/peers"
)

// maxGroup bounds events per ingest transaction.
const maxGroup = 2048

// Store is the hub's database of events (deduplicated by id), gate health and
// the site-wide inside view, kept in bbolt (OpenStore) or in PostgreSQL shared
// by several hub instances (OpenPGStore). Safe for concurrent use.
type Store struct {
	// rw lets Close wait for Ingests that passed the closed check, so that
	// none is queued after the writer's final drain.
	rw      sync.RWMutex
	closed  bool
	db      backend
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

// backend is where a Store keeps what it holds: one bbolt file
// (storebolt.go), or PostgreSQL shared by several hub instances (storepg.go).
// Records, counters, statuses and list infos cross it as the JSON the Store
// encodes, so that both keep the same bytes.
type backend interface {
	// commit applies ingestOne to each item in one transaction, setting
	// each item's result; an error fails the whole group.
	commit(items []ingestItem, log *slog.Logger) error
	putStatus(site, gate string, v []byte) error
	// putList keeps li (encoded v) unless a version as new is kept.
	putList(li ListInfo, v []byte) error
	// event returns an event's record, nil when it is not stored.
	event(id string) ([]byte, error)
	view(b *viewBuilder) error
	// scanEvents calls fn with each record whose id sorts after after, in
	// id (byte) order, from one snapshot, until fn returns false.
	scanEvents(after string, fn func(id string, rec []byte) bool) error
	// amends returns the office's amendments by check-in id; amend changes
	// one with fn, given the check-in's record (nil when it is not stored)
	// and the amendment so far (nil when none).
	amends() (map[string][]byte, error)
	amend(id string, fn func(rec, old []byte) ([]byte, error)) error
	// enrolments returns up to n enrol events waiting for the list box, in
	// id order; enrolled drops one once its entry is in lists.db.
	enrolments(n int) ([]pendingEnrolment, error)
	enrolled(id string) error
	// purge deletes the events (with their conflicts and amendments) that
	// rule says are past their retention, and reports how many.
	purge(rule retention) (int, error)
	close() error
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

// OpenStore opens (creating) the hub's bbolt database at path, mode 0600:
// the embedded store, one hub instance.
func OpenStore(path string, log *slog.Logger) (*Store, error) {
	b, err := openBoltBackend(path)
	if err != nil {
		return nil, err
	}
	return newStore(b, log), nil
}

// newStore runs the group-commit writer over a backend.
func newStore(b backend, log *slog.Logger) *Store {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Store{db: b, log: log, reqs: make(chan *ingestReq, maxGroup), stop: make(chan struct{}), stopped: make(chan struct{})}
	go s.writer()
	return s
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
	items := make([]ingestItem, 0, len(group))
	for i, r := range group {
		e, err := event.Decode(r.payload)
		if err == nil {
			err = checkKeys(&e)
		}
		if err != nil {
			results[i].err = fmt.Errorf("hub: ingest from %s/%s: %w: %w", r.site, r.gate, ErrInvalidEvent, err)
			continue
		}
		rec, err := json.Marshal(Record{Event: r.payload, ReceivedAt: r.received})
		if err != nil {
			results[i].err = fmt.Errorf("hub: ingest from %s/%s: %w: %w", r.site, r.gate, ErrInvalidEvent, err)
			continue
		}
		items = append(items, ingestItem{req: r, e: e, rec: rec, result: &results[i]})
	}
	var err error
	if len(items) > 0 {
		err = s.db.commit(items, s.log)
	}
	if err == nil {
		// fresh are the new events with a place, for the shelter view.
		var fresh []event.Event
		for _, it := range items {
			if !it.result.Dup && it.e.Place != "" {
				fresh = append(fresh, it.e)
			}
		}
		s.shelters.add(fresh)
	}
	s.changes.Add(1)
	for i, r := range group {
		if err != nil {
			r.finish(ingestResult{err: fmt.Errorf("hub: store events: %w; the broker redelivers them, check the hub's database", err)})
			continue
		}
		r.finish(results[i])
	}
}

// checkKeys refuses an event with a NUL character in a field the stores key
// or index by: PostgreSQL's text holds none, and a refused event must not
// fail the commit of the others with it.
func checkKeys(e *event.Event) error {
	for _, f := range []struct{ name, v string }{{"site", e.Site}, {"gate", e.Gate}, {"id", e.ID}, {"place", e.Place},
		{"service_id", e.ServiceID}, {"card", e.Card}, {"slip", e.Slip}} {
		if strings.ContainsRune(f.v, 0) {
			return fmt.Errorf("%s holds a NUL character", f.name)
		}
	}
	return nil
}

// ingestItem is one valid event of a commit: the request, the decoded event,
// the record as stored, and where its result goes.
type ingestItem struct {
	req    *ingestReq
	e      event.Event
	rec    []byte
	result *ingestResult
}

func gateKey(site, gate string) string { return site + "/" + gate }

// ingestTx is what the ingest rules (ingestOne) read and write within one
// commit; each backend provides it over its own transaction.
type ingestTx interface {
	// claim stores the event's record unless its id is stored already (by
	// an earlier commit, an earlier event of this one, or another hub
	// instance); fresh is false for a duplicate.
	claim(it *ingestItem) (fresh bool, err error)
	// stats returns the gate's counters, to be changed in place and kept at
	// the commit.
	stats(site, gate string) (*GateStats, error)
	// presence returns a holder's presence at site, and whether it is known.
	presence(site, holder string) (peers.Presence, bool, error)
	setPresence(site, holder string, p peers.Presence) error
	putConflict(c Conflict) error
	// putEnrolment keeps an admitted enrol event's record until the list
	// box has enrolled it (kioskenrol.go).
	putEnrolment(id, site string, rec []byte) error
}

// ingestOne applies the hub's rules to one valid event: dedupe by id, the
// gate's counters, and the site's inside view with its conflicts. It reports
// whether the event was a duplicate.
func ingestOne(tx ingestTx, log *slog.Logger, it *ingestItem) (bool, error) {
	r, e := it.req, &it.e
	st, err := tx.stats(r.site, r.gate)
	if err != nil {
		return false, err
	}
	fresh, err := tx.claim(it)
	if err != nil {
		return false, err
	}
	if !fresh {
		st.Duplicates++
		return true, nil
	}
	if e.Kind == event.KindEnrol && e.Decision == event.Admit && e.Grant != nil {
		if err := tx.putEnrolment(e.ID, r.site, it.rec); err != nil {
			return false, err
		}
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
		log.Warn("hub: event names another site or gate than its topic; counted under the topic's", "topic_site", r.site, "topic_gate", r.gate, "event", e.ID)
	}
	if ahead := e.At.Sub(r.received); ahead > peers.DefaultMaxAhead {
		// Stored for the record, but a gate clock years ahead must not
		// keep its holder inside for ever (the gates ignore it too).
		log.Warn("hub: event dated ahead of the hub's clock; stored, but not counted for who is inside; check the gate's clock",
			"site", r.site, "gate", r.gate, "event", e.ID, "ahead", ahead.Round(time.Second).String())
		return false, nil
	}
	return false, presence(tx, log, st, r.site, e)
}

// presence updates the site's inside view and records a conflict when an
// admitted entry finds the holder already inside.
func presence(tx ingestTx, log *slog.Logger, st *GateStats, site string, e *event.Event) error {
	holder := peers.HolderKey(e)
	if holder == "" {
		return nil
	}
	cur, known, err := tx.presence(site, holder)
	if err != nil {
		return err
	}
	// A check-in at another place is a move between shelters, not a conflict.
	if known && cur.Inside && e.Decision == event.Admit && (e.Kind == event.KindEntry || (e.Kind == event.KindCheckin && cur.Place == e.Place)) &&
		cur.Event != e.ID && e.At.After(cur.At) {
		st.Conflicts++
		c := Conflict{Site: site, Gate: e.Gate, Event: e.ID, At: e.At, InsideGate: cur.Gate, InsideFrom: cur.Event, Offline: e.Offline}
		if err := tx.putConflict(c); err != nil {
			return err
		}
		log.Warn("hub: anti-passback conflict: entry admitted while the holder was already inside",
			"site", site, "gate", e.Gate, "event", e.ID, "inside_gate", cur.Gate, "inside_event", cur.Event, "offline", e.Offline)
	}
	next, changed := peers.Transition(cur, known, e)
	if !changed {
		return nil
	}
	return tx.setPresence(site, holder, next)
}

// PutStatus keeps a gate's latest status message.
func (s *Store) PutStatus(site, gate string, payload []byte, received time.Time) error {
	v, err := json.Marshal(GateStatus{Status: payload, ReceivedAt: received})
	if err != nil {
		return fmt.Errorf("hub: encode status: %w", err)
	}
	if err := s.db.putStatus(site, gate, v); err != nil {
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
	if err := s.db.putList(li, v); err != nil {
		return fmt.Errorf("hub: store list info: %w", err)
	}
	return nil
}

// Event returns the stored record of an event id.
func (s *Store) Event(id string) (Record, bool, error) {
	v, err := s.db.event(id)
	if err != nil {
		return Record{}, false, fmt.Errorf("hub: read event %s: %w", id, err)
	}
	if v == nil {
		return Record{}, false, nil
	}
	var rec Record
	if err := json.Unmarshal(v, &rec); err != nil {
		return Record{}, false, fmt.Errorf("hub: read event %s: %w", id, err)
	}
	return rec, true, nil
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
	b := &viewBuilder{v: View{At: time.Now()}, sites: map[string]*SiteView{}, seen: map[string]int{}}
	if err := s.db.view(b); err != nil {
		return View{}, fmt.Errorf("hub: read overview: %w", err)
	}
	return b.done(), nil
}

// viewBuilder assembles a View from what a backend reads: first the gates'
// counters, then statuses, presences and lists.
type viewBuilder struct {
	v     View
	sites map[string]*SiteView
	// seen indexes v.Gates by gateKey.
	seen map[string]int
}

func (b *viewBuilder) site(name string) *SiteView {
	if b.sites[name] == nil {
		b.sites[name] = &SiteView{Site: name}
	}
	return b.sites[name]
}

// gate takes a gate's stored counters (JSON GateStats).
func (b *viewBuilder) gate(stats []byte) error {
	var g GateView
	if err := json.Unmarshal(stats, &g.GateStats); err != nil {
		return err
	}
	b.seen[gateKey(g.Site, g.Gate)] = len(b.v.Gates)
	b.v.Conflicts += g.GateStats.Conflicts
	b.site(g.Site).Events += g.Events
	b.v.Gates = append(b.v.Gates, g)
	return nil
}

// status takes a gate's stored status (JSON GateStatus), after every gate.
func (b *viewBuilder) status(site, gate string, v []byte) error {
	st := &GateStatus{}
	if err := json.Unmarshal(v, st); err != nil {
		return err
	}
	if i, ok := b.seen[gateKey(site, gate)]; ok {
		b.v.Gates[i].Status = st
		return nil
	}
	// A gate that reported status but no event yet.
	b.site(site)
	b.v.Gates = append(b.v.Gates, GateView{GateStats: GateStats{Site: site, Gate: gate}, Status: st})
	return nil
}

// inside counts n holders inside at site's place ("" for none).
func (b *viewBuilder) inside(site, place string, n int) {
	sv := b.site(site)
	sv.Inside += n
	if place != "" {
		if sv.Places == nil {
			sv.Places = map[string]int{}
		}
		sv.Places[place] += n
	}
}

// list takes a stored list info (JSON ListInfo).
func (b *viewBuilder) list(v []byte) error {
	var li ListInfo
	if err := json.Unmarshal(v, &li); err != nil {
		return err
	}
	b.v.Lists = append(b.v.Lists, li)
	return nil
}

func (b *viewBuilder) done() View {
	v := b.v
	for _, sv := range b.sites {
		v.Sites = append(v.Sites, *sv)
	}
	sort.Slice(v.Sites, func(i, j int) bool { return v.Sites[i].Site < v.Sites[j].Site })
	sort.Slice(v.Gates, func(i, j int) bool {
		return gateKey(v.Gates[i].Site, v.Gates[i].Gate) < gateKey(v.Gates[j].Site, v.Gates[j].Gate)
	})
	sort.SliceStable(v.Lists, func(i, j int) bool {
		return v.Lists[i].Site+"/"+v.Lists[i].List < v.Lists[j].Site+"/"+v.Lists[j].List
	})
	return v
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
	if err := s.db.close(); err != nil {
		return fmt.Errorf("hub: close store: %w", err)
	}
	return nil
}

// ScanEvents calls fn with each stored event whose id sorts after after ("":
// from the first), in id order (ids are ULIDs: tap-time order), until fn
// returns false. It reads one consistent snapshot. The record queries
// (events.go) read the store through it.
func (s *Store) ScanEvents(after string, fn func(Record) bool) error {
	return scanRecords(func(raw func(string, []byte) bool) error { return s.db.scanEvents(after, raw) }, fn)
}

// scanRecords runs a scan of stored records and calls fn with each, decoded,
// until fn returns false; a record that does not decode ends the scan with
// its error.
func scanRecords(scan func(raw func(id string, v []byte) bool) error, fn func(Record) bool) error {
	var ferr error
	err := scan(func(id string, v []byte) bool {
		var rec Record
		if err := json.Unmarshal(v, &rec); err != nil {
			ferr = fmt.Errorf("event %s: %w", id, err)
			return false
		}
		return fn(rec)
	})
	if err == nil {
		err = ferr
	}
	if err != nil {
		return fmt.Errorf("hub: read events: %w", err)
	}
	return nil
}
