// Package hsm holds a gate's secrets in a PKCS#11 token (an HSM, or SoftHSM2
// for tests and demos) through crypto11: the institution key that
// authenticates the terminal to cards (an ECDSA P-256 key pair) and the
// card-key secret (a generic secret used with CKM_SHA256_HMAC). Both are
// created in the token as sensitive and non-extractable: they can be used,
// never read out. The hub keeps its keys the same way: the card-key secret, and
// its Ed25519 list-signing key (InitEd25519Key, Ed25519Signer), which crypto11
// cannot handle and this package drives through PKCS#11 directly.
//
// The token PIN is read from a file only the service user may read; it is
// never taken from a config file or the command line, where it would end up in
// backups, shell history and process listings.
package hsm

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"

	"github.com/ThalesGroup/crypto11"
	"github.com/miekg/pkcs11"

	"github.com/mynagate/mynagate/offline/cardkey"
)

// SoftHSMModule is where Debian's softhsm2 package puts its PKCS#11 module.
const SoftHSMModule = "/usr/lib/softhsm/libsofthsm2.so"

// Default labels of the two keys a gate holds.
const (
	DefaultInstitutionKeyLabel = "mynagate-institution"
	DefaultCardKeyLabel        = "mynagate-cardkey"
)

// Config says which token to use and how to log in.
type Config struct {
	// Module is the path of the PKCS#11 library (SoftHSMModule for SoftHSM2).
	Module string
	// TokenLabel selects the token.
	TokenLabel string
	// PINFile holds the user PIN (trailing newline ignored). It must not be
	// readable or writable by group or others.
	PINFile string
	// MaxSessions bounds the PKCS#11 sessions the gate opens; at least 2.
	// Hardware tokens allow few; set it to what the token's documentation
	// says, and above the number of lanes deciding at once.
	MaxSessions int
}

// HSM is an open, logged-in token.
type HSM struct {
	ctx *crypto11.Context
	cfg Config
	// raw is a session of this process's own for what crypto11 cannot do
	// (Ed25519, importing a secret); made on first use, closed by Close.
	rawOnce sync.Once
	raw     *rawToken
}

// Open logs into the token. Close it when done.
func Open(cfg Config) (*HSM, error) {
	switch {
	case cfg.Module == "":
		return nil, errors.New("hsm: no PKCS#11 module configured; for SoftHSM2 it is " + SoftHSMModule)
	case cfg.TokenLabel == "":
		return nil, errors.New("hsm: no token label configured")
	case cfg.MaxSessions < 2:
		return nil, fmt.Errorf("hsm: max sessions is %d; set it explicitly, at least 2 (one is kept for the login)", cfg.MaxSessions)
	}
	if _, err := os.Stat(cfg.Module); err != nil {
		return nil, fmt.Errorf("hsm: PKCS#11 module: %w; install the token's library (softhsm2 for SoftHSM)", err)
	}
	pin, err := ReadPINFile(cfg.PINFile)
	if err != nil {
		return nil, err
	}
	ctx, err := crypto11.Configure(&crypto11.Config{
		Path:        cfg.Module,
		TokenLabel:  cfg.TokenLabel,
		Pin:         pin,
		MaxSessions: cfg.MaxSessions,
	})
	if err != nil {
		return nil, fmt.Errorf("hsm: open token %q with %s: %w; check the token exists (softhsm2-util --show-slots) and the PIN file is right", cfg.TokenLabel, cfg.Module, err)
	}
	return &HSM{ctx: ctx, cfg: cfg}, nil
}

// ReadPINFile reads a token PIN from a file that only its owner may access.
func ReadPINFile(path string) (string, error) {
	if path == "" {
		return "", errors.New("hsm: no PIN file configured; the token PIN is read only from a file readable by the service user")
	}
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("hsm: PIN file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("hsm: PIN file: %w", err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return "", fmt.Errorf("hsm: PIN file %s has mode %#o, which lets other users read or change it; run chmod 600 %s (owner: the service user)", path, perm, path)
	}
	b, err := io.ReadAll(io.LimitReader(f, 256))
	if err != nil {
		return "", fmt.Errorf("hsm: PIN file %s: %w", path, err)
	}
	pin := string(bytes.TrimRight(b, "\r\n"))
	if pin == "" {
		return "", fmt.Errorf("hsm: PIN file %s is empty", path)
	}
	return pin, nil
}

