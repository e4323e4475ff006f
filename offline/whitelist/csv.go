package whitelist

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/mynagate/mynagate/internal/textenc"
	"github.com/mynagate/mynagate/offline/cardkey"
)

// Columns of an import CSV. The first nine are required (in any order);
// daily_from and daily_until (HH:MM, gate local time, both or neither) are
// optional. Any other column is an error, so a misspelt one is not silently
// ignored.
var (
	requiredColumns = []string{"issuer_key_id", "serial", "service_id", "kind", "valid_from", "valid_until", "zones", "seat", "group"}
	optionalColumns = []string{"daily_from", "daily_until"}
)

// importBatch is how many entries one write transaction of an import holds:
// small enough to bound a transaction's memory, large enough to amortise the
// fsync.
const importBatch = 250_000

// ImportError is a CSV import refused because of one row. Nothing was applied.
type ImportError struct {
	// Line is the 1-based line in the file; Column the header name, or "" when
	// the whole row is at fault.
	Line   int
	Column string
	Err    error
}

// Error implements error.
func (e *ImportError) Error() string {
	where := fmt.Sprintf("line %d", e.Line)
	if e.Column != "" {
		where += ", column " + e.Column
	}
	return "whitelist: import: " + where + ": " + e.Err.Error() + "; nothing was applied"
}

// Unwrap returns the cause.
func (e *ImportError) Unwrap() error { return e.Err }

// ImportStats describes a finished import.
type ImportStats struct {
	Rows     int    `json:"rows"`
	Version  uint64 `json:"version"`
	Previous uint64 `json:"previous_entries"`
}

// ImportCSV replaces the whole list with the rows of a CSV file, computing each
// card key with k, and raises the version by one. The revocation set is kept.
//
// The header is issuer_key_id,serial,service_id,kind,valid_from,valid_until,
// zones,seat,group (see requiredColumns for optional ones): issuer_key_id in
// hex (lower case by convention), serial in hex (upper case by convention,
// leading zeros ignored), kind ticket|resident|staff, valid_* RFC 3339 or empty
// (open), zones separated by ';' (empty: all zones). Every row is checked
// before anything is written: a bad row or a card listed twice refuses the
// import with an *ImportError naming the line and column, and the list in
// force stays as it was. The rows are then written in batches into a new bucket
// which replaces the old one in one transaction, so lookups keep working on
// the old list meanwhile and a crash leaves it in place.
//
// progress, if not nil, is called with the number of rows read so far, every
// 10 000 rows and once when reading ends; writing follows.
func (s *Store) ImportCSV(r io.Reader, k cardkey.Keyer, progress func(n int)) (ImportStats, error) {
	recs, err := readCSV(r, k, progress)
	if err != nil {
		return ImportStats{}, err
	}
	if err := sortUnique(recs, "line"); err != nil {
		return ImportStats{}, fmt.Errorf("whitelist: import: %w; nothing was applied", err)
	}

	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	var (
		name  []byte
		start uint64
		st    = ImportStats{Rows: len(recs)}
	)
	err = s.db.Update(func(tx *bolt.Tx) error {
		m := tx.Bucket(bucketMeta)
		start = u64(m.Get(metaVersion))
		st.Previous = u64(m.Get(metaCount))
		var err error
		name, err = newEntriesBucket(tx)
		return err
	})
	if err != nil {
		return ImportStats{}, fmt.Errorf("whitelist: import: create new list: %w", err)
	}
	abandon := func(step string, err error) (ImportStats, error) {
		if derr := s.db.Update(func(tx *bolt.Tx) error { return tx.DeleteBucket(name) }); derr != nil {
			slog.Warn("whitelist: could not drop the partial list; the next open will", "err", derr)
		}
		return ImportStats{}, fmt.Errorf("whitelist: import: %s: %w; nothing was applied", step, err)
	}
	for i := 0; i < len(recs); i += importBatch {
		batch := recs[i:min(i+importBatch, len(recs))]
		err := s.db.Update(func(tx *bolt.Tx) error { return fill(tx.Bucket(name), batch) })
		if err != nil {
			return abandon("write", err)
		}
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		m := tx.Bucket(bucketMeta)
		if v := u64(m.Get(metaVersion)); v != start {
			return fmt.Errorf("the list changed to version %d during the import; import again", v)
		}
		if err := swap(tx, name, len(recs)); err != nil {
			return err
		}
		st.Version = start + 1
		return stamp(m, st.Version, time.Now())
	})
	if err != nil {
		return abandon("swap in the new list", err)
	}
	s.version.Store(st.Version)
	slog.Info("whitelist: imported", "rows", st.Rows, "version", st.Version, "previous_entries", st.Previous)
	return st, nil
}

