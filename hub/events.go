package hub

import (
	"cmp"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/oklog/ulid/v2"
	bolt "go.etcd.io/bbolt"

	"github.com/mynagate/mynagate/event"
)

// EventSource is the stored events the record queries read: the running
// hub's *Store, or an *EventFile when the hub is stopped.
type EventSource interface {
	// ScanEvents calls fn with each event whose id sorts after after, in
	// id order, until fn returns false.
	ScanEvents(after string, fn func(Record) bool) error
}

// ErrStoreBusy is wrapped by OpenEventFile when a running hub holds hub.db.
var ErrStoreBusy = errors.New("hub.db is in use by a running gatehub")

// EventFile is hub.db opened read-only, for record queries while the hub is
// stopped.
type EventFile struct{ db *bolt.DB }

// OpenEventFile opens the hub database at path read-only.
func OpenEventFile(path string) (*EventFile, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, fmt.Errorf("hub: open %s: %w; ask the running hub through its dashboard address (http in the config)", path, ErrStoreBusy)
	}
	if err != nil {
		return nil, fmt.Errorf("hub: open %s: %w; is data_dir right and has the hub run once?", path, err)
	}
	return &EventFile{db: db}, nil
}

// ScanEvents implements EventSource.
func (f *EventFile) ScanEvents(after string, fn func(Record) bool) error {
	return scanRecords(func(raw func(string, []byte) bool) error {
		return f.db.View(func(tx *bolt.Tx) error { return scanBolt(tx, after, raw) })
	}, fn)
}

// Close closes the file.
func (f *EventFile) Close() error { return f.db.Close() }

// EventQuery selects stored events. Empty fields select everything.
type EventQuery struct {
	Site, Gate, Lane string
	Kind             event.Kind
	Decision         event.Decision
	Reason           event.Reason
	// Since and Until bound the tap time: Since <= at < Until.
	Since, Until time.Time
	// After is a cursor: the id of the last event of the previous page.
	After string
	// Limit is the page size; 0 returns every match.
	Limit int
}

// MaxPage bounds an API page.
const MaxPage = 1000

// ParseEventQuery reads a query from URL parameters: site, gate, lane, kind,
// decision, reason, since, until, cursor and limit. Times are RFC 3339, or a
// local date ("2026-12-01") or date and time ("2026-12-01T18:00") in zone.
func ParseEventQuery(v url.Values, zone *time.Location) (EventQuery, error) {
	q := EventQuery{Site: v.Get("site"), Gate: v.Get("gate"), Lane: v.Get("lane"), Kind: event.Kind(v.Get("kind")),
		Decision: event.Decision(v.Get("decision")), Reason: event.Reason(v.Get("reason")), After: v.Get("cursor")}
	var errs []error
	switch q.Decision {
	case "", event.Admit, event.Deny:
	default:
		errs = append(errs, fmt.Errorf("decision %q: want admit or deny", q.Decision))
	}
	for _, f := range []struct {
		name string
		dst  *time.Time
	}{{"since", &q.Since}, {"until", &q.Until}} {
		if s := v.Get(f.name); s != "" {
			t, err := ParseTime(s, zone)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", f.name, err))
			}
			*f.dst = t
		}
	}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxPage {
			errs = append(errs, fmt.Errorf("limit %q: want 1 to %d", s, MaxPage))
		}
		q.Limit = n
	}
	return q, errors.Join(errs...)
}

// ParseTime reads RFC 3339, or a date or a date and time (minutes or
// seconds) in zone.
func ParseTime(s string, zone *time.Location) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02", "2006-01-02T15:04", "2006-01-02T15:04:05", "2006-01-02 15:04", "2006-01-02 15:04:05"} {
		if t, err := time.ParseInLocation(layout, s, zone); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q: want RFC 3339 (2026-12-01T18:00:00+09:00), or a local date or date and time (2026-12-01, 2026-12-01T18:00)", s)
}

// EventRecord is one stored event as the records show it, its times in its
// site's time zone.
type EventRecord struct {
	ID          string         `json:"id"`
	At          time.Time      `json:"at"`
	ReceivedAt  time.Time      `json:"received_at"`
	Site        string         `json:"site"`
	Gate        string         `json:"gate"`
	Lane        string         `json:"lane"`
	Kind        event.Kind     `json:"kind"`
	Decision    event.Decision `json:"decision"`
	Reason      event.Reason   `json:"reason"`
	ServiceID   string         `json:"service_id"`
	Card        string         `json:"card"`
	Assurance   string         `json:"assurance"`
	Offline     bool           `json:"offline"`
	ListVersion uint64         `json:"list_version"`
	LatencyMS   float64        `json:"latency_ms"`
	Seq         uint64         `json:"seq"`
	Ref         string         `json:"ref"`
	// CardNext is the card's key under the next secret, on events of a
	// gate in a card-key rotation.
	CardNext string `json:"card_next,omitempty"`
	// Seat is the seat a card was admitted on or enrolled to (companions on
	// one order share its service id).
	Seat string `json:"seat"`
}

