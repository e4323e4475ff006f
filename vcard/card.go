package vcard

import (
	"bytes"
	"crypto/rsa"
	"encoding/hex"
	"fmt"
	"sync"
)

// AID is the JPKI applet's application identifier.
var AID = []byte{0xD3, 0x92, 0xF0, 0x00, 0x26, 0x01, 0x00, 0x00, 0x00, 0x01}

// Elementary files of the JPKI applet.
const (
	EFTokenInfo = 0x0006 // token label, no PIN
	EFAuthCert  = 0x000A // user-authentication certificate, no PIN
	EFAuthCA    = 0x000B // user-authentication CA certificate, no PIN
	EFAuthKey   = 0x0017 // user-authentication private key, auth PIN
	EFAuthPIN   = 0x0018 // user-authentication PIN, 4 digits
	EFSignCert  = 0x0001 // signature certificate: name and address, never read here
	EFSignCA    = 0x0002 // signature CA certificate
	EFSignKey   = 0x001A // signature private key, signature password
	EFSignPIN   = 0x001B // signature password, 6..16 characters
)

// signPINTries is the signature password's counter. The virtual card holds no
// signature password: MynaGate never uses the signature certificate.
const signPINTries = 5

// Status words the card answers.
const (
	swOK              = 0x9000
	swWrongLength     = 0x6700
	swIncompatible    = 0x6981 // READ BINARY on a key or PIN file
	swSecurity        = 0x6982
	swBlocked         = 0x6984
	swConditions      = 0x6985 // no current EF, or the wrong kind of EF
	swWrongData       = 0x6A80
	swFuncUnsupported = 0x6A81
	swNotFound        = 0x6A82
	swWrongP1P2       = 0x6A86
	swWrongOffset     = 0x6B00
	swUnknownINS      = 0x6D00
	swUnknownCLA      = 0x6E00
	swTriesLeft       = 0x63C0 // | tries left
)

// Exchange is one command APDU and the card's response, as sent on the wire.
type Exchange struct {
	Command  []byte
	Response []byte
}

// Card is one virtual JPKI card. Its methods are safe for concurrent use; a
// Card keeps its PIN counters across resets and vpcd sessions, like a real card
// across taps.
type Card struct {
	label    string
	atr      []byte
	files    map[uint16][]byte
	key      *rsa.PrivateKey
	pin      string
	maxTries int
	extended bool

	mu         sync.Mutex
	faults     Faults
	forceSW    []byte
	apSelected bool
	current    uint16 // selected EF; 0 = none
	verified   bool
	tries      int
	pinless    *pinlessCard // nil on cards without PIN-less support
	n          int          // APDUs processed
	transcript []Exchange
}

// NewCard builds a card from a profile. It panics if p does not pass
// p.Validate; LoadProfile and ParseProfile validate already.
func NewCard(p *Profile) *Card {
	if err := p.Validate(); err != nil {
		panic("vcard.NewCard: invalid profile: " + err.Error())
	}
	atr, _ := p.atrBytes()
	c := &Card{label: p.Label, atr: atr, pin: p.PIN, maxTries: p.PINTries, extended: p.Extended}
	if c.maxTries == 0 {
		c.maxTries = 3
	}
	c.tries = c.maxTries
	c.SetFaults(p.Faults) //nolint:errcheck // Validate checked force_sw
	if p.Label == "" {
		return c
	}
	cert, _ := p.certDER(p.Certificate, "certificate")
	ca, _ := p.certDER(p.CACertificate, "ca_certificate")
	c.key, _ = p.rsaKey()
	pad := bytes.Repeat([]byte{p.PaddingByte}, p.Padding)
	info := bytes.Repeat([]byte{' '}, 32)
	copy(info, p.Label)
	c.files = map[uint16][]byte{
		EFTokenInfo: info,
		EFAuthCert:  append(append([]byte{}, cert...), pad...),
		EFAuthCA:    append(append([]byte{}, ca...), pad...),
		EFSignCA:    append(append([]byte{}, ca...), pad...),
		EFSignCert:  nil,
		EFAuthKey:   nil,
		EFAuthPIN:   nil,
		EFSignKey:   nil,
		EFSignPIN:   nil,
	}
	if p.Enabled {
		c.pinless, c.files[EFPINlessAuthority] = newPINlessCard(p.PINless)
	}
	return c
}