// readCSV parses and keys every row, or returns the first bad row's error.
// A file (an io.ReadSeeker) may be UTF-8 or Shift_JIS (CP932), as Excel
// writes it; other encodings are refused by name. A stream is read as UTF-8.
func readCSV(r io.Reader, k cardkey.Keyer, progress func(n int)) ([]rec, error) {
	if rs, ok := r.(io.ReadSeeker); ok {
		text, _, err := textenc.Open(rs)
		if err != nil {
			return nil, &ImportError{Line: 1, Err: err}
		}
		r = text
	}
	br := bufio.NewReaderSize(r, 1<<16)
	if b, err := br.Peek(3); err == nil && bytes.Equal(b, []byte("\xEF\xBB\xBF")) {
		br.Discard(3) // a byte-order mark from a spreadsheet export
	}
	cr := csv.NewReader(br)
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err == io.EOF {
		return nil, &ImportError{Line: 1, Err: errors.New("empty file; want a header line " + strings.Join(requiredColumns, ","))}
	}
	if err != nil {
		return nil, csvError(err)
	}
	cols, err := parseHeader(header)
	if err != nil {
		return nil, &ImportError{Line: 1, Err: err}
	}
	var (
		recs    []rec
		buf     []byte
		vals    arena
		pending []ident // rows of recs[len(recs)-len(pending):] still to key
	)
	for {
		fields, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, csvError(err)
		}
		line, _ := cr.FieldPos(0)
		akid, serial, e, col, err := cols.parseRow(fields)
		if err != nil {
			return nil, &ImportError{Line: line, Column: col, Err: err}
		}
		buf = encodeEntry(buf[:0], e)
		recs = append(recs, rec{val: vals.add(buf), line: line})
		pending = append(pending, ident{akid, serial})
		if len(pending) == keyBatch {
			if err := keyAll(k, recs[len(recs)-len(pending):], pending); err != nil {
				return nil, err
			}
			pending = pending[:0]
		}
		if progress != nil && len(recs)%10_000 == 0 {
			progress(len(recs))
		}
	}
	if err := keyAll(k, recs[len(recs)-len(pending):], pending); err != nil {
		return nil, err
	}
	if progress != nil {
		progress(len(recs))
	}
	return recs, nil
}

// keyBatch is how many rows are keyed together, spread over the processors:
// an HSM keyer spends most of its time in the token, so rows are keyed in
// parallel while the file is parsed in batches.
const keyBatch = 4096

// ident is the certificate identity of a row, kept only until it is keyed.
type ident struct{ akid, serial []byte }

// keyAll computes the card key of every row in ids into recs, in parallel, and
// returns the error of the first failing row.
func keyAll(k cardkey.Keyer, recs []rec, ids []ident) error {
	workers := min(runtime.GOMAXPROCS(0), max(1, len(ids)/64))
	errs := make([]error, len(ids))
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(ids); i += workers {
				recs[i].key, errs[i] = k.CardKey(ids[i].akid, ids[i].serial)
			}
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return &ImportError{Line: recs[i].line, Err: fmt.Errorf("compute card key: %w", err)}
		}
	}
	return nil
}

// arena holds encoded values in large chunks: one allocation per megabyte
// instead of one per row keeps a multi-million-row import light on the
// collector.
type arena struct{ chunk []byte }

func (a *arena) add(b []byte) []byte {
	if cap(a.chunk)-len(a.chunk) < len(b) {
		a.chunk = make([]byte, 0, max(1<<20, len(b)))
	}
	n := len(a.chunk)
	a.chunk = append(a.chunk, b...)
	return a.chunk[n:len(a.chunk):len(a.chunk)]
}

func csvError(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return &ImportError{Line: pe.Line, Err: pe.Err}
	}
	return fmt.Errorf("whitelist: import: read: %w; nothing was applied", err)
}

// columns maps column names to their index in a row; -1 for an absent
// optional column.
type columns struct {
	names []string
	idx   map[string]int
}

