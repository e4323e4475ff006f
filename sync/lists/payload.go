package lists

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/mynagate/mynagate/offline/cardkey"
	"github.com/mynagate/mynagate/offline/whitelist"
)

// Change is the content of one list version: a snapshot (the whole list) or a
// delta (what changed since Base).
type Change struct {
	// Puts adds or replaces whitelist entries.
	Puts []whitelist.Record
	// Deletes removes whitelist entries (delta only).
	Deletes []cardkey.Key
	// Revoke adds card keys to the revocation set; Unrevoke removes them
	// (delta only). A snapshot's Revoke is the whole set.
	Revoke, Unrevoke []cardkey.Key
}

// payloadMagic opens a payload, format 1:
//
//	"MGLP" 0x01
//	uvarint n, then n puts:  key[32], entry
//	uvarint n, then n keys:  deletes
//	uvarint n, then n keys:  revoke
//	uvarint n, then n keys:  unrevoke
//
// entry:
//
//	string  service id, kind, seat, group   (uvarint length, bytes)
//	varint  valid_from, valid_until         (unix seconds; 0 = open)
//	uvarint daily from, daily until         (minutes)
//	uvarint zone count, then each zone as a string
//
// Nothing may follow the last section.
var payloadMagic = []byte("MGLP\x01")

// Limits that keep a hostile payload from allocating more than its own size.
const (
	maxString = 1024
	maxZones  = 64
	// minPut is the smallest encoded put: key, four empty strings, two
	// one-byte varints, two one-byte uvarints and a zero zone count.
	minPut = 32 + 4 + 2 + 2 + 1
)

// EncodePayload serialises c. The hub signs the result's hash in the manifest.
func EncodePayload(c *Change) []byte {
	n := len(payloadMagic) + 4*binary.MaxVarintLen64 + 32*(len(c.Deletes)+len(c.Revoke)+len(c.Unrevoke)) + 64*len(c.Puts)
	b := make([]byte, 0, n)
	b = append(b, payloadMagic...)
	b = binary.AppendUvarint(b, uint64(len(c.Puts)))
	for _, r := range c.Puts {
		b = append(b, r.Key[:]...)
		b = appendEntry(b, r.Entry)
	}
	for _, keys := range [][]cardkey.Key{c.Deletes, c.Revoke, c.Unrevoke} {
		b = binary.AppendUvarint(b, uint64(len(keys)))
		for _, k := range keys {
			b = append(b, k[:]...)
		}
	}
	return b
}

func appendEntry(b []byte, e whitelist.Entry) []byte {
	for _, s := range [...]string{e.ServiceID, e.Kind, e.Seat, e.Group} {
		b = appendString(b, s)
	}
	b = binary.AppendVarint(b, unixOrZero(e.ValidFrom))
	b = binary.AppendVarint(b, unixOrZero(e.ValidUntil))
	b = binary.AppendUvarint(b, uint64(e.Daily.From))
	b = binary.AppendUvarint(b, uint64(e.Daily.Until))
	b = binary.AppendUvarint(b, uint64(len(e.Zones)))
	for _, z := range e.Zones {
		b = appendString(b, z)
	}
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func unixOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

// ErrPayload is wrapped by every DecodePayload error.
var ErrPayload = errors.New("malformed list payload")

// DecodePayload parses a payload written by EncodePayload. It checks structure
// and limits only; entry validity is the store's Apply's to judge.
func DecodePayload(b []byte) (*Change, error) {
	if len(b) < len(payloadMagic) || string(b[:len(payloadMagic)]) != string(payloadMagic) {
		return nil, fmt.Errorf("%w: bad magic or format", ErrPayload)
	}
	d := reader{b: b[len(payloadMagic):]}
	c := &Change{}
	n := d.count(minPut)
	if n > 0 {
		c.Puts = make([]whitelist.Record, n)
	}
	for i := range c.Puts {
		if d.err != nil {
			break
		}
		c.Puts[i].Key = d.key()
		c.Puts[i].Entry = d.entry()
	}
	for _, dst := range []*[]cardkey.Key{&c.Deletes, &c.Revoke, &c.Unrevoke} {
		n := d.count(32)
		if n > 0 && d.err == nil {
			*dst = make([]cardkey.Key, n)
			for i := range *dst {
				(*dst)[i] = d.key()
			}
		}
	}
	if d.err != nil {
		return nil, d.err
	}
	if len(d.b) != 0 {
		return nil, fmt.Errorf("%w: %d bytes after the last section", ErrPayload, len(d.b))
	}
	return c, nil
}

// reader decodes with a sticky error.
type reader struct {
	b   []byte
	err error
}

func (d *reader) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: truncated or invalid %s", ErrPayload, what)
	}
}

func (d *reader) uvarint(what string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail(what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *reader) varint(what string) int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail(what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads an item count and refuses one the remaining bytes cannot hold.
func (d *reader) count(minItem int) int {
	n := d.uvarint("count")
	if d.err == nil && n > uint64(len(d.b)/minItem) {
		d.err = fmt.Errorf("%w: count %d exceeds what %d bytes can hold", ErrPayload, n, len(d.b))
		return 0
	}
	return int(n)
}

func (d *reader) key() cardkey.Key {
	var k cardkey.Key
	if d.err != nil {
		return k
	}
	if len(d.b) < len(k) {
		d.fail("card key")
		return k
	}
	copy(k[:], d.b)
	d.b = d.b[len(k):]
	return k
}

func (d *reader) str(what string) string {
	n := d.uvarint(what)
	if d.err != nil {
		return ""
	}
	if n > maxString || n > uint64(len(d.b)) {
		d.fail(what)
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *reader) entry() whitelist.Entry {
	var e whitelist.Entry
	e.ServiceID = d.str("service id")
	e.Kind = d.str("kind")
	e.Seat = d.str("seat")
	e.Group = d.str("group")
	if v := d.varint("valid_from"); v != 0 {
		e.ValidFrom = time.Unix(v, 0).UTC()
	}
	if v := d.varint("valid_until"); v != 0 {
		e.ValidUntil = time.Unix(v, 0).UTC()
	}
	from, until := d.uvarint("daily from"), d.uvarint("daily until")
	if from >= 24*60 || until >= 24*60 {
		d.fail("daily window")
	}
	e.Daily = whitelist.Daily{From: uint16(from), Until: uint16(until)}
	nz := d.uvarint("zone count")
	if nz > maxZones {
		d.fail("zone count")
	}
	if d.err != nil {
		return e
	}
	if nz > 0 {
		e.Zones = make([]string, nz)
		for i := range e.Zones {
			e.Zones[i] = d.str("zone")
		}
	}
	return e
}
