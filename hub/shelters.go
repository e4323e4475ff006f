package hub

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/mynagate/mynagate/event"
	"github.com/mynagate/mynagate/sync/peers"
)

// bucketAmends holds what the office attached to check-ins afterwards, by the
// check-in's event id.
var bucketAmends = []byte("office_amends")

// Stay is one person's stay at a shelter as the office's roster shows it: from
// a check-in (by card or by staff with a slip number) to a check-out or a move
// to another shelter. It names a service id or a slip number, never a person.
type Stay struct {
	Place string `json:"place"`
	// Event is the check-in's id: the handle the office amends a stay by.
	Event string `json:"event"`
	Gate  string `json:"gate"`
	// ServiceID is the resident's id from the list, or the one the office
	// attached afterwards; Slip the number of a staff check-in without a card.
	ServiceID string    `json:"service_id,omitempty"`
	Slip      string    `json:"slip,omitempty"`
	In        time.Time `json:"checkin_at"`
	// Out is when the stay ended; zero while the person is inside.
	Out time.Time `json:"checkout_at,omitzero"`
	// MovedTo is the place the person checked in at next, when that ended it.
	MovedTo string `json:"moved_to,omitempty"`
	// Reconcile is true when the card could not be confirmed at check-in;
	// Reason and Assurance are the station's, Reconciled true once the office
	// has attached a service id.
	Reconcile  bool   `json:"reconcile"`
	Reconciled bool   `json:"reconciled"`
	Reason     string `json:"reason"`
	Assurance  string `json:"assurance"`
	// Note is the staff's note at the station; OfficeNote the office's.
	Note       string `json:"note,omitempty"`
	OfficeNote string `json:"office_note,omitempty"`
	Offline    bool   `json:"offline"`
}

// Inside reports whether the stay is still open.
func (s Stay) Inside() bool { return s.Out.IsZero() }

// PlaceCount is one shelter's occupancy.
type PlaceCount struct {
	Place string `json:"place"`
	// Inside is how many are there now; CheckedIn how many stays began there;
	// ToReconcile how many of those inside still wait for the office.
	Inside      int `json:"inside"`
	CheckedIn   int `json:"checked_in"`
	ToReconcile int `json:"to_reconcile"`
}

// Point is a shelter's occupancy after a change.
type Point struct {
	At     time.Time `json:"at"`
	Place  string    `json:"place"`
	Inside int       `json:"inside"`
}

// Shelters is a municipality's view: each shelter's occupancy, the total, the
// rosters and the occupancy over time.
type Shelters struct {
	Site   string       `json:"site"`
	Total  int          `json:"total"`
	Places []PlaceCount `json:"places"`
	Stays  []Stay       `json:"-"`
	Series []Point      `json:"-"`
	// Events is how many shelter events it was computed from.
	Events int `json:"events"`
}

// Amend is what the office attaches to a check-in afterwards.
type Amend struct {
	ServiceID string    `json:"service_id,omitempty"`
	Note      string    `json:"note,omitempty"`
	At        time.Time `json:"at"`
}

// shelterCache keeps each site's shelter events, decoded and in tap order, and
// the view folded from them, so that a change costs decoding only the new
// events: the store feeds it every committed event with a place.
type shelterCache struct {
	// compute serialises Shelters; mu guards the fields below and is held
	// only briefly, so a first load's scan never holds up ingest.
	compute sync.Mutex
	mu      sync.Mutex
	// feed holds events committed since every loaded site last read it.
	feed  []event.Event
	sites map[string]*siteShelters
}

// siteShelters is one site's cached events and view.
type siteShelters struct {
	feedPos int
	events  []event.Event // sorted by id (tap order), each once
	changes uint64
	v       *Shelters
}

// add takes a commit's new events with a place.
func (c *shelterCache) add(es []event.Event) {
	if len(es) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.sites) == 0 {
		return // nobody has looked yet: the first look scans the store
	}
	c.feed = append(c.feed, es...)
}

// take returns the site's events from the feed not yet merged, and drops
// the feed once every loaded site has read it.
func (c *shelterCache) take(ss *siteShelters) []event.Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := slices.Clone(c.feed[ss.feedPos:])
	ss.feedPos = len(c.feed)
	for _, o := range c.sites {
		if o.feedPos != len(c.feed) {
			return out
		}
	}
	c.feed = nil
	for _, o := range c.sites {
		o.feedPos = 0
	}
	return out
}

// reset drops every site's cached events, so that the next look scans the
// store again (after a purge, or another hub instance's commits).
func (c *shelterCache) reset() {
	c.compute.Lock()
	defer c.compute.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.feed, c.sites = nil, nil
}

