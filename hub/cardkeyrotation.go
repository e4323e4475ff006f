package hub

import (
	"fmt"

	"github.com/mynagate/mynagate/offline/cardkey"
)

// NextCardKeyer returns the next card-key secret during a rotation
// (hsm.next_card_key_label, or next_card_key_secret in a demo), ErrNoKey
// outside one.
func (k *Keys) NextCardKeyer() (cardkey.Keyer, error) {
	switch {
	case k.token != nil && k.cfg.HSM.NextCardKeyLabel != "":
		kr, err := k.token.CardKeyer(k.cfg.HSM.NextCardKeyLabel)
		if err != nil {
			return nil, fmt.Errorf("%w; import it with gatehub hsm init --import-next-secret FILE", err)
		}
		return kr, nil
	case k.token == nil && k.cfg.NextCardKeySecret != "":
		return cardkey.LoadSecretFile(k.cfg.NextCardKeySecret)
	}
	return nil, fmt.Errorf(`%w: no next card-key secret: a rotation starts by naming it (hsm.next_card_key_label, README "Rotating the card-key secret")`, ErrNoKey)
}