func (q *EventQuery) match(e *event.Event) bool {
	return (q.Site == "" || e.Site == q.Site) && (q.Gate == "" || e.Gate == q.Gate) && (q.Lane == "" || e.Lane == q.Lane) &&
		(q.Kind == "" || e.Kind == q.Kind) && (q.Decision == "" || e.Decision == q.Decision) && (q.Reason == "" || e.Reason == q.Reason) &&
		(q.Since.IsZero() || !e.At.Before(q.Since)) && (q.Until.IsZero() || e.At.Before(q.Until))
}

// clockMargin is how far an event's id (the gate's clock when it made the
// ULID) may be from its tap time; a range scan starts and ends this much
// wider and filters on the tap time.
const clockMargin = time.Minute

// scan calls fn with each event q selects, decoded, in id order, until fn
// returns false. Event ids are ULIDs (the event contract): a Since seeks
// and an Until ends the scan by the time in the id.
func (q *EventQuery) scan(src EventSource, fn func(*event.Event, time.Time) bool) error {
	after := q.After
	if !q.Since.IsZero() {
		var start ulid.ULID
		if err := start.SetTime(ulid.Timestamp(q.Since.Add(-clockMargin))); err == nil && start.String() > after {
			after = start.String()
		}
	}
	var err error
	scanErr := src.ScanEvents(after, func(rec Record) bool {
		e, derr := event.Decode(rec.Event)
		if derr != nil {
			err = fmt.Errorf("hub: stored event: %w", derr)
			return false
		}
		if !q.Until.IsZero() {
			if id, perr := ulid.ParseStrict(e.ID); perr == nil && ulid.Time(id.Time()).After(q.Until.Add(clockMargin)) {
				return false
			}
		}
		if !q.match(&e) {
			return true
		}
		return fn(&e, rec.ReceivedAt)
	})
	return cmp.Or(scanErr, err)
}

// QueryEvents calls fn with each event q selects, in id order (tap-time
// order), times in zone(site). With q.Limit it stops after a page and
// returns the cursor of the next page, "" when there is none.
func QueryEvents(src EventSource, q EventQuery, zone func(site string) *time.Location, fn func(EventRecord) error) (next string, err error) {
	n := 0
	var last string
	var fnErr error
	err = q.scan(src, func(e *event.Event, received time.Time) bool {
		if q.Limit > 0 && n == q.Limit {
			next = last // one more exists
			return false
		}
		loc := zone(e.Site)
		fnErr = fn(EventRecord{ID: e.ID, At: e.At.In(loc), ReceivedAt: received.In(loc), Site: e.Site, Gate: e.Gate, Lane: e.Lane,
			Kind: e.Kind, Decision: e.Decision, Reason: e.Reason, ServiceID: e.ServiceID, Card: e.Card, CardNext: e.CardNext, Assurance: e.Assurance,
			Offline: e.Offline, ListVersion: e.ListVersion, LatencyMS: e.LatencyMS, Seq: e.Seq, Ref: e.Ref, Seat: e.Seat})
		n++
		last = e.ID
		return fnErr == nil
	})
	if err := cmp.Or(err, fnErr); err != nil {
		return "", err
	}
	return next, nil
}

// GateCount is what one gate did in one interval: admitted entries (and
// check-ins) less those annulled, admitted exits (and check-outs), denied
// taps.
type GateCount struct {
	Site    string    `json:"site"`
	Gate    string    `json:"gate"`
	From    time.Time `json:"from"`
	Until   time.Time `json:"until"`
	Entries int       `json:"entries"`
	Exits   int       `json:"exits"`
	Denied  int       `json:"denied"`
}

