// Package whitelist is a gate's local list of admitted cards and its revocation
// set, in one bbolt file. Cards are known only by their card key (package
// cardkey): the file never holds a certificate serial or issuer key
// identifier, so a stolen gate does not reveal who is on its list.
//
// The list has one version, raised by every import and every applied list
// snapshot or delta (Apply); a version at or below the current one is
// refused. Readers (Lookup, Revoked) never wait for a writer: a snapshot or a
// CSV import is written into a fresh bucket and swapped in with one small
// transaction, so a gate keeps deciding on the old list until the new one is
// complete, and a crash mid-import leaves the old list in place.
//
// Re-enrolment: a renewed or reissued card has a new serial and so a new card
// key for the same service id. The list maps card keys to entries, and a
// service id may appear under several keys: an import or a delta that brings
// the new key adds it and keeps the old one. The old card stops passing when
// its certificate expires or J-LIS revokes it (renewal revokes the old
// certificate; the revocation list carries it), or when the hub drops the old
// key from the next snapshot or sends a delete. Anti-passback keys on the
// service id, so both cards of one holder cannot be inside at once.
package whitelist

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterr "go.etcd.io/bbolt/errors"

	"github.com/mynagate/mynagate/offline/cardkey"
	"github.com/mynagate/mynagate/offline/crl"
)

var (
	bucketMeta    = []byte("meta")
	bucketRevoked = []byte("revoked")
	entriesPrefix = []byte("entries.")

	metaVersion   = []byte("version")
	metaAppliedAt = []byte("applied_at")
	metaEntries   = []byte("entries_bucket")
	metaCount     = []byte("entries")
	metaRevoked   = []byte("revoked")
)

// initialMmap maps 1 GB up front on 64-bit gates: address space only, and it
// spares readers the remapping stall while an import grows the file. A 32-bit
// gate has too little address space to spare and maps as the file grows.
const initialMmap = (1 << 30) * (strconv.IntSize / 64)

// Options tune Open.
type Options struct {
	// Timeout is how long Open waits for the file lock another process holds;
	// zero means 2 s.
	Timeout time.Duration
	// ReadOnly opens the store for Lookup, Revoked and Stats only (operator
	// commands). It shares the lock with other readers but not with a writer.
	ReadOnly bool
	// Preload reads the whole file into memory at open (Linux), so that the
	// first taps after a start do not wait for the disk: the daemon sets it,
	// operator commands do not. It costs the file's size in page cache.
	Preload bool
}

// Store is an open whitelist. Its methods are safe for concurrent use.
type Store struct {
	db      *bolt.DB
	path    string
	version atomic.Uint64
	// writeMu serialises list replacements: an import spans several
	// transactions and must not meet another writer's new bucket.
	writeMu sync.Mutex
}

// Open opens or creates the store at path (mode 0600).
func Open(path string, opt Options) (*Store, error) {
	if opt.Timeout == 0 {
		opt.Timeout = 2 * time.Second
	}
	if opt.ReadOnly {
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("whitelist: open %s: %w; import a list first (gateagent whitelist import)", path, err)
		}
	}
	var flags int
	if opt.Preload {
		flags = mmapPopulate
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		MmapFlags:       flags,
		Timeout:         opt.Timeout,
		ReadOnly:        opt.ReadOnly,
		InitialMmapSize: initialMmap,
		FreelistType:    bolt.FreelistMapType,
		NoFreelistSync:  true,
	})
	if errors.Is(err, bolterr.ErrTimeout) {
		return nil, fmt.Errorf("whitelist: open %s: %w: another gateagent holds it; stop it first", path, err)
	}
	if err != nil {
		return nil, fmt.Errorf("whitelist: open %s: %w", path, err)
	}
	s := &Store{db: db, path: path}
	if !opt.ReadOnly {
		if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
			slog.Warn("whitelist: file was readable by other users; tightening to 0600", "path", path, "mode", fi.Mode().Perm().String())
			if err := os.Chmod(path, 0o600); err != nil {
				db.Close()
				return nil, fmt.Errorf("whitelist: open %s: chmod 600: %w", path, err)
			}
		}
		if err := db.Update(s.init); err != nil {
			db.Close()
			return nil, fmt.Errorf("whitelist: open %s: initialise: %w", path, err)
		}
	}
	err = db.View(func(tx *bolt.Tx) error {
		m := tx.Bucket(bucketMeta)
		if m == nil {
			return errors.New("not a whitelist store (no meta bucket)")
		}
		s.version.Store(u64(m.Get(metaVersion)))
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("whitelist: open %s: %w", path, err)
	}
	return s, nil
}