// merge inserts events of the site into the sorted list, each id once.
func (ss *siteShelters) merge(site string, es []event.Event) {
	for _, e := range es {
		if e.Site != site {
			continue
		}
		i, found := slices.BinarySearchFunc(ss.events, e.ID, func(x event.Event, id string) int { return strings.Compare(x.ID, id) })
		if !found {
			ss.events = slices.Insert(ss.events, i, e)
		}
	}
}

// ErrNoSuchCheckin is returned by AmendCheckin for an id that is no check-in
// of the site.
var ErrNoSuchCheckin = errors.New("no such check-in")

// Shelters returns the site's shelter view, folded from its events in tap
// order with the same presence rule the gates apply (peers.Transition), so a
// gate's backlog arriving late lands where it belongs. Events without a place
// (venue gates, older gates) are left out. The first call scans the store;
// later ones decode only what was committed since. The result is shared: do
// not modify it.
func (s *Store) Shelters(site string) (*Shelters, error) {
	c := &s.shelters
	c.compute.Lock()
	defer c.compute.Unlock()
	changes := s.changes.Load()
	c.mu.Lock()
	ss := c.sites[site]
	if ss == nil {
		ss = &siteShelters{feedPos: len(c.feed)}
	}
	c.mu.Unlock()
	if ss.v != nil && ss.changes == changes {
		return ss.v, nil
	}
	if ss.v == nil {
		// First look: register first, so commits during the scan reach the
		// feed (merge drops the ones the scan saw too).
		c.mu.Lock()
		if c.sites == nil {
			c.sites = map[string]*siteShelters{}
		}
		ss.feedPos = len(c.feed)
		c.sites[site] = ss
		c.mu.Unlock()
		err := s.scanPlaced(site, func(rec Record) bool {
			e, err := event.Decode(rec.Event)
			if err == nil && e.Site == site && e.Place != "" {
				ss.events = append(ss.events, e)
			}
			return true
		})
		if err != nil {
			c.mu.Lock()
			delete(c.sites, site)
			c.mu.Unlock()
			return nil, fmt.Errorf("hub: shelters of %s: %w", site, err)
		}
	}
	ss.merge(site, c.take(ss))
	amends, err := s.amends()
	if err != nil {
		return nil, fmt.Errorf("hub: shelters of %s: %w", site, err)
	}
	v := &Shelters{Site: site}
	b := newShelterBuilder(v)
	for i := range ss.events {
		b.apply(&ss.events[i])
	}
	b.finish(amends)
	ss.v, ss.changes = v, changes
	return v, nil
}

// amends reads what the office attached to check-ins.
func (s *Store) amends() (map[string]Amend, error) {
	raw, err := s.db.amends()
	if err != nil {
		return nil, err
	}
	amends := make(map[string]Amend, len(raw))
	for k, val := range raw {
		var a Amend
		if err := json.Unmarshal(val, &a); err != nil {
			return nil, fmt.Errorf("amend %s: %w", k, err)
		}
		amends[k] = a
	}
	return amends, nil
}

// shelterBuilder folds a site's events, in tap order, into stays and counts.
type shelterBuilder struct {
	v       *Shelters
	holders map[string]peers.Presence
	open    map[string]int // holder -> index of the open stay
	inside  map[string]int // place -> inside now
}

func newShelterBuilder(v *Shelters) *shelterBuilder {
	return &shelterBuilder{v: v, holders: map[string]peers.Presence{}, open: map[string]int{}, inside: map[string]int{}}
}

func (b *shelterBuilder) apply(e *event.Event) {
	switch e.Kind {
	case event.KindCheckin, event.KindCheckout, event.KindAnnul:
	default:
		return
	}
	holder := peers.HolderKey(e)
	if holder == "" {
		return
	}
	b.v.Events++
	cur, known := b.holders[holder]
	next, changed := peers.Transition(cur, known, e)
	if !changed {
		return
	}
	b.holders[holder] = next
	if i, ok := b.open[holder]; ok && (!next.Inside || next.Event != b.v.Stays[i].Event) {
		st := &b.v.Stays[i]
		st.Out = e.At
		if next.Inside && next.Place != st.Place {
			st.MovedTo = next.Place
		}
		delete(b.open, holder)
		b.count(st.Place, -1, e.At)
	}
	if next.Inside {
		b.v.Stays = append(b.v.Stays, Stay{
			Place: e.Place, Event: e.ID, Gate: e.Gate, ServiceID: e.ServiceID, Slip: e.Slip, In: e.At,
			Reconcile: e.Reconcile, Reason: string(e.Reason), Assurance: e.Assurance, Note: e.Note, Offline: e.Offline,
		})
		b.open[holder] = len(b.v.Stays) - 1
		b.count(e.Place, +1, e.At)
	}
}

func (b *shelterBuilder) count(place string, d int, at time.Time) {
	b.inside[place] += d
	b.v.Series = append(b.v.Series, Point{At: at, Place: place, Inside: b.inside[place]})
}

