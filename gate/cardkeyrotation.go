package gate

import (
	"fmt"

	"github.com/mynagate/mynagate/offline/cardkey"
)

// openNextKeyer opens the next card-key secret during a rotation
// (card_key.next_hsm_label, or next_secret_file in a demo); nil outside one.
// A shelter that runs without its HSM keys cards with a run secret, and has no
// next secret to look up under either.
func (g *Gate) openNextKeyer() (cardkey.Keyer, error) {
	ck := g.cfg.CardKey
	switch {
	case !ck.Rotating():
		return nil, nil
	case ck.NextSecretFile != "":
		k, err := cardkey.LoadSecretFile(ck.NextSecretFile)
		if err != nil {
			return nil, err
		}
		g.log.Warn("card-key rotation: cards are looked up under the current and the next secret", "hint", "once the hub has republished the list under the next secret, make it the current one (README \"Rotating the card-key secret\")")
		return k, nil
	case g.hsm == nil:
		g.log.Error("card-key rotation: no HSM, so no next secret either; cards are keyed for this run only", "next_hsm_label", ck.NextHSMLabel)
		return nil, nil
	}
	k, err := g.hsm.CardKeyer(ck.NextHSMLabel)
	if err != nil {
		return nil, fmt.Errorf("%w; import the next secret with gateagent hsm init --hsm-cardkey-label %s --import-secret FILE, or remove card_key.next_hsm_label", err, ck.NextHSMLabel)
	}
	g.log.Warn("card-key rotation: cards are looked up under the current and the next secret",
		"current", ck.HSMLabel, "next", ck.NextHSMLabel, "hint", "once the hub has republished the list under the next secret, make it the current one (README \"Rotating the card-key secret\")")
	return k, nil
}

// cardKeyHealth reports a rotation in progress for the status, so that the
// hub's operator sees which gates look up under both secrets.
func (g *Gate) cardKeyHealth(h map[string]string) {
	if g.nextKeyer != nil {
		h["card_key"] = "rotating: cards looked up under the current and the next secret"
	}
}
