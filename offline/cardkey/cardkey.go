// Package cardkey computes the pseudonymous card key (DESIGN.md §4) by which a
// gate, its whitelist and its events know a card: HMAC-SHA256, keyed with a
// secret shared only between the gate's HSM and the hub, over the certificate's
// issuer key identifier and serial number. Without the secret a stolen list
// does not reveal which cards are on it.
//
// The HMAC message is encoded unambiguously, so that no two (issuer key id,
// serial) pairs give the same bytes:
//
//	uint16 big-endian len(issuerKeyID) || issuerKeyID || uint16 big-endian len(serial) || serial
//
// where serial is the big-endian magnitude of the certificate serial number
// without leading zero bytes (as big.Int.Bytes returns it). The hub must use
// exactly this encoding (see Message).
package cardkey

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
)

// Key is a card key: the HMAC-SHA256 of a card's certificate identity.
type Key [32]byte

// String returns the key as 64 lower-case hex digits, the form used in events
// and on the command line.
func (k Key) String() string { return hex.EncodeToString(k[:]) }

// ParseKey parses 64 hex digits (either case).
func ParseKey(s string) (Key, error) {
	var k Key
	if len(s) != 2*len(k) {
		return Key{}, fmt.Errorf("cardkey: parse %q: want %d hex digits, got %d", s, 2*len(k), len(s))
	}
	if _, err := hex.Decode(k[:], []byte(s)); err != nil {
		return Key{}, fmt.Errorf("cardkey: parse %q: %w", s, err)
	}
	return k, nil
}

// Keyer computes card keys. The software keyer (NewSoftware) and the HSM keyer
// (package hsm) give the same key for the same secret. Implementations must be
// safe for concurrent use: an import keys rows in parallel.
type Keyer interface {
	// CardKey returns the card key for a certificate's issuer key identifier
	// (its authority key identifier) and serial number bytes.
	CardKey(issuerKeyID, serial []byte) (Key, error)
}

// Message returns the bytes a Keyer MACs for an issuer key identifier and a
// serial: both length-prefixed with a big-endian uint16, serial stripped of
// leading zero bytes. It refuses empty parts and parts longer than 65535
// bytes.
func Message(issuerKeyID, serial []byte) ([]byte, error) {
	serial = bytes.TrimLeft(serial, "\x00")
	switch {
	case len(issuerKeyID) == 0:
		return nil, errors.New("cardkey: empty issuer key identifier")
	case len(serial) == 0:
		return nil, errors.New("cardkey: serial number is zero or empty")
	case len(issuerKeyID) > math.MaxUint16 || len(serial) > math.MaxUint16:
		return nil, errors.New("cardkey: issuer key identifier or serial longer than 65535 bytes")
	}
	m := make([]byte, 0, 4+len(issuerKeyID)+len(serial))
	m = append(m, byte(len(issuerKeyID)>>8), byte(len(issuerKeyID)))
	m = append(m, issuerKeyID...)
	m = append(m, byte(len(serial)>>8), byte(len(serial)))
	m = append(m, serial...)
	return m, nil
}

// ForCert returns the card key of a card certificate. The issuer key
// identifier is the certificate's authority key identifier extension; a
// certificate without one is refused rather than keyed some other way, since
// the hub could not compute the same key.
func ForCert(k Keyer, cert *x509.Certificate) (Key, error) {
	if cert == nil {
		return Key{}, errors.New("cardkey: no certificate")
	}
	if len(cert.AuthorityKeyId) == 0 {
		return Key{}, fmt.Errorf("cardkey: certificate %X has no authority key identifier; it cannot be keyed like the hub's list", cert.SerialNumber)
	}
	if cert.SerialNumber == nil || cert.SerialNumber.Sign() <= 0 {
		return Key{}, errors.New("cardkey: certificate serial number is not positive")
	}
	return k.CardKey(cert.AuthorityKeyId, cert.SerialNumber.Bytes())
}

// software is a Keyer holding its secret in process memory.
type software struct{ secret []byte }

// NewSoftware returns a Keyer that holds secret in memory. It is for demos,
// tests and the hub's list building: on a gate the secret belongs in the HSM
// (package hsm), created non-extractable. NewSoftware copies secret; a secret
// shorter than 16 bytes makes every CardKey call fail.
func NewSoftware(secret []byte) Keyer {
	return software{secret: bytes.Clone(secret)}
}

// CardKey implements Keyer.
func (s software) CardKey(issuerKeyID, serial []byte) (Key, error) {
	if len(s.secret) < 16 {
		return Key{}, fmt.Errorf("cardkey: software secret is %d bytes, want 32", len(s.secret))
	}
	m, err := Message(issuerKeyID, serial)
	if err != nil {
		return Key{}, err
	}
	h := hmac.New(sha256.New, s.secret)
	h.Write(m)
	var k Key
	h.Sum(k[:0])
	return k, nil
}

// LoadSecretFile reads a software card-key secret: 64 hex digits (surrounding
// white space ignored) or exactly 32 raw bytes.
//
// FOR DEMOS ONLY. A secret in a file can be copied with the gate's disk, and
// with it every card key on every list can be linked to a certificate. On a
// real gate use the HSM (gateagent hsm init). LoadSecretFile logs a warning
// saying so, and refuses a file that its group or others may read or write.
func LoadSecretFile(path string) (Keyer, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cardkey: load secret: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("cardkey: load secret: %w", err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("cardkey: load secret %s: mode %#o lets other users read it; run chmod 600 %s", path, perm, path)
	}
	b, err := io.ReadAll(io.LimitReader(f, 256))
	if err != nil {
		return nil, fmt.Errorf("cardkey: load secret %s: %w", path, err)
	}
	secret, err := DecodeSecret(b)
	if err != nil {
		return nil, fmt.Errorf("cardkey: load secret %s: %w", path, err)
	}
	slog.Warn("card-key secret loaded from a file: FOR DEMOS ONLY, anyone who copies this file can de-pseudonymise every card key; use the HSM on a real gate",
		"path", path)
	return NewSoftware(secret), nil
}

// DecodeSecret decodes a secret as written in a secret or hand-over file: 64
// hex digits (surrounding white space ignored) or exactly 32 raw bytes.
func DecodeSecret(b []byte) ([]byte, error) {
	if t := bytes.TrimSpace(b); len(t) == 64 {
		s := make([]byte, 32)
		if _, err := hex.Decode(s, t); err == nil {
			return s, nil
		}
	}
	if len(b) == 32 {
		return bytes.Clone(b), nil
	}
	return nil, fmt.Errorf("want 64 hex digits or 32 raw bytes, got %d bytes", len(b))
}