func (b *shelterBuilder) finish(amends map[string]Amend) {
	places := map[string]*PlaceCount{}
	for i := range b.v.Stays {
		st := &b.v.Stays[i]
		if a, ok := amends[st.Event]; ok {
			if a.ServiceID != "" {
				st.ServiceID, st.Reconciled = a.ServiceID, true
			}
			st.OfficeNote = a.Note
		}
		pc := places[st.Place]
		if pc == nil {
			pc = &PlaceCount{Place: st.Place}
			places[st.Place] = pc
		}
		pc.CheckedIn++
		if st.Inside() {
			pc.Inside++
			b.v.Total++
			if st.Reconcile && !st.Reconciled {
				pc.ToReconcile++
			}
		}
	}
	for _, pc := range places {
		b.v.Places = append(b.v.Places, *pc)
	}
	sort.Slice(b.v.Places, func(i, j int) bool { return b.v.Places[i].Place < b.v.Places[j].Place })
}

// Roster returns the stays at place ("" for every place), the ones inside
// first, each group by check-in time.
func (v *Shelters) Roster(place string) []Stay {
	var out []Stay
	for _, st := range v.Stays {
		if place == "" || st.Place == place {
			out = append(out, st)
		}
	}
	slices.SortStableFunc(out, func(a, b Stay) int {
		if a.Inside() != b.Inside() {
			if a.Inside() {
				return -1
			}
			return 1
		}
		return a.In.Compare(b.In)
	})
	return out
}

// placedIndex is a backend that finds the events with a place itself
// (PostgreSQL, by an index); without it the store scans every event.
type placedIndex interface {
	// scanPlaced is scanEvents for site's events with a place.
	scanPlaced(site string, fn func(id string, rec []byte) bool) error
	// placedSites lists the sites with such events, sorted.
	placedSites() ([]string, error)
}

// scanPlaced calls fn with the site's events that may have a place (all
// events when the backend has no index of them), in id order.
func (s *Store) scanPlaced(site string, fn func(Record) bool) error {
	pi, ok := s.db.(placedIndex)
	if !ok {
		return s.ScanEvents("", fn)
	}
	return scanRecords(func(raw func(string, []byte) bool) error { return pi.scanPlaced(site, raw) }, fn)
}

// ShelterSites lists the sites that have events with a place.
func (s *Store) ShelterSites() ([]string, error) {
	if pi, ok := s.db.(placedIndex); ok {
		sites, err := pi.placedSites()
		if err != nil {
			return nil, fmt.Errorf("hub: read shelter sites: %w", err)
		}
		return sites, nil
	}
	seen := map[string]bool{}
	err := s.ScanEvents("", func(rec Record) bool {
		var e struct {
			Site  string `json:"site"`
			Place string `json:"place"`
		}
		if json.Unmarshal(rec.Event, &e) == nil && e.Place != "" {
			seen[e.Site] = true
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	var out []string
	for s := range seen {
		out = append(out, s)
	}
	sort.Strings(out)
	return out, nil
}

// maxAmendText bounds what the office attaches.
const maxAmendText = 200

// AmendCheckin attaches a service id and/or a note to a check-in of the site
// afterwards (a card that was not on the list, a staff check-in). The events
// stay as the station recorded them; the roster shows the amendment.
func (s *Store) AmendCheckin(site, id string, a Amend) error {
	a.ServiceID, a.Note = strings.TrimSpace(a.ServiceID), strings.TrimSpace(a.Note)
	if a.ServiceID == "" && a.Note == "" {
		return fmt.Errorf("hub: amend %s: give a service id, a note or both", id)
	}
	if len(a.ServiceID) > 64 || len([]rune(a.Note)) > maxAmendText {
		return fmt.Errorf("hub: amend %s: service id up to 64 bytes, note up to %d characters", id, maxAmendText)
	}
	err := s.db.amend(id, func(v, old []byte) ([]byte, error) {
		if v == nil {
			return nil, ErrNoSuchCheckin
		}
		var rec Record
		if err := json.Unmarshal(v, &rec); err != nil {
			return nil, err
		}
		e, err := event.Decode(rec.Event)
		if err != nil || e.Site != site || e.Kind != event.KindCheckin || e.Decision != event.Admit {
			return nil, ErrNoSuchCheckin
		}
		if old != nil {
			var prev Amend
			if json.Unmarshal(old, &prev) == nil {
				if a.ServiceID == "" {
					a.ServiceID = prev.ServiceID
				}
				if a.Note == "" {
					a.Note = prev.Note
				}
			}
		}
		return json.Marshal(a)
	})
	if err != nil {
		return fmt.Errorf("hub: amend check-in %s of %s: %w", id, site, err)
	}
	s.changes.Add(1)
	return nil
}
