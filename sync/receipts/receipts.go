// Package receipts is the hub's end-to-end acknowledgement of a gate's events.
//
// A broker's PUBACK says only that the broker has an event; a broker can still
// lose it (Mosquitto drops messages past its queue limit and forgets what it
// received since its last autosave when killed). So the hub, once an event is
// in its store (stored now, or found there already), publishes a receipt
// naming the event's seq and id on {prefix}/{site}/{gate}/stored, and a gate
// deletes an event from its outbox only on such a receipt. An event without a
// receipt is sent again; the hub deduplicates by id and sends the receipt
// again. A receipt names the id as well as the seq, so a stale receipt meant
// for a gate's earlier outbox (a wiped disk starts numbering at 1 again)
// deletes nothing.
package receipts

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// Version is the receipt message format this package writes and reads.
const Version = 1

// MaxPerMessage bounds the receipts in one message (about 50 KB).
const MaxPerMessage = 1024

// maxIDLen bounds an event id: ULIDs are 26 characters.
const maxIDLen = 64

// Receipt says the hub's store holds the gate's event with this seq and id.
type Receipt struct {
	Seq uint64 `json:"seq"`
	ID  string `json:"id"`
}

// message is the wire form: {"v":1,"stored":[{"seq":1,"id":"01J..."}]}.
type message struct {
	V      int       `json:"v"`
	Stored []Receipt `json:"stored"`
}

// Topic returns the topic the hub publishes a gate's receipts on.
func Topic(prefix, site, gate string) string { return prefix + "/" + site + "/" + gate + "/stored" }

// Encode writes one receipt message; rs must hold 1 to MaxPerMessage receipts.
func Encode(rs []Receipt) ([]byte, error) {
	if len(rs) == 0 || len(rs) > MaxPerMessage {
		return nil, fmt.Errorf("receipts: encode %d receipts: want 1 to %d", len(rs), MaxPerMessage)
	}
	return json.Marshal(message{V: Version, Stored: rs})
}

// Parse reads one receipt message, strictly: unknown fields, another version,
// an empty list, a zero seq or an empty or overlong id refuse the whole
// message, so that a malformed message never deletes anything.
func Parse(b []byte) ([]Receipt, error) {
	var m message
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("receipts: parse: %w", err)
	}
	if dec.More() {
		return nil, errors.New("receipts: parse: data after the message")
	}
	if m.V != Version {
		return nil, fmt.Errorf("receipts: parse: version %d, want %d", m.V, Version)
	}
	if len(m.Stored) == 0 || len(m.Stored) > MaxPerMessage {
		return nil, fmt.Errorf("receipts: parse: %d receipts, want 1 to %d", len(m.Stored), MaxPerMessage)
	}
	for i, r := range m.Stored {
		if r.Seq == 0 || r.ID == "" || len(r.ID) > maxIDLen {
			return nil, fmt.Errorf("receipts: parse: receipt %d: seq must be above 0 and id 1 to %d bytes", i, maxIDLen)
		}
	}
	return m.Stored, nil
}