// Close logs out and releases the module.
func (h *HSM) Close() error {
	if h.raw != nil {
		h.raw.close()
	}
	if err := h.ctx.Close(); err != nil {
		return fmt.Errorf("hsm: close: %w", err)
	}
	return nil
}

// InitInstitutionKey creates a new ECDSA P-256 key pair labelled label in the
// token, its private half sensitive and non-extractable, and returns the
// public key (for the institution certificate request; see CSR). It refuses
// to create a second key under a label in use.
func (h *HSM) InitInstitutionKey(label string) (crypto.PublicKey, error) {
	if label == "" {
		return nil, errors.New("hsm: init institution key: empty label")
	}
	if pairs, err := h.ctx.FindKeyPairs(nil, []byte(label)); err != nil {
		return nil, fmt.Errorf("hsm: init institution key %q: look for an existing key: %w", label, err)
	} else if len(pairs) > 0 {
		return nil, fmt.Errorf("hsm: init institution key %q: a key pair with this label already exists; use it, or delete it with pkcs11-tool first if it must be replaced (the old certificate then stops working)", label)
	}
	pub, err := crypto11.NewAttributeSetWithIDAndLabel([]byte(label), []byte(label))
	if err != nil {
		return nil, fmt.Errorf("hsm: init institution key %q: %w", label, err)
	}
	priv := pub.Copy()
	for attr, v := range map[crypto11.AttributeType]bool{
		pkcs11.CKA_PRIVATE:     true,
		pkcs11.CKA_SENSITIVE:   true,
		pkcs11.CKA_EXTRACTABLE: false,
		pkcs11.CKA_SIGN:        true,
	} {
		if err := priv.Set(attr, v); err != nil {
			return nil, fmt.Errorf("hsm: init institution key %q: %w", label, err)
		}
	}
	signer, err := h.ctx.GenerateECDSAKeyPairWithAttributes(pub, priv, elliptic.P256())
	if err != nil {
		return nil, fmt.Errorf("hsm: init institution key %q: generate in token: %w", label, err)
	}
	slog.Info("hsm: institution key created", "label", label, "token", h.cfg.TokenLabel)
	return signer.Public(), nil
}

// InstitutionSigner returns the institution key labelled label as a
// crypto.Signer whose private half stays in the token.
func (h *HSM) InstitutionSigner(label string) (crypto.Signer, error) {
	pairs, err := h.ctx.FindKeyPairs(nil, []byte(label))
	if err != nil {
		return nil, fmt.Errorf("hsm: find institution key %q: %w", label, err)
	}
	// FindKeyPairs (and FindKeyPair in some crypto11 versions) reports
	// "nothing found" as no key and no error.
	if len(pairs) == 0 || pairs[0] == nil {
		return nil, fmt.Errorf("hsm: institution key %q not found in token %q; create it with gateagent hsm init", label, h.cfg.TokenLabel)
	}
	if _, ok := pairs[0].Public().(*ecdsa.PublicKey); !ok {
		return nil, fmt.Errorf("hsm: institution key %q is a %T, want ECDSA P-256", label, pairs[0].Public())
	}
	return pairs[0], nil
}

// CSR returns a PEM certificate signing request for the institution key
// labelled label, signed in the token, with subject as the requested name.
func (h *HSM) CSR(label string, subject pkix.Name) ([]byte, error) {
	signer, err := h.InstitutionSigner(label)
	if err != nil {
		return nil, err
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject:            subject,
		SignatureAlgorithm: x509.ECDSAWithSHA256,
	}, signer)
	if err != nil {
		return nil, fmt.Errorf("hsm: certificate request for %q: %w", label, err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), nil
}

