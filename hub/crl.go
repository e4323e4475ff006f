package hub

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/mynagate/mynagate/offline/cardkey"
	"github.com/mynagate/mynagate/offline/crl"
)

// subCRLs records, per list, the CRLs imported into its revocation set: one
// per issuing CA, keyed by the CA's key identifier.
var subCRLs = []byte("crls")

// ImportedCRL is what the hub remembers of a CRL imported into a list.
type ImportedCRL struct {
	crl.Info
	// ImportedAt is when it was imported; Added how many card keys it added
	// to the revocation set (the others were revoked already and are not
	// sent again).
	ImportedAt time.Time `json:"imported_at"`
	Added      int       `json:"added"`
}

// ImportCRL adds the card keys of a checked CRL to site's revocation set for
// list and records the CRL, in one transaction. Only keys not yet revoked
// become pending, so a daily CRL publishes as a small delta. A CRL older (by
// this update) than the one recorded for its CA is refused. It takes effect
// at the next publish, which also carries the CRL's dates to the gates
// (Manifest.CRLs), even when it added no card key.
func (m *Master) ImportCRL(site, list string, info crl.Info, keys []cardkey.Key) (ImportedCRL, error) {
	imp := ImportedCRL{Info: info, ImportedAt: time.Now().UTC()}
	keys = slices.Clone(keys)
	slices.SortFunc(keys, func(x, y cardkey.Key) int { return bytes.Compare(x[:], y[:]) })
	id := []byte(hex.EncodeToString(info.IssuerKeyID))
	err := m.db.Update(func(tx *bolt.Tx) error {
		b, err := listBucket(tx, site, list)
		if err != nil {
			return err
		}
		cb, err := b.CreateBucketIfNotExists(subCRLs)
		if err != nil {
			return err
		}
		if v := cb.Get(id); v != nil {
			var prev ImportedCRL
			if err := json.Unmarshal(v, &prev); err != nil {
				return fmt.Errorf("recorded CRL of %s: %w", id, err)
			}
			if info.ThisUpdate.Before(prev.ThisUpdate) {
				return fmt.Errorf("this CRL (issued %s) is older than the one imported (issued %s); get the current CRL", info.ThisUpdate.Format(time.RFC3339), prev.ThisUpdate.Format(time.RFC3339))
			}
		}
		rb := b.Bucket(subRevoked)
		for _, k := range keys {
			if rb.Get(k[:]) != nil {
				continue
			}
			if err := rb.Put(k[:], []byte{}); err != nil {
				return err
			}
			if err := markPending(b, k[:], pendingRevoked); err != nil {
				return err
			}
			imp.Added++
		}
		v, err := json.Marshal(imp)
		if err != nil {
			return err
		}
		if err := cb.Put(id, v); err != nil {
			return err
		}
		return markCRLsChanged(b)
	})
	if err != nil {
		return ImportedCRL{}, fmt.Errorf("hub: import CRL into %s/%s: %w", site, list, err)
	}
	m.log.Info("hub: CRL imported", "site", site, "list", list, "issuer_key_id", string(id), "number", info.Number, "entries", info.Entries, "added", imp.Added, "next_update", info.NextUpdate)
	return imp, nil
}

// CRLs returns the CRLs imported into site's list, one per issuing CA.
func (m *Master) CRLs(site, list string) ([]ImportedCRL, error) {
	var out []ImportedCRL
	err := m.db.View(func(tx *bolt.Tx) error {
		b, err := listBucket(tx, site, list)
		if err != nil {
			return err
		}
		cb := b.Bucket(subCRLs)
		if cb == nil {
			return nil
		}
		return cb.ForEach(func(k, v []byte) error {
			var imp ImportedCRL
			if err := json.Unmarshal(v, &imp); err != nil {
				return fmt.Errorf("recorded CRL of %s: %w", k, err)
			}
			out = append(out, imp)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("hub: CRLs of %s/%s: %w", site, list, err)
	}
	return out, nil
}

// markCRLsChanged has the next publish of list bucket b send a version.
func markCRLsChanged(b *bolt.Bucket) error {
	var meta listMeta
	if v := b.Get(keyMeta); v != nil {
		if err := json.Unmarshal(v, &meta); err != nil {
			return fmt.Errorf("read meta: %w", err)
		}
	}
	meta.CRLsChanged = true
	return putMeta(b, &meta)
}

// crlInfos returns the CRLs imported into list bucket b, as a manifest
// carries them (in issuer key id order).
func crlInfos(b *bolt.Bucket) ([]crl.Info, error) {
	cb := b.Bucket(subCRLs)
	if cb == nil {
		return nil, nil
	}
	var out []crl.Info
	err := cb.ForEach(func(k, v []byte) error {
		var imp ImportedCRL
		if err := json.Unmarshal(v, &imp); err != nil {
			return fmt.Errorf("recorded CRL of %s: %w", k, err)
		}
		out = append(out, imp.Info)
		return nil
	})
	return out, err
}

// warnStaleCRLs logs each of crls that is past its next update at now: the
// gates deny its CA's cards revocation_stale once their policy's crl_max_stale
// has passed too.
func (m *Master) warnStaleCRLs(site, list string, crls []crl.Info, now time.Time) {
	for _, c := range crls {
		if c.Stale(now) {
			m.log.Warn("hub: an imported CRL is past its next update; the gates will deny its CA's cards revocation_stale once crl_max_stale has passed",
				"site", site, "list", list, "issuer_key_id", hex.EncodeToString(c.IssuerKeyID), "number", c.Number, "next_update", c.NextUpdate,
				"hint", "get the CA's current CRL, run gatehub revoke import with it, then gatehub publish")
		}
	}
}
