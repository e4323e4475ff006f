package whitelist

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/mynagate/mynagate/offline/cardkey"
	"github.com/mynagate/mynagate/offline/crl"
)

// bucketCRLs records the CRLs applied at this gate, one per issuing CA (key:
// the CA's key identifier), so that the gate can tell a stale one.
var bucketCRLs = []byte("crls")

// AppliedCRL is what the store remembers of a CRL applied at this gate.
type AppliedCRL struct {
	crl.Info
	// AppliedAt is when the gate applied it; Added how many card keys it
	// added to the revocation set (the others were revoked already).
	AppliedAt time.Time `json:"applied_at"`
	Added     int       `json:"added"`
}

// ApplyCRL adds the card keys of a checked CRL to the revocation set and
// records the CRL, in one transaction, without changing the list version. A
// CRL older (by this update) than the one recorded for the same CA is refused:
// it would make a stale list look fresh. Like AddRevocations, the next
// snapshot from the hub replaces the revocation set and the records with the
// CRLs the hub imported (gatehub revoke import), so the hub must import the
// same CRL.
func (s *Store) ApplyCRL(info crl.Info, keys []cardkey.Key) (AppliedCRL, error) {
	a := AppliedCRL{Info: info, AppliedAt: time.Now().UTC()}
	// In key order bbolt appends to its pages instead of splitting them.
	keys = slices.Clone(keys)
	slices.SortFunc(keys, func(x, y cardkey.Key) int { return bytes.Compare(x[:], y[:]) })
	id := []byte(hex.EncodeToString(info.IssuerKeyID))
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	err := s.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketCRLs)
		if err != nil {
			return err
		}
		if v := b.Get(id); v != nil {
			var prev AppliedCRL
			if err := json.Unmarshal(v, &prev); err != nil {
				return fmt.Errorf("recorded CRL of %s: %w", id, err)
			}
			if info.ThisUpdate.Before(prev.ThisUpdate) {
				return fmt.Errorf("this CRL (issued %s) is older than the one applied (issued %s); get the current CRL", info.ThisUpdate.Format(time.RFC3339), prev.ThisUpdate.Format(time.RFC3339))
			}
		}
		m := tx.Bucket(bucketMeta)
		before := u64(m.Get(metaRevoked))
		if err := revise(tx, keys, nil, a.AppliedAt); err != nil {
			return err
		}
		a.Added = int(u64(m.Get(metaRevoked)) - before)
		v, err := json.Marshal(a)
		if err != nil {
			return err
		}
		return b.Put(id, v)
	})
	if err != nil {
		return AppliedCRL{}, fmt.Errorf("whitelist: apply CRL of %s: %w", info.Issuer, err)
	}
	slog.Info("whitelist: CRL applied", "issuer_key_id", string(id), "number", info.Number, "entries", info.Entries, "added", a.Added, "next_update", info.NextUpdate)
	return a, nil
}

// CRLs returns the CRLs in force at this gate, one per issuing CA: those the
// hub's lists named and those applied here since the last snapshot.
func (s *Store) CRLs() ([]AppliedCRL, error) {
	var out []AppliedCRL
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketCRLs)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			var a AppliedCRL
			if err := json.Unmarshal(v, &a); err != nil {
				return fmt.Errorf("recorded CRL of %s: %w", k, err)
			}
			out = append(out, a)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("whitelist: CRLs: %w", err)
	}
	return out, nil
}

// recordCRLs records crls, named by the hub, as applied at now: each replaces
// the record of its CA unless that one is later by this update.
func recordCRLs(tx *bolt.Tx, crls []crl.Info, now time.Time) error {
	if len(crls) == 0 {
		return nil
	}
	b, err := tx.CreateBucketIfNotExists(bucketCRLs)
	if err != nil {
		return err
	}
	for _, c := range crls {
		id := []byte(hex.EncodeToString(c.IssuerKeyID))
		if v := b.Get(id); v != nil {
			var prev AppliedCRL
			if err := json.Unmarshal(v, &prev); err != nil {
				return fmt.Errorf("recorded CRL of %s: %w", id, err)
			}
			if prev.ThisUpdate.After(c.ThisUpdate) {
				continue
			}
		}
		v, err := json.Marshal(AppliedCRL{Info: c, AppliedAt: now.UTC()})
		if err != nil {
			return err
		}
		if err := b.Put(id, v); err != nil {
			return err
		}
	}
	return nil
}

// forgetCRLs drops the CRL records when a snapshot replaces the revocation
// set: the revocations they added are gone with it.
func forgetCRLs(tx *bolt.Tx) error {
	if tx.Bucket(bucketCRLs) == nil {
		return nil
	}
	return tx.DeleteBucket(bucketCRLs)
}