// PublicKeyPEM encodes a public key as a PEM "PUBLIC KEY" block.
func PublicKeyPEM(pub crypto.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("hsm: encode public key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// InitCardKeySecret creates a new random 256-bit generic secret labelled label
// in the token, sensitive and non-extractable, for CKM_SHA256_HMAC. The hub
// must hold the same secret to build lists, so a gate that creates its own is
// only useful for a gate that enrols its own cards (a kiosk); otherwise import
// the hub's with ImportCardKeySecret. It refuses a label in use.
func (h *HSM) InitCardKeySecret(label string) error {
	if err := h.noSecret(label); err != nil {
		return fmt.Errorf("hsm: init card-key secret: %w", err)
	}
	attrs, err := crypto11.NewAttributeSetWithIDAndLabel([]byte(label), []byte(label))
	if err != nil {
		return fmt.Errorf("hsm: init card-key secret %q: %w", label, err)
	}
	if err := attrs.Set(pkcs11.CKA_PRIVATE, true); err != nil {
		return fmt.Errorf("hsm: init card-key secret %q: %w", label, err)
	}
	if _, err := h.ctx.GenerateSecretKeyWithAttributes(attrs, 256, crypto11.CipherGeneric); err != nil {
		return fmt.Errorf("hsm: init card-key secret %q: generate in token: %w", label, err)
	}
	slog.Info("hsm: card-key secret created", "label", label, "token", h.cfg.TokenLabel)
	return nil
}

func (h *HSM) noSecret(label string) error {
	if label == "" {
		return errors.New("empty label")
	}
	keys, err := h.ctx.FindKeys(nil, []byte(label))
	if err != nil {
		return fmt.Errorf("look for an existing secret %q: %w", label, err)
	}
	if len(keys) > 0 {
		return fmt.Errorf("a secret labelled %q already exists in token %q; delete it with pkcs11-tool first if it must be replaced (every card key changes with it)", label, h.cfg.TokenLabel)
	}
	return nil
}

// keyer computes card keys with the token's HMAC.
type keyer struct {
	key *crypto11.SecretKey
}

// CardKeyer returns a cardkey.Keyer computing HMAC-SHA256 in the token with
// the secret labelled label. It gives the same keys as cardkey.NewSoftware
// with the same secret, and is safe for concurrent use (up to MaxSessions-1
// at once; further callers wait for a session).
func (h *HSM) CardKeyer(label string) (cardkey.Keyer, error) {
	keys, err := h.ctx.FindKeys(nil, []byte(label))
	if err != nil {
		return nil, fmt.Errorf("hsm: find card-key secret %q: %w", label, err)
	}
	if len(keys) == 0 || keys[0] == nil {
		return nil, fmt.Errorf("hsm: card-key secret %q not found in token %q; create or import it with gateagent hsm init", label, h.cfg.TokenLabel)
	}
	return keyer{key: keys[0]}, nil
}

// CardKey implements cardkey.Keyer.
func (k keyer) CardKey(issuerKeyID, serial []byte) (key cardkey.Key, err error) {
	msg, err := cardkey.Message(issuerKeyID, serial)
	if err != nil {
		return cardkey.Key{}, err
	}
	mac, err := k.key.NewHMAC(pkcs11.CKM_SHA256_HMAC, 0)
	if err != nil {
		return cardkey.Key{}, fmt.Errorf("hsm: card key: start HMAC in token: %w; is the token still attached?", err)
	}
	// crypto11's Sum panics when the token fails; a gate must deny the tap
	// with an error instead of crashing.
	defer func() {
		if r := recover(); r != nil {
			key, err = cardkey.Key{}, fmt.Errorf("hsm: card key: HMAC in token failed: %v; is the token still attached?", r)
		}
	}()
	if _, err := mac.Write(msg); err != nil {
		mac.Sum(nil) // returns the session to the pool
		return cardkey.Key{}, fmt.Errorf("hsm: card key: HMAC in token: %w", err)
	}
	sum := mac.Sum(nil)
	if len(sum) != len(key) {
		return cardkey.Key{}, fmt.Errorf("hsm: card key: token returned %d bytes, want %d", len(sum), len(key))
	}
	copy(key[:], sum)
	return key, nil
}
