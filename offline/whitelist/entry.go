package whitelist

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/mynagate/mynagate/offline/cardkey"
)

// Kinds of entry.
const (
	KindTicket   = "ticket"   // a venue ticket bound to the buyer's (or a companion's) card
	KindResident = "resident" // a resident record, for shelters and town-hall kiosks
	KindStaff    = "staff"    // staff and volunteers
)

// Limits on entry fields, so that one bad list cannot bloat every gate's store.
const (
	maxID    = 128 // service id, group
	maxShort = 64  // seat, one zone
	maxZones = 64
)

// Entry is what the whitelist says about one card.
type Entry struct {
	// ServiceID is the ticket number or resident id the card is bound to. It is
	// what events carry; never a name.
	ServiceID string
	// Kind is KindTicket, KindResident or KindStaff.
	Kind string
	// ValidFrom and ValidUntil bound the entry in absolute time, to the second:
	// it is valid from ValidFrom (inclusive) until ValidUntil (exclusive). A zero
	// time leaves that side open.
	ValidFrom, ValidUntil time.Time
	// Daily restricts the entry to a time of day on every day it is valid.
	Daily Daily
	// Zones lists the zones (or gates) the entry admits to; empty admits to all.
	Zones []string
	// Seat is printed on the receipt; Group ties companions' tickets bought by
	// one person together.
	Seat, Group string
}

// Daily is a time-of-day window, in minutes after local midnight of the gate's
// time zone (policy decides the zone). Until < From wraps past midnight
// (22:00–06:00). The zero value, or From == Until, means the whole day.
type Daily struct {
	From, Until uint16
}

// AllDay reports whether d does not restrict the time of day.
func (d Daily) AllDay() bool { return d.From == d.Until }

// Contains reports whether minute-of-day m (0..1439) is inside the window.
func (d Daily) Contains(m int) bool {
	f, u := int(d.From), int(d.Until)
	switch {
	case f == u:
		return true
	case f < u:
		return m >= f && m < u
	default:
		return m >= f || m < u
	}
}

// String formats the window as HH:MM-HH:MM, or "all day".
func (d Daily) String() string {
	if d.AllDay() {
		return "all day"
	}
	return fmt.Sprintf("%02d:%02d-%02d:%02d", d.From/60, d.From%60, d.Until/60, d.Until%60)
}

// Record is one card key with its entry, as a list snapshot or delta carries it.
type Record struct {
	Key   cardkey.Key
	Entry Entry
}

// Validate checks the entry's fields and limits.
func (e Entry) Validate() error {
	if col, err := e.check(); err != nil {
		return fmt.Errorf("%s: %w", col, err)
	}
	return nil
}

// check returns the first fault and the import column it is about.
func (e Entry) check() (column string, err error) {
	switch {
	case e.ServiceID == "":
		return "service_id", errors.New("empty")
	case len(e.ServiceID) > maxID:
		return "service_id", fmt.Errorf("%d bytes, at most %d", len(e.ServiceID), maxID)
	case kindCode(e.Kind) == 0:
		return "kind", fmt.Errorf("%q is not one of ticket, resident, staff", e.Kind)
	case !e.ValidFrom.IsZero() && !e.ValidUntil.IsZero() && !e.ValidFrom.Before(e.ValidUntil):
		return "valid_until", fmt.Errorf("%s is not after valid_from %s", e.ValidUntil.Format(time.RFC3339), e.ValidFrom.Format(time.RFC3339))
	case e.Daily.From >= 24*60 || e.Daily.Until >= 24*60:
		return "daily_from", fmt.Errorf("window %d-%d minutes is outside one day", e.Daily.From, e.Daily.Until)
	case len(e.Seat) > maxShort:
		return "seat", fmt.Errorf("%d bytes, at most %d", len(e.Seat), maxShort)
	case len(e.Group) > maxID:
		return "group", fmt.Errorf("%d bytes, at most %d", len(e.Group), maxID)
	case len(e.Zones) > maxZones:
		return "zones", fmt.Errorf("%d zones, at most %d", len(e.Zones), maxZones)
	}
	for _, z := range e.Zones {
		if z == "" || len(z) > maxShort {
			return "zones", fmt.Errorf("zone %q is empty or longer than %d bytes", z, maxShort)
		}
	}
	return "", nil
}

