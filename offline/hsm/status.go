package hsm

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"fmt"

	"github.com/ThalesGroup/crypto11"
	"github.com/miekg/pkcs11"
)

// KeyStatus describes one labelled key found, or not found, in the token.
type KeyStatus struct {
	Label string `json:"label"`
	Found bool   `json:"found"`
	// Type is "ecdsa-p256" for an institution key pair ("ecdsa" on another
	// curve), "generic-secret" for a
	// card-key secret, or the PKCS#11 key type number for anything else.
	Type string `json:"type,omitempty"`
	// Sensitive and Extractable are the private or secret half's attributes;
	// a safe key is sensitive and not extractable.
	Sensitive   bool `json:"sensitive"`
	Extractable bool `json:"extractable"`
}

// Status is what gateagent hsm status and doctor report.
type Status struct {
	Module      string      `json:"module"`
	TokenLabel  string      `json:"token"`
	MaxSessions int         `json:"max_sessions"`
	Keys        []KeyStatus `json:"keys"`
}

// Status reports the token and each labelled key: whether it is there, its
// type and whether it is protected. A key not found is reported, not an
// error.
func (h *HSM) Status(labels ...string) (Status, error) {
	st := Status{Module: h.cfg.Module, TokenLabel: h.cfg.TokenLabel, MaxSessions: h.cfg.MaxSessions}
	for _, label := range labels {
		ks, err := h.keyStatus(label)
		if err != nil {
			return Status{}, fmt.Errorf("hsm: status of %q: %w", label, err)
		}
		st.Keys = append(st.Keys, ks)
	}
	return st, nil
}

func (h *HSM) keyStatus(label string) (KeyStatus, error) {
	ks := KeyStatus{Label: label}
	var key any
	pairs, err := h.ctx.FindKeyPairs(nil, []byte(label))
	if err != nil {
		return ks, err
	}
	if len(pairs) > 0 {
		key = pairs[0]
	} else {
		secrets, err := h.ctx.FindKeys(nil, []byte(label))
		if err != nil {
			return ks, err
		}
		if len(secrets) == 0 {
			return ks, nil
		}
		key = secrets[0]
	}
	ks.Found = true
	attrs, err := h.ctx.GetAttributes(key, []crypto11.AttributeType{pkcs11.CKA_KEY_TYPE, pkcs11.CKA_SENSITIVE, pkcs11.CKA_EXTRACTABLE})
	if err != nil {
		return ks, err
	}
	ks.Sensitive = attrBool(attrs[pkcs11.CKA_SENSITIVE])
	ks.Extractable = attrBool(attrs[pkcs11.CKA_EXTRACTABLE])
	switch t := attrUint(attrs[pkcs11.CKA_KEY_TYPE]); t {
	case pkcs11.CKK_EC:
		ks.Type = "ecdsa"
		if pub, ok := key.(crypto11.Signer); ok {
			if ec, ok := pub.Public().(*ecdsa.PublicKey); ok && ec.Curve == elliptic.P256() {
				ks.Type = "ecdsa-p256"
			}
		}
	case pkcs11.CKK_GENERIC_SECRET:
		ks.Type = "generic-secret"
	default:
		ks.Type = fmt.Sprintf("pkcs11-key-type-%#x", t)
	}
	return ks, nil
}

func attrBool(a *crypto11.Attribute) bool {
	return a != nil && len(a.Value) > 0 && a.Value[0] != 0
}

// attrUint decodes a CK_ULONG attribute (native byte order, little endian on
// the platforms gates run on).
func attrUint(a *crypto11.Attribute) uint {
	if a == nil {
		return ^uint(0)
	}
	var v uint
	for i := len(a.Value) - 1; i >= 0; i-- {
		v = v<<8 | uint(a.Value[i])
	}
	return v
}