// CountEvents counts the events q selects per gate per interval, intervals
// aligned to local midnight in zone(site), in site, gate and time order. Only
// intervals with taps are returned. q's cursor and limit are ignored.
func CountEvents(src EventSource, q EventQuery, interval time.Duration, zone func(site string) *time.Location) ([]GateCount, error) {
	if interval < time.Minute || interval > 24*time.Hour {
		return nil, fmt.Errorf("hub: count events: interval %s: want 1m to 24h", interval)
	}
	q.After, q.Limit = "", 0
	type bucket struct {
		site, gate string
		from       int64
	}
	counts := map[bucket]*GateCount{}
	entries := map[string]bucket{} // admitted entry id -> its interval, for annuls
	err := q.scan(src, func(e *event.Event, _ time.Time) bool {
		loc := zone(e.Site)
		at := e.At.In(loc)
		y, m, d := at.Date()
		midnight := time.Date(y, m, d, 0, 0, 0, 0, loc)
		from := midnight.Add(at.Sub(midnight).Truncate(interval))
		k := bucket{e.Site, e.Gate, from.UnixNano()}
		if e.Kind == event.KindAnnul {
			if b, ok := entries[e.Ref]; ok {
				counts[b].Entries--
				delete(entries, e.Ref)
			}
			return true
		}
		c := counts[k]
		if c == nil {
			until := from.Add(interval)
			if next := midnight.AddDate(0, 0, 1); until.After(next) {
				until = next // the day's last interval ends at midnight
			}
			c = &GateCount{Site: e.Site, Gate: e.Gate, From: from, Until: until}
			counts[k] = c
		}
		switch {
		case e.Decision == event.Deny:
			c.Denied++
		case e.Kind == event.KindEntry || e.Kind == event.KindCheckin:
			c.Entries++
			entries[e.ID] = k
		case e.Kind == event.KindExit || e.Kind == event.KindCheckout:
			c.Exits++
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	out := make([]GateCount, 0, len(counts))
	for _, c := range counts {
		out = append(out, *c)
	}
	slices.SortFunc(out, func(a, b GateCount) int {
		return cmp.Or(cmp.Compare(a.Site, b.Site), cmp.Compare(a.Gate, b.Gate), a.From.Compare(b.From))
	})
	return out, nil
}

// eventColumns is the header of an events CSV, in order.
var eventColumns = []string{"id", "at", "received_at", "site", "gate", "lane", "kind", "decision", "reason", "service_id", "card",
	"assurance", "offline", "list_version", "latency_ms", "seq", "ref", "seat"}

// EventCSV writes event records as CSV (UTF-8, RFC 4180, a header line).
type EventCSV struct {
	w      *csv.Writer
	header bool
}

// NewEventCSV returns a writer of records to w.
func NewEventCSV(w io.Writer) *EventCSV { return &EventCSV{w: csv.NewWriter(w)} }

// Write writes one record (the header first).
func (c *EventCSV) Write(r EventRecord) error {
	if !c.header {
		c.header = true
		if err := c.w.Write(eventColumns); err != nil {
			return err
		}
	}
	return c.w.Write([]string{r.ID, r.At.Format(time.RFC3339Nano), r.ReceivedAt.Format(time.RFC3339Nano), r.Site, r.Gate, r.Lane,
		string(r.Kind), string(r.Decision), string(r.Reason), r.ServiceID, r.Card, r.Assurance, strconv.FormatBool(r.Offline),
		strconv.FormatUint(r.ListVersion, 10), strconv.FormatFloat(r.LatencyMS, 'f', -1, 64), strconv.FormatUint(r.Seq, 10), r.Ref, r.Seat})
}

// Flush writes what is buffered (the header alone when there was no record)
// and returns the first write error.
func (c *EventCSV) Flush() error {
	if !c.header {
		c.header = true
		if err := c.w.Write(eventColumns); err != nil {
			return err
		}
	}
	c.w.Flush()
	return c.w.Error()
}

// ParseEventCSV reads an events CSV as EventCSV writes it.
func ParseEventCSV(r io.Reader) ([]EventRecord, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = len(eventColumns)
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("hub: events csv: header: %w", err)
	}
	if !slices.Equal(header, eventColumns) {
		return nil, fmt.Errorf("hub: events csv: header %v: want %v", header, eventColumns)
	}
	var out []EventRecord
	for {
		f, err := cr.Read()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("hub: events csv: %w", err)
		}
		line, _ := cr.FieldPos(0)
		r := EventRecord{ID: f[0], Site: f[3], Gate: f[4], Lane: f[5], Kind: event.Kind(f[6]), Decision: event.Decision(f[7]),
			Reason: event.Reason(f[8]), ServiceID: f[9], Card: f[10], Assurance: f[11], Ref: f[16], Seat: f[17]}
		var errs []error
		parse := func(col string, fn func() error) {
			if err := fn(); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", col, err))
			}
		}
		parse("at", func() (err error) { r.At, err = time.Parse(time.RFC3339Nano, f[1]); return })
		parse("received_at", func() (err error) { r.ReceivedAt, err = time.Parse(time.RFC3339Nano, f[2]); return })
		parse("offline", func() (err error) { r.Offline, err = strconv.ParseBool(f[12]); return })
		parse("list_version", func() (err error) { r.ListVersion, err = strconv.ParseUint(f[13], 10, 64); return })
		parse("latency_ms", func() (err error) { r.LatencyMS, err = strconv.ParseFloat(f[14], 64); return })
		parse("seq", func() (err error) { r.Seq, err = strconv.ParseUint(f[15], 10, 64); return })
		if err := errors.Join(errs...); err != nil {
			return nil, fmt.Errorf("hub: events csv: line %d: %w", line, err)
		}
		out = append(out, r)
	}
}
