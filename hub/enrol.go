package hub

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mynagate/mynagate/internal/textenc"
	"github.com/mynagate/mynagate/offline/cardkey"
	"github.com/mynagate/mynagate/offline/whitelist"
)

// Enrolment CSV columns. A row names its card either by card_key (64 hex
// digits, as a kiosk enrolment reports it) or by issuer_key_id and serial (hex,
// from the certificate; the hub computes the card key with the shared secret).
// service_id and kind are required; the rest optional. Unknown columns are an
// error, so that a misspelt column is not silently ignored.
var enrolColumns = []string{"card_key", "issuer_key_id", "serial", "service_id", "kind", "valid_from", "valid_until",
	"zones", "seat", "group", "daily_from", "daily_until"}

// maxReported is how many bad rows an enrolment error lists; it counts all.
const maxReported = 20

// CSVError is an enrolment file refused because of its header, its encoding
// or one row; nothing was enrolled.
type CSVError struct {
	Line   int
	Column string
	Err    error
}

// Error implements error.
func (e *CSVError) Error() string {
	return "hub: enrol csv: " + e.where() + "; nothing was enrolled"
}

func (e *CSVError) where() string {
	where := fmt.Sprintf("line %d", e.Line)
	if e.Column != "" {
		where += ", column " + e.Column
	}
	return where + ": " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *CSVError) Unwrap() error { return e.Err }

// RowErrors is an enrolment file refused because of bad rows: the first
// maxReported of them, in line order, and how many there are in all. Nothing
// was enrolled.
type RowErrors struct {
	First []*CSVError
	Total int
}

// Error implements error.
func (e *RowErrors) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "hub: enrol csv: %d bad rows; nothing was enrolled; fix them and import again", e.Total)
	for _, r := range e.First {
		b.WriteString("\n  " + r.where())
	}
	if more := e.Total - len(e.First); more > 0 {
		fmt.Fprintf(&b, "\n  ... and %d more", more)
	}
	return b.String()
}

// Enrolment is an enrolment file read and checked, its rows sorted by card
// key and encoded as the master list stores them.
type Enrolment struct {
	// Encoding is the file's text encoding.
	Encoding textenc.Encoding
	rows     []enrolRow
}

// enrolRow is one row: its card key, its encoded entry and its line.
type enrolRow struct {
	key  cardkey.Key
	val  []byte
	line int
}

// Len returns the number of rows.
func (e *Enrolment) Len() int { return len(e.rows) }

// Records decodes the rows, in card-key order.
func (e *Enrolment) Records() ([]whitelist.Record, error) {
	out := make([]whitelist.Record, len(e.rows))
	for i, r := range e.rows {
		rec, err := decodeRecord(r.key[:], r.val)
		if err != nil {
			return nil, err
		}
		out[i] = rec
	}
	return out, nil
}

// ParseEnrolCSV reads an enrolment file (UTF-8, with or without a byte-order
// mark, or Shift_JIS/CP932; other encodings are refused by name). k computes
// card keys for rows given by issuer_key_id and serial; it may be nil when
// every row has card_key. Every row is checked, and a card listed twice is an
// error: bad rows are returned together as *RowErrors, a bad header as
// *CSVError. read, if not nil, is told how many bytes of the file were read
// so far. Reading stops when ctx is done.
func ParseEnrolCSV(ctx context.Context, r io.ReadSeeker, k cardkey.Keyer, read func(n int64)) (*Enrolment, error) {
	// Count the file's bytes, not the decoded text's, so that the count
	// ends at the file's size; and only once the encoding is known.
	counted := &countingReader{r: r}
	text, enc, err := textenc.Open(counted)
	if err != nil {
		return nil, &CSVError{Line: 1, Err: err}
	}
	counted.read = read
	cr := csv.NewReader(bufio.NewReaderSize(text, 1<<16))
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err != nil {
		return nil, &CSVError{Line: 1, Err: fmt.Errorf("read header: %w", err)}
	}
	idx := map[string]int{}
	for i, h := range header {
		h = strings.TrimSpace(h)
		if !slices.Contains(enrolColumns, h) {
			return nil, &CSVError{Line: 1, Column: h, Err: fmt.Errorf("unknown column; the columns are %s", strings.Join(enrolColumns, ","))}
		}
		if _, dup := idx[h]; dup {
			return nil, &CSVError{Line: 1, Column: h, Err: errors.New("column appears twice")}
		}
		idx[h] = i
	}
	_, hasKey := idx["card_key"]
	_, hasAKID := idx["issuer_key_id"]
	_, hasSerial := idx["serial"]
	switch {
	case hasKey == (hasAKID || hasSerial):
		return nil, &CSVError{Line: 1, Err: errors.New("give either card_key or issuer_key_id and serial")}
	case hasAKID != hasSerial:
		return nil, &CSVError{Line: 1, Err: errors.New("issuer_key_id and serial go together")}
	case !hasKey && k == nil:
		return nil, &CSVError{Line: 1, Err: errors.New("rows by issuer_key_id and serial need the card-key secret (card_key_secret in the hub config)")}
	}
	for _, req := range []string{"service_id", "kind"} {
		if _, ok := idx[req]; !ok {
			return nil, &CSVError{Line: 1, Column: req, Err: errors.New("missing required column")}
		}
	}
	get := func(row []string, col string) string {
		if i, ok := idx[col]; ok && i < len(row) {
			return strings.TrimSpace(row[i])
		}
		return ""
	}
	var (
		out  = &Enrolment{Encoding: enc}
		bad  RowErrors
		vals arena
	)
	report := func(e *CSVError) {
		bad.Total++
		if len(bad.First) < maxReported {
			bad.First = append(bad.First, e)
		}
	}
	for n := 0; ; n++ {
		if n%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("hub: enrol csv: stopped: %w; nothing was enrolled", err)
			}
		}
		row, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if !errors.As(err, &pe) {
				return nil, fmt.Errorf("hub: enrol csv: read: %w; nothing was enrolled", err)
			}
			report(&CSVError{Line: pe.Line, Err: pe.Err})
			continue
		}
		line, _ := cr.FieldPos(0)
		rec, col, err := parseEnrolRow(row, get, hasKey, k)
		if err != nil {
			report(&CSVError{Line: line, Column: col, Err: err})
			continue
		}
		v, err := json.Marshal(rec.Entry)
		if err != nil {
			return nil, fmt.Errorf("hub: enrol csv: encode line %d: %w", line, err)
		}
		out.rows = append(out.rows, enrolRow{key: rec.Key, val: vals.add(v), line: line})
	}
	slices.SortFunc(out.rows, func(a, b enrolRow) int {
		if c := bytes.Compare(a.key[:], b.key[:]); c != 0 {
			return c
		}
		return a.line - b.line
	})
	for i := 1; i < len(out.rows); i++ {
		if out.rows[i].key == out.rows[i-1].key {
			report(&CSVError{Line: out.rows[i].line, Err: fmt.Errorf("card already listed on line %d", out.rows[i-1].line)})
		}
	}
	if bad.Total > 0 {
		slices.SortFunc(bad.First, func(a, b *CSVError) int { return a.Line - b.Line })
		return nil, &bad
	}
	return out, nil
}

