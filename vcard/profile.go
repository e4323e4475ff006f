package vcard

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
)

// Token labels found at the start of EF 0006 (space-padded to 32 bytes).
const (
	LabelMyNumberCard = "JPKIAPICCTOKEN2" // My Number card
	LabelJukiCard     = "JPKIAPICCTOKEN"  // old Basic Resident Register (住基) card
	LabelAndroid      = "JPKIAPGPSETOKEN" // JPKI on an Android phone's secure element
)

// Profile describes one virtual card. It is decoded strictly from JSON by
// LoadProfile; tests may also build it in Go. The zero value of every optional
// field means the common case of a real My Number card.
type Profile struct {
	// Label is the token label in EF 0006. "" makes a card without the JPKI
	// applet (a transit or other non-JPKI card): SELECT of the AID fails.
	Label string `json:"label"`
	// Certificate is the PEM user-authentication certificate (EF 000A).
	Certificate string `json:"certificate"`
	// CACertificate is the PEM certificate the card offers as its CA (EF 000B,
	// also served as EF 0002).
	CACertificate string `json:"ca_certificate"`
	// PrivateKey is the PKCS#8 PEM RSA-2048 key behind EF 0017.
	PrivateKey string `json:"private_key"`
	// PIN is the 4-digit user-authentication PIN (EF 0018).
	PIN string `json:"pin"`
	// PINTries is the retry counter's start value; 0 means 3.
	PINTries int `json:"pin_tries"`
	// ATR is "contact" (the ATR OpenSC's jpki driver matches), "nfc" (an ATR as
	// a PC/SC contactless reader synthesises it for a Type B card), or the ATR
	// itself in hex. "" means contact.
	ATR string `json:"atr"`
	// Extended makes the card accept extended-length APDUs, so READ BINARY
	// 00 B0 8A 00 00 00 00 returns EF 000A in one response.
	Extended bool `json:"extended"`
	// Padding is how many filler bytes follow the certificate's DER in EF 000A
	// and 000B, as on real cards whose files are larger than the certificate.
	Padding int `json:"padding"`
	// PaddingByte is the filler value, 0x00 or 0xFF.
	PaddingByte byte `json:"padding_byte"`

	PINless

	Faults
}

// Faults inject the failures a gate meets in the field. The zero value injects
// none. Counts are of command APDUs since the card was created.
type Faults struct {
	// RemoveAfterAPDUs pulls the card: Present closes the vpcd connection when
	// APDU number RemoveAfterAPDUs+1 arrives, without answering it. 0 = never.
	RemoveAfterAPDUs int `json:"remove_after_apdus"`
	// Delay is added before each response (a slow card or long RF field).
	Delay Duration `json:"delay"`
	// GarbleAfterAPDUs truncates every response after that many APDUs to its
	// first half, status word lost. 0 = never.
	GarbleAfterAPDUs int `json:"garble_after_apdus"`
	// ForceSW, hex like "6F00", replaces every response after ForceSWAfterAPDUs
	// APDUs by this status word alone.
	ForceSW string `json:"force_sw"`
	// ForceSWAfterAPDUs is when ForceSW starts; 0 = from the first APDU.
	ForceSWAfterAPDUs int `json:"force_sw_after_apdus"`
}

// Duration is a time.Duration written in JSON as a Go duration string ("20ms").
type Duration time.Duration

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON reads a duration string such as "20ms".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string like \"20ms\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// LoadProfile reads and validates a JSON profile. Unknown keys are errors that
// name the file and the key.
func LoadProfile(path string) (*Profile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("vcard: read profile: %w", err)
	}
	p, err := ParseProfile(b)
	if err != nil {
		return nil, fmt.Errorf("vcard: profile %s: %w", path, err)
	}
	return p, nil
}

// ParseProfile decodes and validates a JSON profile.
func ParseProfile(b []byte) (*Profile, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var p Profile
	if err := dec.Decode(&p); err != nil {
		if k, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			return nil, fmt.Errorf("unknown key %s; see vcard.Profile for the keys", k)
		}
		return nil, fmt.Errorf("decode JSON: %w", err)
	}
	if dec.More() {
		return nil, errors.New("trailing data after the profile object")
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return &p, nil
}

// Validate checks what NewCard relies on, so that a bad profile fails at load
// time with the field named rather than as a strange status word later.
func (p *Profile) Validate() error {
	if len(p.Label) > 32 {
		return fmt.Errorf("label %q longer than 32 bytes", p.Label)
	}
	if _, err := p.atrBytes(); err != nil {
		return err
	}
	if p.PINTries < 0 || p.PINTries > 15 {
		return fmt.Errorf("pin_tries %d out of range 0..15", p.PINTries)
	}
	if p.Padding < 0 || p.PaddingByte != 0x00 && p.PaddingByte != 0xFF {
		return fmt.Errorf("padding %d / padding_byte %d: want a count >= 0 and byte 0 or 255", p.Padding, p.PaddingByte)
	}
	if p.ForceSW != "" {
		if sw, err := hex.DecodeString(p.ForceSW); err != nil || len(sw) != 2 {
			return fmt.Errorf("force_sw %q: want 4 hex digits like \"6F00\"", p.ForceSW)
		}
	}
	if p.Label == "" {
		if p.Enabled {
			return errors.New("pinless needs the JPKI applet (a label)")
		}
		return nil
	}
	if len(p.PIN) != 4 || strings.Trim(p.PIN, "0123456789") != "" {
		return fmt.Errorf("pin %q: want 4 ASCII digits", p.PIN)
	}
	if _, err := p.certDER(p.Certificate, "certificate"); err != nil {
		return err
	}
	if _, err := p.certDER(p.CACertificate, "ca_certificate"); err != nil {
		return err
	}
	if _, err := p.rsaKey(); err != nil {
		return err
	}
	return p.PINless.validate()
}
