package hsm

import (
	"fmt"
	"log/slog"

	"github.com/miekg/pkcs11"
)

// ImportCardKeySecret stores the hub's card-key secret in the token under
// label, sensitive and non-extractable, so that the gate computes the same card
// keys as the lists the hub builds.
//
// The secret arrives in plain form (a file the hub's operator hands over, 32
// bytes): it has existed outside an HSM, at the hub and in transit, and this
// function logs a warning saying so. Delete the hand-over file once imported.
// Wrapped import (C_UnwrapKey under a gate transport key) is not offered yet:
// the hub would need each gate's wrapping public key first, which the
// enrolment flow does not exchange.
//
// crypto11 cannot create a secret from a value, so this uses the HSM's own
// PKCS#11 session, alongside the open crypto11 context (same process, same
// login).
func (h *HSM) ImportCardKeySecret(label string, secret []byte) error {
	if len(secret) != 32 {
		return fmt.Errorf("hsm: import card-key secret: %d bytes, want 32", len(secret))
	}
	if err := h.noSecret(label); err != nil {
		return fmt.Errorf("hsm: import card-key secret: %w", err)
	}
	err := h.token().do(func(p *pkcs11.Ctx, sess pkcs11.SessionHandle) error {
		_, err := p.CreateObject(sess, []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
			pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_GENERIC_SECRET),
			pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
			pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
			pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
			pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, false),
			pkcs11.NewAttribute(pkcs11.CKA_SIGN, true),
			pkcs11.NewAttribute(pkcs11.CKA_VERIFY, true),
			pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, false),
			pkcs11.NewAttribute(pkcs11.CKA_DECRYPT, false),
			pkcs11.NewAttribute(pkcs11.CKA_ID, []byte(label)),
			pkcs11.NewAttribute(pkcs11.CKA_LABEL, label),
			pkcs11.NewAttribute(pkcs11.CKA_VALUE, secret),
		})
		return err
	})
	if err != nil {
		return fmt.Errorf("hsm: import card-key secret %q: create object: %w", label, err)
	}
	slog.Warn("hsm: card-key secret imported from plain bytes; it existed outside an HSM in transit, delete the hand-over file now",
		"label", label, "token", h.cfg.TokenLabel)
	return nil
}

func findSlot(p *pkcs11.Ctx, label string) (uint, error) {
	slots, err := p.GetSlotList(true)
	if err != nil {
		return 0, fmt.Errorf("list slots: %w", err)
	}
	for _, s := range slots {
		ti, err := p.GetTokenInfo(s)
		if err == nil && ti.Label == label {
			return s, nil
		}
	}
	return 0, fmt.Errorf("no token labelled %q", label)
}
