package hub

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/mynagate/mynagate/event"
	"github.com/mynagate/mynagate/sync/peers"
)

var (
	bucketEvents    = []byte("events")
	bucketGates     = []byte("gates")
	bucketStatus    = []byte("status")
	bucketInside    = []byte("inside")
	bucketConflicts = []byte("conflicts")
	bucketLists     = []byte("lists")
	// bucketEnrol holds admitted enrol events until the list master has
	// them: id -> site NUL record.
	bucketEnrol = []byte("enrolments")
)

// boltBackend keeps the store in one bbolt file (hub.db): the embedded
// default, for one hub instance.
type boltBackend struct{ db *bolt.DB }

func openBoltBackend(path string) (*boltBackend, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("hub: open %s: %w; is another gatehub run using it?", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketEvents, bucketGates, bucketStatus, bucketInside, bucketConflicts, bucketLists, bucketEnrol} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("hub: initialise %s: %w", path, err)
	}
	return &boltBackend{db: db}, nil
}

// boltIngest is ingestTx over one bbolt write transaction.
type boltIngest struct {
	tx *bolt.Tx
	st map[string]*GateStats
}

func (b *boltIngest) claim(it *ingestItem) (bool, error) {
	eb := b.tx.Bucket(bucketEvents)
	if eb.Get([]byte(it.e.ID)) != nil {
		return false, nil
	}
	return true, eb.Put([]byte(it.e.ID), it.rec)
}

func (b *boltIngest) stats(site, gate string) (*GateStats, error) {
	k := gateKey(site, gate)
	if st := b.st[k]; st != nil {
		return st, nil
	}
	st := &GateStats{Site: site, Gate: gate}
	if v := b.tx.Bucket(bucketGates).Get([]byte(k)); v != nil {
		_ = json.Unmarshal(v, st)
	}
	b.st[k] = st
	return st, nil
}

func insideKey(site, holder string) []byte { return []byte(site + "\x00" + holder) }

func (b *boltIngest) presence(site, holder string) (peers.Presence, bool, error) {
	var cur peers.Presence
	v := b.tx.Bucket(bucketInside).Get(insideKey(site, holder))
	if v == nil || json.Unmarshal(v, &cur) != nil {
		return peers.Presence{}, false, nil
	}
	return cur, true, nil
}

func (b *boltIngest) setPresence(site, holder string, p peers.Presence) error {
	v, err := json.Marshal(p)
	if err != nil {
		return err
	}
	return b.tx.Bucket(bucketInside).Put(insideKey(site, holder), v)
}

func (b *boltIngest) putConflict(c Conflict) error {
	v, err := json.Marshal(c)
	if err != nil {
		return err
	}
	return b.tx.Bucket(bucketConflicts).Put([]byte(c.Event), v)
}

func (b *boltIngest) putEnrolment(id, site string, rec []byte) error {
	return b.tx.Bucket(bucketEnrol).Put([]byte(id), append([]byte(site+"\x00"), rec...))
}

func (b *boltBackend) enrolments(n int) ([]pendingEnrolment, error) {
	var out []pendingEnrolment
	err := b.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketEnrol).Cursor()
		for k, v := c.First(); k != nil && len(out) < n; k, v = c.Next() {
			site, rec, ok := bytes.Cut(v, []byte{0})
			if !ok {
				continue
			}
			out = append(out, pendingEnrolment{ID: string(k), Site: string(site), Record: bytes.Clone(rec)})
		}
		return nil
	})
	return out, err
}

func (b *boltBackend) enrolled(id string) error {
	return b.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketEnrol).Delete([]byte(id)) })
}

func (b *boltBackend) commit(items []ingestItem, log *slog.Logger) error {
	return b.db.Update(func(tx *bolt.Tx) error {
		in := &boltIngest{tx: tx, st: map[string]*GateStats{}}
		for i := range items {
			it := &items[i]
			*it.result = ingestResult{}
			dup, err := ingestOne(in, log, it)
			if err != nil {
				return err
			}
			it.result.Ingested = Ingested{Seq: it.e.Seq, ID: it.e.ID, Dup: dup}
		}
		gb := tx.Bucket(bucketGates)
		for k, st := range in.st {
			v, err := json.Marshal(st)
			if err != nil {
				return err
			}
			if err := gb.Put([]byte(k), v); err != nil {
				return err
			}
		}
		return nil
	})
}

func (b *boltBackend) putStatus(site, gate string, v []byte) error {
	return b.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketStatus).Put([]byte(gateKey(site, gate)), v) })
}

