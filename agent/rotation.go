package agent

import (
	"fmt"

	"github.com/mynagate/mynagate/offline/cardkey"
	"github.com/mynagate/mynagate/offline/whitelist"
)

// During a card-key rotation (README "Rotating the card-key secret") a gate
// holds two secrets: the current one, under which its list was built, and the
// next one, under which the hub re-keys the list and republishes it. A card is
// keyed under both; it is listed if either key is on the list (the current one
// first), and revoked if either key is revoked, so that a card revoked under
// the old key stays revoked while the list moves to the new one. Events carry
// the current key in card and the next one in card_next.

// nextKey computes res's card key under the next secret, when one is set.
func (a *Agent) nextKey(res *CheckResult) error {
	if a.NextKeyer == nil {
		return nil
	}
	k, err := cardkey.ForCert(a.NextKeyer, res.Cert)
	if err != nil {
		return fmt.Errorf("agent: card key under the next secret: %w", err)
	}
	res.nextKey, res.CardKeyNext = k, k.String()
	return nil
}

// keys returns the card's keys to look up: the current one, then the next one
// during a rotation.
func (c CheckResult) keys() []cardkey.Key {
	if c.CardKeyNext == "" {
		return []cardkey.Key{c.key}
	}
	return []cardkey.Key{c.key, c.nextKey}
}

// revoked reports whether any of the card's keys is revoked.
func (a *Agent) revoked(c CheckResult) (bool, error) {
	for _, k := range c.keys() {
		r, err := a.List.Revoked(k)
		if err != nil || r {
			return r, err
		}
	}
	return false, nil
}

// lookup returns the card's entry under the first of its keys that is listed.
func (a *Agent) lookup(c CheckResult) (whitelist.Entry, bool, error) {
	for _, k := range c.keys() {
		e, ok, err := a.List.Lookup(k)
		if err != nil || ok {
			return e, ok, err
		}
	}
	return whitelist.Entry{}, false, nil
}