func kindCode(k string) byte {
	switch k {
	case KindTicket:
		return 1
	case KindResident:
		return 2
	case KindStaff:
		return 3
	}
	return 0
}

var kindNames = [...]string{1: KindTicket, 2: KindResident, 3: KindStaff}

// Value encoding, format 1 (compact, so a 5 M list stays small):
//
//	byte    format (1)
//	byte    kind code
//	byte    flags: 1 valid_from, 2 valid_until, 4 daily
//	varint  valid_from unix seconds   (if flag 1)
//	varint  valid_until unix seconds  (if flag 2)
//	uvarint daily from, until minutes (if flag 4)
//	string  service id, seat, group   (uvarint length, bytes)
//	uvarint zone count, then each zone as a string
const valueFormat = 1

func encodeEntry(dst []byte, e Entry) []byte {
	var flags byte
	if !e.ValidFrom.IsZero() {
		flags |= 1
	}
	if !e.ValidUntil.IsZero() {
		flags |= 2
	}
	if !e.Daily.AllDay() {
		flags |= 4
	}
	dst = append(dst, valueFormat, kindCode(e.Kind), flags)
	if flags&1 != 0 {
		dst = binary.AppendVarint(dst, e.ValidFrom.Unix())
	}
	if flags&2 != 0 {
		dst = binary.AppendVarint(dst, e.ValidUntil.Unix())
	}
	if flags&4 != 0 {
		dst = binary.AppendUvarint(dst, uint64(e.Daily.From))
		dst = binary.AppendUvarint(dst, uint64(e.Daily.Until))
	}
	for _, s := range [...]string{e.ServiceID, e.Seat, e.Group} {
		dst = binary.AppendUvarint(dst, uint64(len(s)))
		dst = append(dst, s...)
	}
	dst = binary.AppendUvarint(dst, uint64(len(e.Zones)))
	for _, z := range e.Zones {
		dst = binary.AppendUvarint(dst, uint64(len(z)))
		dst = append(dst, z...)
	}
	return dst
}

var errCorrupt = errors.New("corrupt entry value")

// decoder reads the value encoding; any short or malformed read sets bad.
type decoder struct {
	b   []byte
	bad bool
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.bad = true
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.bad = true
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) str() string {
	n := d.uvarint()
	if d.bad || uint64(len(d.b)) < n {
		d.bad = true
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func decodeEntry(b []byte) (Entry, error) {
	if len(b) < 3 || b[0] != valueFormat || b[1] == 0 || int(b[1]) >= len(kindNames) {
		return Entry{}, errCorrupt
	}
	e := Entry{Kind: kindNames[b[1]]}
	flags := b[2]
	if flags&^7 != 0 {
		return Entry{}, errCorrupt
	}
	d := decoder{b: b[3:]}
	if flags&1 != 0 {
		e.ValidFrom = time.Unix(d.varint(), 0).UTC()
	}
	if flags&2 != 0 {
		e.ValidUntil = time.Unix(d.varint(), 0).UTC()
	}
	// The encoder writes a bound only when it is set; a stored zero time is
	// corruption and would read as an open bound.
	if (flags&1 != 0 && e.ValidFrom.IsZero()) || (flags&2 != 0 && e.ValidUntil.IsZero()) {
		return Entry{}, errCorrupt
	}
	if flags&4 != 0 {
		from, until := d.uvarint(), d.uvarint()
		if from >= 24*60 || until >= 24*60 || from == until {
			return Entry{}, errCorrupt
		}
		e.Daily = Daily{From: uint16(from), Until: uint16(until)}
	}
	e.ServiceID, e.Seat, e.Group = d.str(), d.str(), d.str()
	nz := d.uvarint()
	if d.bad || nz > maxZones {
		return Entry{}, errCorrupt
	}
	if nz > 0 {
		e.Zones = make([]string, nz)
		for i := range e.Zones {
			e.Zones[i] = d.str()
		}
	}
	if d.bad || len(d.b) != 0 {
		return Entry{}, errCorrupt
	}
	return e, nil
}