// countingReader tells read, once set, how far into the file reading is.
type countingReader struct {
	r    io.ReadSeeker
	n    int64
	read func(int64)
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.read != nil {
		c.read(c.n)
	}
	return n, err
}

func (c *countingReader) Seek(off int64, whence int) (int64, error) {
	n, err := c.r.Seek(off, whence)
	c.n = n
	return n, err
}

// arena holds encoded entries in large chunks: one allocation per megabyte
// instead of one per row keeps a million-row import light on the collector.
type arena struct{ chunk []byte }

func (a *arena) add(b []byte) []byte {
	if cap(a.chunk)-len(a.chunk) < len(b) {
		a.chunk = make([]byte, 0, max(1<<20, len(b)))
	}
	n := len(a.chunk)
	a.chunk = append(a.chunk, b...)
	return a.chunk[n:len(a.chunk):len(a.chunk)]
}

func parseEnrolRow(row []string, get func([]string, string) string, byKey bool, k cardkey.Keyer) (whitelist.Record, string, error) {
	var r whitelist.Record
	var err error
	if byKey {
		if r.Key, err = cardkey.ParseKey(get(row, "card_key")); err != nil {
			return r, "card_key", err
		}
	} else {
		akid, err := hex.DecodeString(get(row, "issuer_key_id"))
		if err != nil || len(akid) == 0 {
			return r, "issuer_key_id", errors.New("want hex")
		}
		serial, err := hex.DecodeString(evenHex(get(row, "serial")))
		if err != nil || len(serial) == 0 {
			return r, "serial", errors.New("want hex")
		}
		if r.Key, err = k.CardKey(akid, serial); err != nil {
			return r, "serial", fmt.Errorf("compute card key: %w", err)
		}
	}
	e := &r.Entry
	e.ServiceID, e.Kind, e.Seat, e.Group = get(row, "service_id"), get(row, "kind"), get(row, "seat"), get(row, "group")
	for _, f := range []struct {
		col string
		dst *time.Time
	}{{"valid_from", &e.ValidFrom}, {"valid_until", &e.ValidUntil}} {
		if s := get(row, f.col); s != "" {
			t, err := time.Parse(time.RFC3339, s)
			if err != nil {
				return r, f.col, errors.New("want RFC 3339 time, e.g. 2026-12-01T18:00:00+09:00")
			}
			*f.dst = t.UTC()
		}
	}
	if z := get(row, "zones"); z != "" {
		e.Zones = strings.Split(z, ";")
	}
	from, until := get(row, "daily_from"), get(row, "daily_until")
	if (from == "") != (until == "") {
		return r, "daily_until", errors.New("daily_from and daily_until go together")
	}
	if from != "" {
		f, err := clock(from)
		if err != nil {
			return r, "daily_from", err
		}
		u, err := clock(until)
		if err != nil {
			return r, "daily_until", err
		}
		e.Daily = whitelist.Daily{From: f, Until: u}
	}
	if err := e.Validate(); err != nil {
		return r, "", err
	}
	return r, "", nil
}

// evenHex left-pads an odd-length hex serial: serials lose leading zeros.
func evenHex(s string) string {
	if len(s)%2 == 1 {
		return "0" + s
	}
	return s
}

// clock parses HH:MM into minutes after midnight.
func clock(s string) (uint16, error) {
	h, m, ok := strings.Cut(s, ":")
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if !ok || err1 != nil || err2 != nil || hh < 0 || hh > 23 || mm < 0 || mm > 59 {
		return 0, fmt.Errorf("%q: want HH:MM", s)
	}
	return uint16(hh*60 + mm), nil
}
