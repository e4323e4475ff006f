package hub

import (
	"crypto"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"

	"github.com/mynagate/mynagate/offline/cardkey"
	"github.com/mynagate/mynagate/offline/hsm"
	"github.com/mynagate/mynagate/sync/lists"
)

// HSMConfig is the "hsm" section of the hub config: the PKCS#11 token that
// holds the hub's list-signing key (Ed25519) and card-key secret, made there
// by gatehub hsm init and never readable out of it. Its names follow the
// gate's "hsm" section.
type HSMConfig struct {
	// Module is the PKCS#11 library (SoftHSM2: /usr/lib/softhsm/libsofthsm2.so).
	Module string `json:"module"`
	// TokenLabel names the token.
	TokenLabel string `json:"token_label"`
	// PINFile holds the token's user PIN, readable only by the service user.
	PINFile string `json:"pin_file"`
	// MaxSessions caps the PKCS#11 sessions the hub opens (default 4).
	MaxSessions int `json:"max_sessions,omitempty"`
	// SigningKeyLabel names the list-signing key (default
	// "mynagate-hub-signing"); CardKeyLabel the card-key secret (default
	// "mynagate-cardkey", as on the gates).
	SigningKeyLabel string `json:"signing_key_label,omitempty"`
	CardKeyLabel    string `json:"card_key_label,omitempty"`
	// NextCardKeyLabel names the next card-key secret during a rotation
	// (README "Rotating the card-key secret"); empty otherwise.
	NextCardKeyLabel string `json:"next_card_key_label,omitempty"`
}

// Token returns the settings hsm.Open takes.
func (h *HSMConfig) Token() hsm.Config {
	return hsm.Config{Module: h.Module, TokenLabel: h.TokenLabel, PINFile: h.PINFile, MaxSessions: h.MaxSessions}
}

// checkKeys checks where the hub's keys live: in the token (hsm), or, for
// demos only, in files allowed by demo_file_keys; never both.
func (c *Config) checkKeys() error {
	files := c.SigningKey != "" || c.CardKeySecret != "" || c.NextCardKeySecret != ""
	if h := c.HSM; h != nil {
		var errs []error
		if files {
			errs = append(errs, errors.New("hsm is set, so the keys are in the token: remove signing_key, card_key_secret and next_card_key_secret (one or the other, never both)"))
		}
		if c.DemoFileKeys {
			errs = append(errs, errors.New("demo_file_keys with hsm: remove demo_file_keys, the keys are in the token"))
		}
		if h.Module == "" {
			h.Module = hsm.SoftHSMModule
		}
		if h.MaxSessions == 0 {
			h.MaxSessions = 4
		}
		if h.SigningKeyLabel == "" {
			h.SigningKeyLabel = hsm.DefaultHubSigningKeyLabel
		}
		if h.CardKeyLabel == "" {
			h.CardKeyLabel = hsm.DefaultCardKeyLabel
		}
		if h.NextCardKeyLabel != "" && h.NextCardKeyLabel == h.CardKeyLabel {
			errs = append(errs, fmt.Errorf("hsm.next_card_key_label %q is the current secret's label: the next secret needs a label of its own", h.NextCardKeyLabel))
		}
		if h.TokenLabel == "" || h.PINFile == "" {
			errs = append(errs, errors.New("hsm: token_label and pin_file are required"))
		}
		return errors.Join(errs...)
	}
	if files && !c.DemoFileKeys {
		return errors.New(`signing_key and card_key_secret are plain files, allowed only with "demo_file_keys": true (demos): whoever copies them signs lists for every gate and links card keys to certificates; a production hub keeps them in a PKCS#11 token: set "hsm" and run gatehub hsm init (README "Hub keys in an HSM")`)
	}
	return nil
}

// ErrNoKey is returned for a key the config does not name.
var ErrNoKey = errors.New("hub: key not configured")

// Keys are the hub's secrets in use: the list signer and the card keyer, in
// the token the config names or, in demo mode, in files. Close releases the
// token.
type Keys struct {
	cfg   *Config
	token *hsm.HSM
}

// OpenKeys opens the token the config names, or, with demo_file_keys, says
// loudly that the keys are plain files. A config naming no keys opens
// nothing; Signer and CardKeyer then return ErrNoKey.
func OpenKeys(cfg *Config, log *slog.Logger) (*Keys, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// A config built in code skips LoadConfig: the same rules hold.
	if err := cfg.checkKeys(); err != nil {
		return nil, fmt.Errorf("hub: keys: %w", err)
	}
	k := &Keys{cfg: cfg}
	if cfg.HSM != nil {
		t, err := hsm.Open(cfg.HSM.Token())
		if err != nil {
			return nil, fmt.Errorf("hub: keys: %w", err)
		}
		k.token = t
		return k, nil
	}
	if cfg.SigningKey != "" || cfg.CardKeySecret != "" {
		log.Warn("hub: DEMO MODE: the list-signing key and the card-key secret are plain files (demo_file_keys): whoever copies them signs lists every gate accepts and links every card key to its certificate; never run a real venue like this",
			"signing_key", cfg.SigningKey, "card_key_secret", cfg.CardKeySecret,
			"hint", `keep the keys in a PKCS#11 token: set "hsm" in the config and run gatehub hsm init (README "Hub keys in an HSM")`)
	}
	return k, nil
}

// Signer returns the list-signing key: in the token, or the demo file.
func (k *Keys) Signer() (crypto.Signer, error) {
	switch {
	case k.token != nil:
		return k.token.Ed25519Signer(k.cfg.HSM.SigningKeyLabel)
	case k.cfg.SigningKey != "":
		return lists.LoadPrivateKey(k.cfg.SigningKey)
	}
	return nil, fmt.Errorf(`%w: no list-signing key: set "hsm" in the hub config and run gatehub hsm init (or, for a demo, gatehub init)`, ErrNoKey)
}

// PublicKey returns the list-signing key's public half, the key gates pin.
func (k *Keys) PublicKey() (ed25519.PublicKey, error) {
	s, err := k.Signer()
	if err != nil {
		return nil, err
	}
	return lists.PublicKeyOf(s)
}

// CardKeyer returns the card-key secret as a keyer: HMAC in the token, or the
// demo file.
func (k *Keys) CardKeyer() (cardkey.Keyer, error) {
	switch {
	case k.token != nil:
		return k.token.CardKeyer(k.cfg.HSM.CardKeyLabel)
	case k.cfg.CardKeySecret != "":
		return cardkey.LoadSecretFile(k.cfg.CardKeySecret)
	}
	return nil, fmt.Errorf(`%w: no card-key secret: set "hsm" in the hub config and run gatehub hsm init --import-secret FILE`, ErrNoKey)
}

// Close releases the token.
func (k *Keys) Close() error {
	if k.token == nil {
		return nil
	}
	err := k.token.Close()
	k.token = nil
	return err
}