func (b *boltBackend) putList(li ListInfo, v []byte) error {
	return b.db.Update(func(tx *bolt.Tx) error {
		lb := tx.Bucket(bucketLists)
		k := []byte(li.Site + "/" + li.List)
		if old := lb.Get(k); old != nil {
			var prev ListInfo
			if json.Unmarshal(old, &prev) == nil && prev.Version >= li.Version {
				return nil
			}
		}
		return lb.Put(k, v)
	})
}

func (b *boltBackend) event(id string) ([]byte, error) {
	var out []byte
	err := b.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketEvents).Get([]byte(id)); v != nil {
			out = bytes.Clone(v)
		}
		return nil
	})
	return out, err
}

func (b *boltBackend) view(vb *viewBuilder) error {
	return b.db.View(func(tx *bolt.Tx) error {
		err := tx.Bucket(bucketGates).ForEach(func(_, v []byte) error { return vb.gate(v) })
		if err != nil {
			return err
		}
		err = tx.Bucket(bucketStatus).ForEach(func(k, v []byte) error {
			site, gate, _ := strings.Cut(string(k), "/")
			return vb.status(site, gate, v)
		})
		if err != nil {
			return err
		}
		err = tx.Bucket(bucketInside).ForEach(func(k, v []byte) error {
			site, _, _ := bytes.Cut(k, []byte{0})
			var p peers.Presence
			if json.Unmarshal(v, &p) == nil && p.Inside {
				vb.inside(string(site), p.Place, 1)
			}
			return nil
		})
		if err != nil {
			return err
		}
		return tx.Bucket(bucketLists).ForEach(func(_, v []byte) error { return vb.list(v) })
	})
}

func (b *boltBackend) scanEvents(after string, fn func(string, []byte) bool) error {
	return b.db.View(func(tx *bolt.Tx) error { return scanBolt(tx, after, fn) })
}

// scanBolt walks the events bucket after after in key order.
func scanBolt(tx *bolt.Tx, after string, fn func(string, []byte) bool) error {
	eb := tx.Bucket(bucketEvents)
	if eb == nil {
		return nil
	}
	c := eb.Cursor()
	k, v := c.Seek([]byte(after))
	if k != nil && string(k) == after {
		k, v = c.Next()
	}
	for ; k != nil; k, v = c.Next() {
		if !fn(string(k), v) {
			return nil
		}
	}
	return nil
}

func (b *boltBackend) amends() (map[string][]byte, error) {
	out := map[string][]byte{}
	err := b.db.View(func(tx *bolt.Tx) error {
		ab := tx.Bucket(bucketAmends)
		if ab == nil {
			return nil
		}
		return ab.ForEach(func(k, v []byte) error {
			out[string(k)] = bytes.Clone(v)
			return nil
		})
	})
	return out, err
}

func (b *boltBackend) amend(id string, fn func(rec, old []byte) ([]byte, error)) error {
	return b.db.Update(func(tx *bolt.Tx) error {
		ab, err := tx.CreateBucketIfNotExists(bucketAmends)
		if err != nil {
			return err
		}
		v, err := fn(tx.Bucket(bucketEvents).Get([]byte(id)), ab.Get([]byte(id)))
		if err != nil {
			return err
		}
		return ab.Put([]byte(id), v)
	})
}

// purgeBatch bounds the deletions of one bbolt transaction, so that ingest
// gets the file between them.
const purgeBatch = 5000

func (b *boltBackend) purge(rule retention) (int, error) {
	total := 0
	after := ""
	for {
		var gone []string
		done := true
		err := b.db.View(func(tx *bolt.Tx) error {
			return scanBolt(tx, after, func(id string, v []byte) bool {
				if rule.expiredRecord(v) {
					gone = append(gone, id)
					if len(gone) == purgeBatch {
						done = false
						return false
					}
				}
				return true
			})
		})
		if err != nil {
			return total, err
		}
		if len(gone) > 0 {
			err = b.db.Update(func(tx *bolt.Tx) error {
				for _, name := range [][]byte{bucketEvents, bucketConflicts, bucketAmends} {
					bk := tx.Bucket(name)
					if bk == nil {
						continue
					}
					for _, id := range gone {
						if err := bk.Delete([]byte(id)); err != nil {
							return err
						}
					}
				}
				return nil
			})
			if err != nil {
				return total, err
			}
			total += len(gone)
		}
		if done {
			return total, nil
		}
		after = gone[len(gone)-1]
	}
}

func (b *boltBackend) close() error { return b.db.Close() }

// expiredRecord reports whether a stored record (JSON Record) is past its
// retention.
func (r retention) expiredRecord(v []byte) bool {
	var rec Record
	if json.Unmarshal(v, &rec) != nil {
		return false
	}
	var e struct {
		Kind event.Kind `json:"kind"`
		At   time.Time  `json:"at"`
	}
	if json.Unmarshal(rec.Event, &e) != nil {
		return false
	}
	return r.expired(e.Kind, e.At)
}