// init creates the buckets of a new store and drops entry buckets left by an
// import that crashed before its swap.
func (s *Store) init(tx *bolt.Tx) error {
	m, err := tx.CreateBucketIfNotExists(bucketMeta)
	if err != nil {
		return err
	}
	if _, err := tx.CreateBucketIfNotExists(bucketRevoked); err != nil {
		return err
	}
	cur := m.Get(metaEntries)
	if cur == nil {
		cur = []byte("entries.1")
		if _, err := tx.CreateBucket(cur); err != nil {
			return err
		}
		if err := m.Put(metaEntries, cur); err != nil {
			return err
		}
	}
	var stale [][]byte
	err = tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
		if bytes.HasPrefix(name, entriesPrefix) && !bytes.Equal(name, cur) {
			stale = append(stale, bytes.Clone(name))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, name := range stale {
		slog.Info("whitelist: dropping the partial list of an interrupted import", "bucket", string(name))
		if err := tx.DeleteBucket(name); err != nil {
			return err
		}
	}
	return nil
}

// Close closes the store.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("whitelist: close %s: %w", s.path, err)
	}
	return nil
}

// Path returns the file the store is in.
func (s *Store) Path() string { return s.path }

// Version returns the version of the list in force.
func (s *Store) Version() uint64 { return s.version.Load() }

// Lookup returns the entry for card key k, and whether there is one.
func (s *Store) Lookup(k cardkey.Key) (Entry, bool, error) {
	var (
		e     Entry
		found bool
	)
	err := s.db.View(func(tx *bolt.Tx) error {
		b := entries(tx)
		if b == nil {
			return errors.New("current entries bucket missing")
		}
		v := b.Get(k[:])
		if v == nil {
			return nil
		}
		found = true
		var err error
		e, err = decodeEntry(v)
		return err
	})
	if err != nil {
		return Entry{}, false, fmt.Errorf("whitelist: lookup %s: %w; re-import the list", k, err)
	}
	return e, found, nil
}

// Revoked reports whether card key k is in the revocation set.
func (s *Store) Revoked(k cardkey.Key) (bool, error) {
	var r bool
	err := s.db.View(func(tx *bolt.Tx) error {
		r = tx.Bucket(bucketRevoked).Get(k[:]) != nil
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("whitelist: revoked %s: %w", k, err)
	}
	return r, nil
}

// AddRevocations adds card keys to the revocation set at once, without
// changing the list version: for a revocation decided at the site (a card
// reported lost at the venue). The next snapshot from the hub replaces the
// whole revocation set, so the hub must learn of it too.
func (s *Store) AddRevocations(keys ...cardkey.Key) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		return revise(tx, keys, nil, time.Now())
	})
	if err != nil {
		return fmt.Errorf("whitelist: add revocations: %w", err)
	}
	return nil
}

// Apply applies a list snapshot or delta at version in one transaction: all of
// it or, on any error, none. version must be above Version().
//
// A snapshot (snapshot true) replaces the whole list with puts and the whole
// revocation set with revoke; deletes and unrevoke must then be empty. A delta
// adds or replaces puts, removes deletes (a key not listed is no error), adds
// revoke to the revocation set and removes unrevoke from it. A snapshot
// forgets the CRL records (the revocations they added are gone with it);
// ApplyWithCRLs keeps those the hub names.
func (s *Store) Apply(version uint64, snapshot bool, puts []Record, deletes []cardkey.Key, revoke, unrevoke []cardkey.Key) error {
	return s.ApplyWithCRLs(version, snapshot, puts, deletes, revoke, unrevoke, nil)
}

