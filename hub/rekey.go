package hub

import (
	"errors"
	"fmt"
	"maps"
	"sync"

	bolt "go.etcd.io/bbolt"

	"github.com/mynagate/mynagate/offline/cardkey"
)

// A card-key rotation (README "Rotating the card-key secret") moves a list
// from the current card-key secret to the next one. The hub keeps no
// certificate data, so it cannot compute a listed card's next key from its
// current key: it learns each card's pair of keys from where both can be
// computed or were seen (rows of the enrolment source by issuer key id and
// serial, keyed under both secrets; the events of gates in the rotation
// window, which carry card and card_next) and hands the pairs to Rekey. The
// pairs stay in the command's memory only: the hub stores no link between a
// card's two keys.

// RekeyResult counts what Rekey found and changed.
type RekeyResult struct {
	// Pairs is how many (current, next) key pairs were given.
	Pairs int `json:"pairs"`
	// Rekeyed entries were copied under their next key; Carried revocations
	// were made under the next key too.
	Rekeyed int `json:"rekeyed"`
	Carried int `json:"carried"`
	// Unpaired entries and revocations have a current key no pair names:
	// their card has no next key yet (it did not tap in the window and its
	// enrolment row was not given by issuer key id and serial).
	Unpaired        int `json:"unpaired"`
	UnpairedRevoked int `json:"unpaired_revoked"`
	// Dropped entries and revocations under the current keys were removed
	// by a finish.
	Dropped        int `json:"dropped"`
	DroppedRevoked int `json:"dropped_revoked"`
}

// ErrUnpaired refuses a finish that would drop entries no pair re-keyed.
var ErrUnpaired = errors.New("hub: entries are left without a next key")

// Rekey carries site's list over to the next card-key secret: each entry
// under the current key of a pair is copied under its next key, and each
// revocation of a current key is made for its next key too, so that a card
// revoked under the current secret stays revoked under the next. With finish
// it then removes the entries and revocations under current keys, leaving
// the list keyed by the next secret alone; entries no pair names are then
// removed too only with dropUnpaired, else the whole call changes nothing
// and returns ErrUnpaired. Changes go out at the next publish. It can run
// again with more pairs: what it carried before stays.
func (m *Master) Rekey(site, list string, pairs map[cardkey.Key]cardkey.Key, finish, dropUnpaired bool) (RekeyResult, error) {
	res := RekeyResult{Pairs: len(pairs)}
	next := make(map[cardkey.Key]bool, len(pairs))
	for _, n := range pairs {
		next[n] = true
	}
	err := m.db.Update(func(tx *bolt.Tx) error {
		b, err := listBucket(tx, site, list)
		if err != nil {
			return err
		}
		eb, rb := b.Bucket(subEntries), b.Bucket(subRevoked)
		var dropEntries, dropRevoked []cardkey.Key
		type put struct {
			k cardkey.Key
			v []byte
		}
		var puts []put
		err = eb.ForEach(func(k, v []byte) error {
			if len(k) != 32 || next[cardkey.Key(k)] {
				return nil
			}
			n, ok := pairs[cardkey.Key(k)]
			switch {
			case !ok:
				res.Unpaired++
				if dropUnpaired {
					dropEntries = append(dropEntries, cardkey.Key(k))
				}
				return nil
			case eb.Get(n[:]) == nil:
				puts = append(puts, put{n, append([]byte(nil), v...)})
				res.Rekeyed++
			}
			dropEntries = append(dropEntries, cardkey.Key(k))
			return nil
		})
		if err != nil {
			return err
		}
		var revoke []cardkey.Key
		err = rb.ForEach(func(k, _ []byte) error {
			if len(k) != 32 || next[cardkey.Key(k)] {
				return nil
			}
			n, ok := pairs[cardkey.Key(k)]
			switch {
			case !ok:
				res.UnpairedRevoked++
				if dropUnpaired {
					dropRevoked = append(dropRevoked, cardkey.Key(k))
				}
				return nil
			case rb.Get(n[:]) == nil:
				revoke = append(revoke, n)
				res.Carried++
			}
			dropRevoked = append(dropRevoked, cardkey.Key(k))
			return nil
		})
		if err != nil {
			return err
		}
		if finish && res.Unpaired > 0 && !dropUnpaired {
			return fmt.Errorf("%w: %d entries (and %d revocations) have no next key; give their enrolment source (--enrolment), wait for their cards to tap at a gate in the window, or drop them (--drop-unpaired)",
				ErrUnpaired, res.Unpaired, res.UnpairedRevoked)
		}
		for _, p := range puts {
			if err := eb.Put(p.k[:], p.v); err != nil {
				return err
			}
			if err := markPending(b, p.k[:], pendingEntry); err != nil {
				return err
			}
		}
		for _, k := range revoke {
			if err := rb.Put(k[:], []byte{}); err != nil {
				return err
			}
			if err := markPending(b, k[:], pendingRevoked); err != nil {
				return err
			}
		}
		if finish {
			for _, k := range dropEntries {
				if err := eb.Delete(k[:]); err != nil {
					return err
				}
				if err := markPending(b, k[:], pendingEntry); err != nil {
					return err
				}
			}
			for _, k := range dropRevoked {
				if err := rb.Delete(k[:]); err != nil {
					return err
				}
				if err := markPending(b, k[:], pendingRevoked); err != nil {
					return err
				}
			}
			res.Dropped, res.DroppedRevoked = len(dropEntries), len(dropRevoked)
		}
		return bumpGeneration(b)
	})
	if err != nil {
		return RekeyResult{}, fmt.Errorf("hub: re-key %s/%s to the next card-key secret: %w", site, list, err)
	}
	return res, nil
}

// PairKeyer is a cardkey.Keyer that keys under the current secret and notes
// each card's key under the next secret beside it: the enrolment parser and
// the CRL import use it during a rotation to learn the pairs Rekey takes. It is
// safe for concurrent use.
type PairKeyer struct {
	cur, next cardkey.Keyer
	mu        sync.Mutex
	pairs     map[cardkey.Key]cardkey.Key
}

// NewPairKeyer returns a PairKeyer over the current and the next secret.
func NewPairKeyer(cur, next cardkey.Keyer) *PairKeyer {
	return &PairKeyer{cur: cur, next: next, pairs: map[cardkey.Key]cardkey.Key{}}
}

// CardKey implements cardkey.Keyer: the key under the current secret.
func (p *PairKeyer) CardKey(issuerKeyID, serial []byte) (cardkey.Key, error) {
	c, err := p.cur.CardKey(issuerKeyID, serial)
	if err != nil {
		return cardkey.Key{}, err
	}
	n, err := p.next.CardKey(issuerKeyID, serial)
	if err != nil {
		return cardkey.Key{}, fmt.Errorf("under the next secret: %w", err)
	}
	p.mu.Lock()
	p.pairs[c] = n
	p.mu.Unlock()
	return c, nil
}

// Pairs returns the (current, next) pairs keyed so far.
func (p *PairKeyer) Pairs() map[cardkey.Key]cardkey.Key {
	p.mu.Lock()
	defer p.mu.Unlock()
	return maps.Clone(p.pairs)
}