// ATR returns the card's answer to reset.
func (c *Card) ATR() []byte { return append([]byte{}, c.atr...) }

// SetFaults replaces the injected faults; counts keep running from the APDUs
// already processed. A ForceSW that is not 4 hex digits is an error.
func (c *Card) SetFaults(f Faults) error {
	sw, err := hex.DecodeString(f.ForceSW)
	if err != nil || len(sw) != 0 && len(sw) != 2 {
		return fmt.Errorf("vcard: force_sw %q: want 4 hex digits like \"6F00\"", f.ForceSW)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.faults, c.forceSW = f, sw
	return nil
}

// Reset is a power cycle or warm reset: selections and the PIN's verified
// state are lost, the retry counter is kept.
func (c *Card) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.resetLocked()
}

func (c *Card) resetLocked() {
	c.apSelected = false
	c.current = 0
	c.verified = false
	if c.pinless != nil {
		c.pinless.reset()
	}
}

// Transcript returns a copy of every APDU exchanged so far.
func (c *Card) Transcript() []Exchange {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Exchange, len(c.transcript))
	for i, e := range c.transcript {
		out[i] = Exchange{Command: append([]byte{}, e.Command...), Response: append([]byte{}, e.Response...)}
	}
	return out
}

// PINTriesLeft reports the user-authentication PIN's retry counter.
func (c *Card) PINTriesLeft() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tries
}

// pulled reports whether the injected removal is due before the next APDU.
func (c *Card) pulled() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.faults.RemoveAfterAPDUs > 0 && c.n >= c.faults.RemoveAfterAPDUs
}

func (c *Card) delay() Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.faults.Delay
}

// Process answers one command APDU with a response APDU (data || SW1 SW2). It
// never panics, whatever the bytes.
func (c *Card) Process(apdu []byte) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	resp := c.dispatch(apdu)
	if len(c.forceSW) == 2 && c.n > c.faults.ForceSWAfterAPDUs {
		resp = append([]byte{}, c.forceSW...)
	}
	if c.faults.GarbleAfterAPDUs > 0 && c.n > c.faults.GarbleAfterAPDUs {
		resp = resp[:len(resp)/2]
	}
	c.transcript = append(c.transcript, Exchange{Command: append([]byte{}, apdu...), Response: resp})
	return append([]byte{}, resp...)
}

func sw(w uint16) []byte { return []byte{byte(w >> 8), byte(w)} }

func (c *Card) dispatch(apdu []byte) []byte {
	cmd, err := parseAPDU(apdu)
	if err != nil {
		return sw(swWrongLength)
	}
	if cmd.extended && !c.extended {
		return sw(swWrongLength)
	}
	switch {
	case cmd.cla == 0x00 && cmd.ins == 0xA4:
		return c.selectFile(cmd)
	case cmd.cla == 0x00 && cmd.ins == 0xB0:
		return c.readBinary(cmd)
	case cmd.cla == 0x00 && cmd.ins == 0x20:
		return c.verify(cmd)
	case cmd.cla == 0x80 && cmd.ins == 0x2A && cmd.p1 == 0x00 && c.pinless != nil && cmd.p2 == c.pinless.signP2():
		return c.signPINless(cmd)
	case cmd.cla == 0x80 && cmd.ins == 0x2A:
		return c.sign(cmd)
	case cmd.cla == 0x00 && c.pinless != nil:
		switch {
		case cmd.ins == 0x2A && cmd.p1 == 0x00 && cmd.p2 == 0xBE:
			return c.verifyCertificate(cmd)
		case cmd.ins == 0x2A:
			return sw(swWrongP1P2)
		case cmd.ins == 0x84:
			return c.getChallenge(cmd)
		case cmd.ins == 0x82:
			return c.externalAuthenticate(cmd)
		}
	}
	switch cmd.ins {
	case 0xA4, 0xB0, 0x20, 0x2A:
		return sw(swUnknownCLA)
	}
	if cmd.cla != 0x00 && cmd.cla != 0x80 {
		return sw(swUnknownCLA)
	}
	return sw(swUnknownINS)
}