// ApplyWithCRLs is Apply that also records, in the same transaction, the CRLs
// the hub imported into the list (crls, from the version's signed manifest),
// as ApplyCRL records one applied at the gate: a snapshot replaces the
// records with crls; a delta adds or renews each of crls, keeping a record
// whose this update is later (a CRL applied at the gate since).
func (s *Store) ApplyWithCRLs(version uint64, snapshot bool, puts []Record, deletes []cardkey.Key, revoke, unrevoke []cardkey.Key, crls []crl.Info) error {
	if snapshot && (len(deletes) > 0 || len(unrevoke) > 0) {
		return errors.New("whitelist: apply: a snapshot carries no deletes or unrevocations; the sender built a malformed list")
	}
	for i, r := range puts {
		if err := r.Entry.Validate(); err != nil {
			return fmt.Errorf("whitelist: apply version %d: record %d (card %s): %w", version, i, r.Key, err)
		}
	}
	now := time.Now()
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	err := s.db.Update(func(tx *bolt.Tx) error {
		m := tx.Bucket(bucketMeta)
		if cur := u64(m.Get(metaVersion)); version <= cur {
			return fmt.Errorf("version %d is not above the current %d; the list is stale or replayed", version, cur)
		}
		if snapshot {
			recs := make([]rec, len(puts))
			for i, r := range puts {
				recs[i] = rec{key: r.Key, val: encodeEntry(nil, r.Entry), line: i}
			}
			if err := sortUnique(recs, "record"); err != nil {
				return err
			}
			name, err := newEntriesBucket(tx)
			if err != nil {
				return err
			}
			if err := fill(tx.Bucket(name), recs); err != nil {
				return err
			}
			if err := swap(tx, name, len(recs)); err != nil {
				return err
			}
			if err := tx.DeleteBucket(bucketRevoked); err != nil {
				return err
			}
			if _, err := tx.CreateBucket(bucketRevoked); err != nil {
				return err
			}
			if err := m.Put(metaRevoked, be64(0)); err != nil {
				return err
			}
			if err := forgetCRLs(tx); err != nil {
				return err
			}
		} else {
			b := entries(tx)
			n := int64(u64(m.Get(metaCount)))
			var buf []byte
			for _, r := range puts {
				if b.Get(r.Key[:]) == nil {
					n++
				}
				buf = encodeEntry(buf[:0], r.Entry)
				if err := b.Put(r.Key[:], buf); err != nil {
					return err
				}
			}
			for _, k := range deletes {
				if b.Get(k[:]) != nil {
					n--
					if err := b.Delete(k[:]); err != nil {
						return err
					}
				}
			}
			if err := m.Put(metaCount, be64(uint64(n))); err != nil {
				return err
			}
		}
		if err := revise(tx, revoke, unrevoke, now); err != nil {
			return err
		}
		if err := recordCRLs(tx, crls, now); err != nil {
			return err
		}
		return stamp(m, version, now)
	})
	if err != nil {
		return fmt.Errorf("whitelist: apply version %d: %w", version, err)
	}
	s.version.Store(version)
	slog.Info("whitelist: list applied", "version", version, "snapshot", snapshot, "puts", len(puts), "deletes", len(deletes), "revoke", len(revoke), "unrevoke", len(unrevoke), "crls", len(crls))
	return nil
}

// Stats describes the store.
type Stats struct {
	Path      string    `json:"path"`
	Version   uint64    `json:"version"`
	AppliedAt time.Time `json:"applied_at"`
	Entries   uint64    `json:"entries"`
	Revoked   uint64    `json:"revoked"`
	// FileSize is the file's size on disk; DataSize the part bbolt has
	// allocated pages in (the rest is growth bbolt reserves ahead, up to
	// 16 MB, and is reused by later writes).
	FileSize int64 `json:"file_bytes"`
	DataSize int64 `json:"data_bytes"`
}

// BytesPerEntry is the file size on disk divided by the number of entries (0
// when empty).
func (st Stats) BytesPerEntry() float64 {
	if st.Entries == 0 {
		return 0
	}
	return float64(st.FileSize) / float64(st.Entries)
}

