// Package gateconfig is the hub's configuration document for a site's gates,
// carried as the signed "config" list (a raw list of sync/lists): it lets an
// operator, a municipal disaster office above all, declare or end an
// emergency (the gate then accepts its policy's fallback assurance levels),
// switch anti-passback on or off and change the accepted assurance levels,
// without visiting the gates.
//
// The document is JSON, decoded strictly (Parse):
//
//	{"emergency": true, "emergency_until": "2026-09-01T09:00:00Z", "anti_passback": null, "accept": ["pinless"], "fallback": ["cert"], "note": "typhoon 12: shelters open"}
//
// emergency is required; a declared emergency needs emergency_until (RFC 3339),
// the time it lapses unless the hub renews it: from then the gate, by its own
// clock, stops accepting the fallback levels (Doc.Active, Store.Run), so that
// a declaration nobody ended, or one replayed later, does not keep the
// weaker levels open. anti_passback, accept and fallback are optional, and
// null (or absent) keeps what the gate's own configuration says; note is free
// text for the log. The gate's Store keeps the last applied version and
// document on disk, so a restarted gate keeps the hub's declaration.
package gateconfig

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/mynagate/mynagate/offline/policy"
)

// List is the name of the list that carries the document.
const List = "config"

// MaxSize bounds an encoded document; Parse refuses anything larger.
const MaxSize = 16 << 10

// MaxNote bounds the note, in bytes.
const MaxNote = 512

// Doc is the hub's configuration for a site's gates.
type Doc struct {
	// Emergency declares an emergency: the gate's fallback assurance levels
	// are accepted too.
	Emergency bool `json:"emergency"`
	// EmergencyUntil is when a declared emergency lapses unless renewed
	// (published again with a later time); required with Emergency, absent
	// without.
	EmergencyUntil *time.Time `json:"emergency_until,omitempty"`
	// AntiPassback, when not nil, overrides the gate's anti-passback setting.
	AntiPassback *bool `json:"anti_passback"`
	// Accept, when not nil, replaces the levels the gate accepts normally
	// (cert, pin, pinless); it is never empty.
	Accept []string `json:"accept"`
	// Fallback, when not nil, replaces the levels accepted only during an
	// emergency; empty means none.
	Fallback []string `json:"fallback"`
	// Note is free text for the gate's log: who changed what, and why.
	Note string `json:"note"`
}

// ErrDoc is wrapped by every error of Parse and Validate.
var ErrDoc = errors.New("not a valid gate config document")

// fields are the document's keys, exactly as spelt.
var fields = []string{"emergency", "emergency_until", "anti_passback", "accept", "fallback", "note"}

// Parse decodes and validates a document. It refuses unknown, duplicate or
// differently cased keys, an emergency that is missing or not a bool, invalid
// UTF-8, trailing data and anything over MaxSize.
func Parse(b []byte) (Doc, error) {
	if len(b) > MaxSize {
		return Doc{}, fmt.Errorf("gateconfig: %w: %d bytes, at most %d", ErrDoc, len(b), MaxSize)
	}
	if !utf8.Valid(b) {
		return Doc{}, fmt.Errorf("gateconfig: %w: not UTF-8", ErrDoc)
	}
	if err := checkKeys(b); err != nil {
		return Doc{}, fmt.Errorf("gateconfig: %w: %w", ErrDoc, err)
	}
	var d Doc
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		return Doc{}, fmt.Errorf("gateconfig: %w: %w", ErrDoc, err)
	}
	if err := d.Validate(); err != nil {
		return Doc{}, err
	}
	if d.EmergencyUntil != nil {
		u := d.EmergencyUntil.UTC()
		if y := u.Year(); y < 1 || y > 9999 {
			return Doc{}, fmt.Errorf("gateconfig: %w: emergency_until %s is outside the years 1 to 9999", ErrDoc, u.Format(time.RFC3339))
		}
		d.EmergencyUntil = &u
	}
	return d, nil
}

// checkKeys makes sure b is one JSON object whose keys are known, spelt
// exactly (encoding/json would match "Emergency" too) and not repeated (it
// would keep the last), that emergency is one of them, and that nothing
// follows.
func checkKeys(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return errors.New("not a JSON object")
	}
	seen := map[string]bool{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return err
		}
		k, _ := t.(string)
		switch {
		case !slices.Contains(fields, k):
			return fmt.Errorf("unknown key %q; known: %v", k, fields)
		case seen[k]:
			return fmt.Errorf("key %q given twice", k)
		}
		seen[k] = true
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return err
		}
		if k == "emergency" && string(v) != "true" && string(v) != "false" {
			return errors.New(`"emergency" must be true or false`)
		}
	}
	if _, err := dec.Token(); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("trailing data after the object")
	}
	if !seen["emergency"] {
		return errors.New(`"emergency" is required (true or false)`)
	}
	return nil
}