func parseHeader(h []string) (*columns, error) {
	c := &columns{names: make([]string, len(h)), idx: make(map[string]int, len(h))}
	for i, name := range h {
		name = strings.TrimSpace(name)
		c.names[i] = name
		known := false
		for _, k := range append(requiredColumns[:len(requiredColumns):len(requiredColumns)], optionalColumns...) {
			known = known || k == name
		}
		if !known {
			return nil, fmt.Errorf("unknown column %q; the columns are %s (optional: %s)", name, strings.Join(requiredColumns, ","), strings.Join(optionalColumns, ","))
		}
		if _, dup := c.idx[name]; dup {
			return nil, fmt.Errorf("column %q appears twice", name)
		}
		c.idx[name] = i
	}
	for _, name := range requiredColumns {
		if _, ok := c.idx[name]; !ok {
			return nil, fmt.Errorf("missing column %q; the header must name %s", name, strings.Join(requiredColumns, ","))
		}
	}
	_, from := c.idx["daily_from"]
	_, until := c.idx["daily_until"]
	if from != until {
		return nil, errors.New("daily_from and daily_until go together; give both columns or neither")
	}
	return c, nil
}

func (c *columns) get(fields []string, name string) string {
	i, ok := c.idx[name]
	if !ok || i >= len(fields) {
		return ""
	}
	return strings.TrimSpace(fields[i])
}

// parseRow parses one data row. On error it names the column at fault.
func (c *columns) parseRow(fields []string) (akid, serial []byte, e Entry, col string, err error) {
	if akid, err = parseHex(c.get(fields, "issuer_key_id")); err != nil {
		return nil, nil, Entry{}, "issuer_key_id", err
	}
	if serial, err = parseHex(c.get(fields, "serial")); err != nil {
		return nil, nil, Entry{}, "serial", err
	}
	if len(bytes.TrimLeft(serial, "\x00")) == 0 {
		return nil, nil, Entry{}, "serial", errors.New("serial number is zero")
	}
	e.ServiceID = c.get(fields, "service_id")
	e.Kind = c.get(fields, "kind")
	e.Seat = c.get(fields, "seat")
	e.Group = c.get(fields, "group")
	for _, z := range strings.Split(c.get(fields, "zones"), ";") {
		if z = strings.TrimSpace(z); z != "" {
			e.Zones = append(e.Zones, z)
		}
	}
	if e.ValidFrom, err = parseTime(c.get(fields, "valid_from")); err != nil {
		return nil, nil, Entry{}, "valid_from", err
	}
	if e.ValidUntil, err = parseTime(c.get(fields, "valid_until")); err != nil {
		return nil, nil, Entry{}, "valid_until", err
	}
	if e.Daily.From, err = parseClock(c.get(fields, "daily_from")); err != nil {
		return nil, nil, Entry{}, "daily_from", err
	}
	if e.Daily.Until, err = parseClock(c.get(fields, "daily_until")); err != nil {
		return nil, nil, Entry{}, "daily_until", err
	}
	if col, err := e.check(); err != nil {
		return nil, nil, Entry{}, col, err
	}
	return akid, serial, e, "", nil
}

func parseHex(s string) ([]byte, error) {
	if s == "" {
		return nil, errors.New("empty")
	}
	if strings.ContainsAny(s, ": ") {
		return nil, fmt.Errorf("%q: write plain hex digits without separators (as in 95679B1B...)", s)
	}
	if len(s)%2 == 1 {
		s = "0" + s
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%q is not hex", s)
	}
	return b, nil
}

func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not an RFC 3339 time such as 2026-12-01T18:00:00+09:00", s)
	}
	return t, nil
}

// parseClock parses HH:MM into minutes after midnight; 24:00 is midnight.
func parseClock(s string) (uint16, error) {
	if s == "" {
		return 0, nil
	}
	h, m, ok := strings.Cut(s, ":")
	hh, err1 := strconv.ParseUint(h, 10, 8)
	mm, err2 := strconv.ParseUint(m, 10, 8)
	if !ok || len(m) != 2 || err1 != nil || err2 != nil || mm > 59 || hh > 24 || (hh == 24 && mm != 0) {
		return 0, fmt.Errorf("%q is not a time of day HH:MM", s)
	}
	return uint16((hh*60 + mm) % (24 * 60)), nil
}