// Stats returns the store's version, counts and size.
func (s *Store) Stats() (Stats, error) {
	st := Stats{Path: s.path}
	err := s.db.View(func(tx *bolt.Tx) error {
		m := tx.Bucket(bucketMeta)
		st.Version = u64(m.Get(metaVersion))
		st.Entries = u64(m.Get(metaCount))
		st.Revoked = u64(m.Get(metaRevoked))
		if v := m.Get(metaAppliedAt); v != nil {
			st.AppliedAt = time.Unix(0, int64(u64(v))).UTC()
		}
		st.DataSize = tx.Size()
		return nil
	})
	if err != nil {
		return Stats{}, fmt.Errorf("whitelist: stats: %w", err)
	}
	fi, err := os.Stat(s.path)
	if err != nil {
		return Stats{}, fmt.Errorf("whitelist: stats: %w", err)
	}
	st.FileSize = fi.Size()
	return st, nil
}

// entries returns the bucket of the list in force.
func entries(tx *bolt.Tx) *bolt.Bucket {
	return tx.Bucket(tx.Bucket(bucketMeta).Get(metaEntries))
}

// rec is one encoded entry; line is where it came from, for error messages.
type rec struct {
	key  cardkey.Key
	val  []byte
	line int
}

// sortUnique sorts recs by key (bbolt fills pages fully when keys arrive in
// order) and refuses a key listed twice.
func sortUnique(recs []rec, unit string) error {
	slices.SortFunc(recs, func(a, b rec) int { return bytes.Compare(a.key[:], b.key[:]) })
	for i := 1; i < len(recs); i++ {
		if recs[i].key == recs[i-1].key {
			a, b := min(recs[i].line, recs[i-1].line), max(recs[i].line, recs[i-1].line)
			return fmt.Errorf("%s %d: the same card (same issuer key id and serial) as %s %d", unit, b, unit, a)
		}
	}
	return nil
}

// newEntriesBucket creates an empty entries bucket with a name not in use.
func newEntriesBucket(tx *bolt.Tx) ([]byte, error) {
	cur := tx.Bucket(bucketMeta).Get(metaEntries)
	gen, _ := strconv.ParseUint(string(bytes.TrimPrefix(cur, entriesPrefix)), 10, 64)
	name := append(bytes.Clone(entriesPrefix), strconv.FormatUint(gen+1, 10)...)
	if tx.Bucket(name) != nil {
		if err := tx.DeleteBucket(name); err != nil {
			return nil, err
		}
	}
	if _, err := tx.CreateBucket(name); err != nil {
		return nil, err
	}
	return name, nil
}

// fill appends sorted recs to b.
func fill(b *bolt.Bucket, recs []rec) error {
	b.FillPercent = 1.0
	for _, r := range recs {
		if err := b.Put(r.key[:], r.val); err != nil {
			return err
		}
	}
	return nil
}

// swap makes bucket name the list in force, holding n entries, and drops the
// old one.
func swap(tx *bolt.Tx, name []byte, n int) error {
	m := tx.Bucket(bucketMeta)
	old := bytes.Clone(m.Get(metaEntries))
	if err := m.Put(metaEntries, name); err != nil {
		return err
	}
	if err := m.Put(metaCount, be64(uint64(n))); err != nil {
		return err
	}
	return tx.DeleteBucket(old)
}

// revise adds and removes revocations, keeping the count in meta.
func revise(tx *bolt.Tx, add, remove []cardkey.Key, now time.Time) error {
	b := tx.Bucket(bucketRevoked)
	m := tx.Bucket(bucketMeta)
	n := int64(u64(m.Get(metaRevoked)))
	at := be64(uint64(now.Unix()))
	for _, k := range add {
		if b.Get(k[:]) == nil {
			n++
			if err := b.Put(k[:], at); err != nil {
				return err
			}
		}
	}
	for _, k := range remove {
		if b.Get(k[:]) != nil {
			n--
			if err := b.Delete(k[:]); err != nil {
				return err
			}
		}
	}
	return m.Put(metaRevoked, be64(uint64(n)))
}

func stamp(m *bolt.Bucket, version uint64, now time.Time) error {
	if err := m.Put(metaVersion, be64(version)); err != nil {
		return err
	}
	return m.Put(metaAppliedAt, be64(uint64(now.UnixNano())))
}

func be64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

func u64(b []byte) uint64 {
	if len(b) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}