// Validate checks the levels (cert, pin, pinless; none twice; accept not
// empty) and the note.
func (d Doc) Validate() error {
	var errs []error
	switch {
	case d.Emergency && d.EmergencyUntil == nil:
		errs = append(errs, errors.New("an emergency needs an end: emergency_until (gatehub config set --for)"))
	case !d.Emergency && d.EmergencyUntil != nil:
		errs = append(errs, errors.New("emergency_until without an emergency"))
	}
	if d.Accept != nil && len(d.Accept) == 0 {
		errs = append(errs, errors.New("accept is empty, so every tap would be denied; name at least one level, or null to keep the gate's own"))
	}
	for _, f := range []struct {
		name   string
		levels []string
	}{{"accept", d.Accept}, {"fallback", d.Fallback}} {
		for i, l := range f.levels {
			if l != policy.AssuranceCert && l != policy.AssurancePIN && l != policy.AssurancePINLess {
				errs = append(errs, fmt.Errorf("%s: level %q is not one of cert, pin, pinless", f.name, l))
			} else if slices.Index(f.levels, l) != i {
				errs = append(errs, fmt.Errorf("%s: level %q given twice", f.name, l))
			}
		}
	}
	switch {
	case len(d.Note) > MaxNote:
		errs = append(errs, fmt.Errorf("note is %d bytes, at most %d", len(d.Note), MaxNote))
	case !utf8.ValidString(d.Note):
		errs = append(errs, errors.New("note is not valid UTF-8"))
	case strings.ContainsFunc(d.Note, unicode.IsControl):
		errs = append(errs, errors.New("note contains control characters (line breaks, tabs); keep it to one line"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("gateconfig: %w: %w", ErrDoc, err)
	}
	return nil
}

// Marshal encodes d as Parse reads it, after validating it.
func (d Doc) Marshal() ([]byte, error) {
	if err := d.Validate(); err != nil {
		return nil, err
	}
	b, err := json.Marshal(d)
	if err != nil {
		return nil, fmt.Errorf("gateconfig: encode: %w", err)
	}
	return b, nil
}

// Active reports whether d declares an emergency still in force at now: declared
// and now before EmergencyUntil.
func (d Doc) Active(now time.Time) bool {
	return d.Emergency && d.EmergencyUntil != nil && now.Before(*d.EmergencyUntil)
}

// Policy returns base with the document's overrides (accept, fallback,
// anti-passback) applied, validated. Emergency is not part of a policy: the
// gate sets it beside (agent.Agent.Emergency).
func (d Doc) Policy(base policy.Policy) (policy.Policy, error) {
	p := base
	if d.Accept != nil {
		p.Accept = slices.Clone(d.Accept)
	}
	if d.Fallback != nil {
		p.Fallback = slices.Clone(d.Fallback)
	}
	if d.AntiPassback != nil {
		p.AntiPassback = *d.AntiPassback
	}
	if err := p.Validate(); err != nil {
		return base, fmt.Errorf("gateconfig: the hub's config does not make a valid policy with the gate's own: %w", err)
	}
	return p, nil
}

// LogValue logs the document as a group; a null override shows as "gate",
// an empty fallback as "none".
func (d Doc) LogValue() slog.Value {
	ap := "gate"
	if d.AntiPassback != nil {
		ap = strconv.FormatBool(*d.AntiPassback)
	}
	levels := func(l []string) string {
		switch {
		case l == nil:
			return "gate"
		case len(l) == 0:
			return "none"
		}
		return strings.Join(l, ",")
	}
	until := ""
	if d.EmergencyUntil != nil {
		until = d.EmergencyUntil.Format(time.RFC3339)
	}
	return slog.GroupValue(slog.Bool("emergency", d.Emergency), slog.String("emergency_until", until), slog.String("anti_passback", ap),
		slog.String("accept", levels(d.Accept)), slog.String("fallback", levels(d.Fallback)), slog.String("note", d.Note))
}

// clone returns a copy of d that shares no memory with it.
func (d Doc) clone() Doc {
	c := d
	c.Accept, c.Fallback = slices.Clone(d.Accept), slices.Clone(d.Fallback)
	if d.EmergencyUntil != nil {
		u := *d.EmergencyUntil
		c.EmergencyUntil = &u
	}
	if d.AntiPassback != nil {
		v := *d.AntiPassback
		c.AntiPassback = &v
	}
	return c
}
