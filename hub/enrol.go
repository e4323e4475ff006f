package hub

import (
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

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

// CSVError is an enrolment file refused because of one row or the header;
// nothing was enrolled.
type CSVError struct {
	Line   int
	Column string
	Err    error
}

// Error implements error.
func (e *CSVError) Error() string {
	where := fmt.Sprintf("line %d", e.Line)
	if e.Column != "" {
		where += ", column " + e.Column
	}
	return "hub: enrol csv: " + where + ": " + e.Err.Error() + "; nothing was enrolled"
}

// Unwrap returns the cause.
func (e *CSVError) Unwrap() error { return e.Err }

// ParseEnrolCSV reads an enrolment file. k computes card keys for rows given by
// issuer_key_id and serial; it may be nil when every row has card_key. Every
// row is checked, and a card listed twice is an error.
func ParseEnrolCSV(r io.Reader, k cardkey.Keyer) ([]whitelist.Record, error) {
	cr := csv.NewReader(r)
	cr.ReuseRecord = false
	header, err := cr.Read()
	if err != nil {
		return nil, &CSVError{Line: 1, Err: fmt.Errorf("read header: %w", err)}
	}
	idx := map[string]int{}
	for i, h := range header {
		h = strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))
		known := false
		for _, c := range enrolColumns {
			known = known || c == h
		}
		if !known {
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
	var out []whitelist.Record
	seen := map[cardkey.Key]int{}
	for {
		row, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			line := 0
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				line, err = pe.Line, pe.Err
			}
			return nil, &CSVError{Line: line, Err: err}
		}
		line, _ := cr.FieldPos(0)
		rec, col, err := parseEnrolRow(row, get, hasKey, k)
		if err != nil {
			return nil, &CSVError{Line: line, Column: col, Err: err}
		}
		if first, dup := seen[rec.Key]; dup {
			return nil, &CSVError{Line: line, Err: fmt.Errorf("card already listed on line %d", first)}
		}
		seen[rec.Key] = line
		out = append(out, rec)
	}
	return out, nil
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
