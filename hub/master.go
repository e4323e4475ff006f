package hub

import (
	"bytes"
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/mynagate/mynagate/offline/cardkey"
	"github.com/mynagate/mynagate/offline/crl"
	"github.com/mynagate/mynagate/offline/whitelist"
	"github.com/mynagate/mynagate/sync/gateconfig"
	"github.com/mynagate/mynagate/sync/lists"
)

// Master is the hub's master copy of each site's lists (lists.db): entries and
// revocations by card key, what changed since the last publish, and what is
// retained on the broker. Operator commands open it briefly; gatehub run does
// not hold it.
type Master struct {
	db  *bolt.DB
	log *slog.Logger
}

var (
	bucketMaster = []byte("lists")
	subEntries   = []byte("entries")
	subRevoked   = []byte("revoked")
	subPending   = []byte("pending")
	keyMeta      = []byte("meta")
)

// pending flags: which part of a card key's state changed since the last
// publish.
const (
	pendingEntry   = 1
	pendingRevoked = 2
)

// maxRetainedDeltas makes the next publish a snapshot once this many deltas
// are retained, bounding what a reconnecting gate downloads.
const maxRetainedDeltas = 32

// listMeta is a list's publishing state.
type listMeta struct {
	// Version is the last version number used (published or attempted).
	Version uint64 `json:"version"`
	// Dirty is set while a publish is in flight; if a publish failed, the
	// next one is a snapshot so that no gate is left on a half-known delta.
	Dirty           bool            `json:"dirty"`
	SnapshotVersion uint64          `json:"snapshot_version"`
	SnapshotChunks  int             `json:"snapshot_chunks"`
	RetainedDeltas  []retainedDelta `json:"retained_deltas"`
	PublishedAt     time.Time       `json:"published_at"`
	// Resnapshot makes the next publish a snapshot: an import changed so
	// much that the hub kept no per-card pending marks for a delta.
	Resnapshot bool `json:"resnapshot,omitempty"`
	// SnapshotManifest is the retained snapshot's manifest JSON, which
	// Renew signs again with a later expiry; Expires is the earliest expiry
	// of what is retained.
	SnapshotManifest json.RawMessage `json:"snapshot_manifest,omitempty"`
	Expires          time.Time       `json:"expires,omitzero"`
	// CRLsChanged makes the next publish send a version even with no card
	// changed: a CRL was imported (perhaps adding no card key), and the
	// gates learn its next update only from a published manifest.
	CRLsChanged bool `json:"crls_changed,omitempty"`
}

type retainedDelta struct {
	Version uint64 `json:"version"`
	Chunks  int    `json:"chunks"`
	// Manifest is the delta's manifest JSON, for Renew.
	Manifest json.RawMessage `json:"manifest,omitempty"`
}

// OpenMaster opens (creating) lists.db at path.
func OpenMaster(path string, log *slog.Logger) (*Master, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("hub: open lists %s: %w; is another gatehub command using it?", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketMaster, bucketConfigs} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("hub: initialise lists %s: %w", path, err)
	}
	return &Master{db: db, log: log}, nil
}

// Close closes lists.db.
func (m *Master) Close() error {
	if err := m.db.Close(); err != nil {
		return fmt.Errorf("hub: close lists: %w", err)
	}
	return nil
}

// listBucket returns (creating when tx is writable) the bucket of site/list.
// ErrNoList is returned for a list no command has made yet.
var ErrNoList = errors.New("no list")

func listBucket(tx *bolt.Tx, site, list string) (*bolt.Bucket, error) {
	if list == gateconfig.List {
		return nil, fmt.Errorf("list %q holds the gates' config, not whitelist records; set it with gatehub config set", list)
	}
	name := []byte(site + "/" + list)
	top := tx.Bucket(bucketMaster)
	if !tx.Writable() {
		b := top.Bucket(name)
		if b == nil {
			return nil, fmt.Errorf("%w %q for site %q; enrol entries first", ErrNoList, list, site)
		}
		return b, nil
	}
	b, err := top.CreateBucketIfNotExists(name)
	if err != nil {
		return nil, err
	}
	for _, sub := range [][]byte{subEntries, subRevoked, subPending} {
		if _, err := b.CreateBucketIfNotExists(sub); err != nil {
			return nil, err
		}
	}
	return b, nil
}

func markPending(b *bolt.Bucket, k []byte, flag byte) error {
	p := b.Bucket(subPending)
	var cur byte
	if v := p.Get(k); len(v) == 1 {
		cur = v[0]
	}
	return p.Put(k, []byte{cur | flag})
}

// EnrolResult counts what an enrolment changed.
type EnrolResult struct {
	Added     int `json:"added"`
	Updated   int `json:"updated"`
	Unchanged int `json:"unchanged"`
	Removed   int `json:"removed"`
}

// Enrol adds or replaces entries of site's list. With replace, entries not in
// recs are removed, so that the list becomes exactly recs. Every entry is
// validated first; one invalid entry refuses the whole call. It writes in one
// transaction, for the few entries of a kiosk or a test; ImportEnrolment
// brings in whole files.
func (m *Master) Enrol(site, list string, recs []whitelist.Record, replace bool) (EnrolResult, error) {
	var res EnrolResult
	for i, r := range recs {
		if err := r.Entry.Validate(); err != nil {
			return res, fmt.Errorf("hub: enrol record %d (card %s): %w; nothing was changed", i, r.Key, err)
		}
	}
	// bbolt splits a transaction's nodes only at commit: keys put in random
	// order each shift a growing node, keys put in order append to it.
	recs = slices.Clone(recs)
	slices.SortStableFunc(recs, func(a, b whitelist.Record) int { return bytes.Compare(a.Key[:], b.Key[:]) })
	err := m.db.Update(func(tx *bolt.Tx) error {
		b, err := listBucket(tx, site, list)
		if err != nil {
			return err
		}
		eb := b.Bucket(subEntries)
		keep := map[cardkey.Key]bool{}
		for _, r := range recs {
			keep[r.Key] = true
			v, err := json.Marshal(r.Entry)
			if err != nil {
				return err
			}
			switch old := eb.Get(r.Key[:]); {
			case old == nil:
				res.Added++
			case string(old) == string(v):
				res.Unchanged++
				continue
			default:
				res.Updated++
			}
			if err := eb.Put(r.Key[:], v); err != nil {
				return err
			}
			if err := markPending(b, r.Key[:], pendingEntry); err != nil {
				return err
			}
		}
		if replace {
			var drop [][]byte
			err = eb.ForEach(func(k, _ []byte) error {
				if len(k) == 32 && !keep[cardkey.Key(k)] {
					drop = append(drop, append([]byte(nil), k...))
				}
				return nil
			})
			if err != nil {
				return err
			}
			for _, k := range drop {
				if err := eb.Delete(k); err != nil {
					return err
				}
				if err := markPending(b, k, pendingEntry); err != nil {
					return err
				}
				res.Removed++
			}
		}
		return bumpGeneration(b)
	})
	if err != nil {
		return EnrolResult{}, fmt.Errorf("hub: enrol into %s/%s: %w", site, list, err)
	}
	return res, nil
}

// Revoke adds keys to site's revocation set for list, or removes them with
// undo. It takes effect at the next publish.
func (m *Master) Revoke(site, list string, keys []cardkey.Key, undo bool) error {
	err := m.db.Update(func(tx *bolt.Tx) error {
		b, err := listBucket(tx, site, list)
		if err != nil {
			return err
		}
		rb := b.Bucket(subRevoked)
		for _, k := range keys {
			if undo {
				err = rb.Delete(k[:])
			} else {
				err = rb.Put(k[:], []byte{})
			}
			if err != nil {
				return err
			}
			if err := markPending(b, k[:], pendingRevoked); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("hub: revoke in %s/%s: %w", site, list, err)
	}
	return nil
}

// CardsByService returns the card keys enrolled under each of ids in site's
// list (a ticket may bind a buyer's companions' cards too). An id with no card
// is an error naming it, so that a typo revokes nothing silently.
func (m *Master) CardsByService(site, list string, ids []string) (map[string][]cardkey.Key, error) {
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	found := map[string][]cardkey.Key{}
	err := m.db.View(func(tx *bolt.Tx) error {
		b, err := listBucket(tx, site, list)
		if err != nil {
			return err
		}
		return b.Bucket(subEntries).ForEach(func(k, v []byte) error {
			var e struct{ ServiceID string }
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("corrupt entry %x: %w", k, err)
			}
			if want[e.ServiceID] && len(k) == 32 {
				found[e.ServiceID] = append(found[e.ServiceID], cardkey.Key(k))
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("hub: find cards by service id in %s/%s: %w", site, list, err)
	}
	var missing []string
	for _, id := range ids {
		if len(found[id]) == 0 {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("hub: no card is enrolled under service id %s in %s/%s; nothing was revoked; check the id with the office", strings.Join(missing, ", "), site, list)
	}
	return found, nil
}

// Publisher sends one message and returns once the broker acknowledged it.
type Publisher interface {
	Publish(topic string, payload []byte, retained bool) error
}

// PublishOptions tune Publish.
type PublishOptions struct {
	// Prefix is the topic prefix.
	Prefix string
	// Snapshot forces a full snapshot even when a delta would do.
	Snapshot bool
	// ChunkSize is the chunk size, 0 for lists.DefaultChunkSize.
	ChunkSize int
	// Validity is how long the version is valid (its manifest's expiry is
	// its creation plus Validity); 0 means DefaultListValidity.
	Validity time.Duration
}

func (o PublishOptions) validity() time.Duration {
	if o.Validity <= 0 {
		return DefaultListValidity
	}
	return o.Validity
}

// Publish signs and publishes the next version of site's list: a delta of what
// changed since the last publish, or a snapshot when forced, when none was
// published yet, after a failed publish, when most entries changed, or when too
// many deltas are retained. After a snapshot the retained deltas below it are
// cleared. A CRL imported since the last publish is a change too (the gates
// learn its next update from the manifest, Manifest.CRLs). It returns the
// published manifest; a nil manifest and nil error
// mean nothing changed.
func (m *Master) Publish(ctx context.Context, p Publisher, key crypto.Signer, site, list string, opt PublishOptions) (*lists.Manifest, error) {
	var (
		meta    listMeta
		change  lists.Change
		version uint64
		kind    lists.Kind
		crls    []crl.Info
	)
	err := m.db.Update(func(tx *bolt.Tx) error {
		b, err := listBucket(tx, site, list)
		if err != nil {
			return err
		}
		if v := b.Get(keyMeta); v != nil {
			if err := json.Unmarshal(v, &meta); err != nil {
				return fmt.Errorf("read meta: %w", err)
			}
		}
		eb, rb, pb := b.Bucket(subEntries), b.Bucket(subRevoked), b.Bucket(subPending)
		pending := pb.Stats().KeyN
		entries := eb.Stats().KeyN
		snapshot := opt.Snapshot || meta.SnapshotVersion == 0 || meta.Dirty || meta.Resnapshot ||
			len(meta.RetainedDeltas) >= maxRetainedDeltas || pending > entries/2
		if !snapshot && pending == 0 && !meta.CRLsChanged {
			return nil
		}
		if crls, err = crlInfos(b); err != nil {
			return err
		}
		kind = lists.Delta
		if snapshot {
			kind = lists.Snapshot
			if err := collectAll(eb, rb, &change); err != nil {
				return err
			}
		} else if err := collectPending(eb, rb, pb, &change); err != nil {
			return err
		}
		if err := b.DeleteBucket(subPending); err != nil {
			return err
		}
		if _, err := b.CreateBucket(subPending); err != nil {
			return err
		}
		meta.Version++
		version = meta.Version
		// A publish that fails from here is followed by a snapshot anyway
		// (Dirty), so the import's request is met.
		meta.Dirty, meta.Resnapshot, meta.CRLsChanged = true, false, false
		return putMeta(b, &meta)
	})
	if err != nil {
		return nil, fmt.Errorf("hub: publish %s/%s: prepare: %w", site, list, err)
	}
	if version == 0 {
		return nil, nil
	}
	base := uint64(0)
	if kind == lists.Delta {
		base = version - 1
	}
	now := time.Now().UTC()
	signed, err := lists.Build(key, lists.Manifest{Site: site, List: list, Kind: kind, Version: version, Base: base, Created: now, Expires: now.Add(opt.validity()),
		Puts: len(change.Puts), Deletes: len(change.Deletes), Revoke: len(change.Revoke), Unrevoke: len(change.Unrevoke), CRLs: crls},
		lists.EncodePayload(&change), opt.ChunkSize)
	if err != nil {
		return nil, err
	}
	// Record what is about to be retained before sending it, so that a
	// publish that dies midway still has its retained messages cleared by
	// the next snapshot.
	n := len(signed.Chunks)
	prev := meta
	prev.RetainedDeltas = append([]retainedDelta(nil), meta.RetainedDeltas...)
	if kind == lists.Snapshot {
		meta.SnapshotChunks = max(meta.SnapshotChunks, n)
	} else {
		meta.RetainedDeltas = append(meta.RetainedDeltas, retainedDelta{Version: version, Chunks: n, Manifest: manifestJSON(signed.Envelope)})
	}
	if err := m.saveMeta(site, list, &meta); err != nil {
		return nil, fmt.Errorf("hub: publish %s/%s v%d: record intent: %w", site, list, version, err)
	}
	if err := m.send(ctx, p, opt.Prefix, &prev, signed); err != nil {
		return nil, fmt.Errorf("hub: publish %s/%s v%d: %w; the next publish sends a full snapshot", site, list, version, err)
	}
	meta.Dirty = false
	meta.PublishedAt = time.Now().UTC()
	if kind == lists.Snapshot {
		meta.SnapshotVersion, meta.SnapshotChunks, meta.RetainedDeltas = version, n, nil
		meta.SnapshotManifest, meta.Expires = manifestJSON(signed.Envelope), signed.Manifest.Expires
	}
	if err := m.saveMeta(site, list, &meta); err != nil {
		return nil, fmt.Errorf("hub: publish %s/%s v%d: record: %w", site, list, version, err)
	}
	m.log.Info("hub: list published", "site", site, "list", list, "kind", kind, "version", version,
		"puts", len(change.Puts), "deletes", len(change.Deletes), "revoke", len(change.Revoke), "unrevoke", len(change.Unrevoke), "crls", len(crls), "chunks", n)
	m.warnStaleCRLs(site, list, crls, now)
	return signed.Manifest, nil
}

// send publishes chunks before the manifest, so that a manifest on the broker
// always has its chunks there, then clears what the new version supersedes.
func (m *Master) send(ctx context.Context, p Publisher, prefix string, meta *listMeta, s *lists.Signed) error {
	man := s.Manifest
	for i, c := range s.Chunks {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := p.Publish(lists.ChunkTopic(prefix, man.Site, man.List, man.Kind, man.Version, i), c, true); err != nil {
			return fmt.Errorf("chunk %d: %w", i, err)
		}
	}
	if err := p.Publish(lists.ManifestTopic(prefix, man.Site, man.List, man.Kind, man.Version), s.Envelope, true); err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	if man.Kind != lists.Snapshot {
		return nil
	}
	for i := len(s.Chunks); i < meta.SnapshotChunks; i++ {
		if err := p.Publish(lists.ChunkTopic(prefix, man.Site, man.List, lists.Snapshot, 0, i), nil, true); err != nil {
			return fmt.Errorf("clear old snapshot chunk %d: %w", i, err)
		}
	}
	for _, d := range meta.RetainedDeltas {
		if err := p.Publish(lists.ManifestTopic(prefix, man.Site, man.List, lists.Delta, d.Version), nil, true); err != nil {
			return fmt.Errorf("clear delta %d: %w", d.Version, err)
		}
		for i := range d.Chunks {
			if err := p.Publish(lists.ChunkTopic(prefix, man.Site, man.List, lists.Delta, d.Version, i), nil, true); err != nil {
				return fmt.Errorf("clear delta %d chunk %d: %w", d.Version, i, err)
			}
		}
	}
	return nil
}

func (m *Master) saveMeta(site, list string, meta *listMeta) error {
	return m.db.Update(func(tx *bolt.Tx) error {
		b, err := listBucket(tx, site, list)
		if err != nil {
			return err
		}
		return putMeta(b, meta)
	})
}

func putMeta(b *bolt.Bucket, meta *listMeta) error {
	v, err := json.Marshal(meta)
	if err != nil {
		return err
	}
	return b.Put(keyMeta, v)
}

func collectAll(eb, rb *bolt.Bucket, c *lists.Change) error {
	err := eb.ForEach(func(k, v []byte) error {
		r, err := decodeRecord(k, v)
		if err != nil {
			return err
		}
		c.Puts = append(c.Puts, r)
		return nil
	})
	if err != nil {
		return err
	}
	return rb.ForEach(func(k, _ []byte) error {
		c.Revoke = append(c.Revoke, cardkey.Key(k))
		return nil
	})
}

func collectPending(eb, rb, pb *bolt.Bucket, c *lists.Change) error {
	return pb.ForEach(func(k, flags []byte) error {
		if len(k) != 32 || len(flags) != 1 {
			return fmt.Errorf("corrupt pending record")
		}
		key := cardkey.Key(k)
		if flags[0]&pendingEntry != 0 {
			if v := eb.Get(k); v != nil {
				r, err := decodeRecord(k, v)
				if err != nil {
					return err
				}
				c.Puts = append(c.Puts, r)
			} else {
				c.Deletes = append(c.Deletes, key)
			}
		}
		if flags[0]&pendingRevoked != 0 {
			if rb.Get(k) != nil {
				c.Revoke = append(c.Revoke, key)
			} else {
				c.Unrevoke = append(c.Unrevoke, key)
			}
		}
		return nil
	})
}

func decodeRecord(k, v []byte) (whitelist.Record, error) {
	if len(k) != 32 {
		return whitelist.Record{}, errors.New("corrupt entry key")
	}
	r := whitelist.Record{Key: cardkey.Key(k)}
	if err := json.Unmarshal(v, &r.Entry); err != nil {
		return whitelist.Record{}, fmt.Errorf("corrupt entry %s: %w", r.Key, err)
	}
	return r, nil
}

// ListState describes a list in the master database.
type ListState struct {
	Site            string    `json:"site"`
	List            string    `json:"list"`
	Entries         int       `json:"entries"`
	Revoked         int       `json:"revoked"`
	Pending         int       `json:"pending_changes"`
	Version         uint64    `json:"version"`
	SnapshotVersion uint64    `json:"snapshot_version"`
	RetainedDeltas  int       `json:"retained_deltas"`
	PublishedAt     time.Time `json:"published_at,omitzero"`
	// Expires is when the retained versions expire unless gatehub run
	// renews them first (zero for a list published by an older hub).
	Expires time.Time `json:"expires,omitzero"`
	// SnapshotNext is set when the next publish sends a snapshot because an
	// import changed most of the list (Pending does not count those).
	SnapshotNext bool `json:"snapshot_next,omitempty"`
}

// State reports a list's size and publishing state.
func (m *Master) State(site, list string) (ListState, error) {
	st := ListState{Site: site, List: list}
	err := m.db.View(func(tx *bolt.Tx) error {
		b, err := listBucket(tx, site, list)
		if err != nil {
			return err
		}
		st.Entries = b.Bucket(subEntries).Stats().KeyN
		st.Revoked = b.Bucket(subRevoked).Stats().KeyN
		st.Pending = b.Bucket(subPending).Stats().KeyN
		var meta listMeta
		if v := b.Get(keyMeta); v != nil {
			if err := json.Unmarshal(v, &meta); err != nil {
				return err
			}
		}
		st.Version, st.SnapshotVersion, st.RetainedDeltas, st.PublishedAt = meta.Version, meta.SnapshotVersion, len(meta.RetainedDeltas), meta.PublishedAt
		st.SnapshotNext, st.Expires = meta.Resnapshot, meta.Expires
		return nil
	})
	if err != nil {
		return ListState{}, fmt.Errorf("hub: list state %s/%s: %w", site, list, err)
	}
	return st, nil
}

// manifestJSON returns the manifest bytes inside a signed envelope that Build
// or Sign just made (so it decodes).
func manifestJSON(envelope []byte) json.RawMessage {
	var env lists.Envelope
	if err := json.Unmarshal(envelope, &env); err != nil {
		panic(fmt.Sprintf("hub: an envelope just signed does not decode: %v", err))
	}
	return env.Manifest
}

// resign signs the manifest JSON raw again with the expiry exp; it returns the
// envelope and the new manifest JSON.
func resign(key crypto.Signer, raw json.RawMessage, exp time.Time) (env []byte, m *lists.Manifest, err error) {
	m = new(lists.Manifest)
	if err := json.Unmarshal(raw, m); err != nil {
		return nil, nil, fmt.Errorf("stored manifest: %w", err)
	}
	m.Expires = exp
	env, err = lists.Sign(key, m)
	if err != nil {
		return nil, nil, err
	}
	return env, m, nil
}

// Renewal is one list or config whose retained manifests Renew re-signed.
type Renewal struct {
	Site, List string
	// Versions are the versions renewed (the snapshot, then its deltas).
	Versions []uint64
	Expires  time.Time
}

// Renew re-signs, with the expiry now+validity, the retained manifests of
// every list and site config whose earliest expiry is less than half the
// validity away (all of them with force), and publishes them retained. The
// versions and chunks stay: a gate holding the version takes the later
// expiry without applying anything again, and a gate catching up finds no
// expired version on the broker. gatehub run calls it periodically.
func (m *Master) Renew(ctx context.Context, p Publisher, key crypto.Signer, prefix string, now time.Time, validity time.Duration, force bool) ([]Renewal, error) {
	if validity <= 0 {
		validity = DefaultListValidity
	}
	due := func(exp time.Time) bool { return force || exp.Sub(now) < validity/2 }
	exp := now.UTC().Add(validity)
	var names []string
	err := m.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMaster).ForEach(func(k, v []byte) error {
			if v == nil {
				names = append(names, string(k))
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("hub: renew: read lists: %w", err)
	}
	var out []Renewal
	var errs []error
	for _, name := range names {
		site, list, _ := strings.Cut(name, "/")
		r, err := m.renewList(ctx, p, key, prefix, site, list, exp, due)
		if err != nil {
			errs = append(errs, err)
		} else if r != nil {
			out = append(out, *r)
		}
	}
	configs, err := m.Configs()
	if err != nil {
		return out, err
	}
	for _, sc := range configs {
		if !sc.Published || sc.Manifest == nil || !due(sc.Expires) {
			continue
		}
		env, man, err := resign(key, sc.Manifest, exp)
		if err == nil {
			err = p.Publish(lists.ManifestTopic(prefix, sc.Site, gateconfig.List, lists.Snapshot, 0), env, true)
		}
		if err == nil {
			sc.Manifest, sc.Expires = manifestJSON(env), exp
			err = m.putConfig(&sc)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("hub: renew config of site %s v%d: %w; the gates refuse it from %s", sc.Site, sc.Version, err, sc.Expires.Format(time.RFC3339)))
			continue
		}
		out = append(out, Renewal{Site: sc.Site, List: gateconfig.List, Versions: []uint64{man.Version}, Expires: exp})
	}
	for _, r := range out {
		m.log.Info("hub: list expiry renewed", "site", r.Site, "list", r.List, "versions", r.Versions, "expires", r.Expires)
	}
	return out, errors.Join(errs...)
}

// renewList renews one list's retained manifests if due; nil when not due.
func (m *Master) renewList(ctx context.Context, p Publisher, key crypto.Signer, prefix, site, list string, exp time.Time, due func(time.Time) bool) (*Renewal, error) {
	var meta listMeta
	err := m.db.View(func(tx *bolt.Tx) error {
		b, err := listBucket(tx, site, list)
		if err != nil {
			return err
		}
		if v := b.Get(keyMeta); v != nil {
			return json.Unmarshal(v, &meta)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("hub: renew %s/%s: read meta: %w", site, list, err)
	}
	if meta.SnapshotVersion == 0 || meta.Dirty || !due(meta.Expires) {
		return nil, nil
	}
	if meta.SnapshotManifest == nil {
		m.log.Warn("hub: list published by an older hub has no stored manifest to renew; publish a snapshot (gatehub publish --snapshot)", "site", site, "list", list)
		return nil, nil
	}
	r := &Renewal{Site: site, List: list, Expires: exp}
	renew := func(raw json.RawMessage, kind lists.Kind, version uint64) (json.RawMessage, error) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		env, man, err := resign(key, raw, exp)
		if err != nil {
			return nil, err
		}
		if err := p.Publish(lists.ManifestTopic(prefix, site, list, kind, version), env, true); err != nil {
			return nil, err
		}
		r.Versions = append(r.Versions, man.Version)
		return manifestJSON(env), nil
	}
	// The snapshot first, then the deltas in order: a gate catching up
	// meanwhile finds each version valid under one expiry or the other.
	if meta.SnapshotManifest, err = renew(meta.SnapshotManifest, lists.Snapshot, 0); err != nil {
		return nil, fmt.Errorf("hub: renew %s/%s snapshot v%d: %w", site, list, meta.SnapshotVersion, err)
	}
	for i, d := range meta.RetainedDeltas {
		if d.Manifest == nil {
			continue // sent by a publish that died midway; the next publish is a snapshot
		}
		if meta.RetainedDeltas[i].Manifest, err = renew(d.Manifest, lists.Delta, d.Version); err != nil {
			return nil, fmt.Errorf("hub: renew %s/%s delta v%d: %w", site, list, d.Version, err)
		}
	}
	meta.Expires = exp
	// Publish may have run meanwhile: keep its meta if the version moved.
	err = m.db.Update(func(tx *bolt.Tx) error {
		b, err := listBucket(tx, site, list)
		if err != nil {
			return err
		}
		var cur listMeta
		if v := b.Get(keyMeta); v != nil {
			if err := json.Unmarshal(v, &cur); err != nil {
				return err
			}
		}
		if cur.Version != meta.Version || cur.Dirty {
			return nil
		}
		return putMeta(b, &meta)
	})
	if err != nil {
		return nil, fmt.Errorf("hub: renew %s/%s: record: %w", site, list, err)
	}
	return r, nil
}

// renewLoop renews the retained lists' expiry while gatehub run runs: at start
// and then every hour (or an eighth of the validity, if shorter), each list
// whose expiry is less than half the validity away. lists.db is opened only
// for the moment of a renewal, since operator commands use it too; a busy or
// failed attempt is retried at the next tick.
func (h *Hub) renewLoop(ctx context.Context) {
	every := min(time.Hour, h.cfg.Validity()/8)
	for {
		wait := every
		err := h.renewOnce(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case errors.Is(err, errNotConnected):
			wait = 2 * time.Second // at start, or while the broker is away
		case err != nil:
			h.log.Warn("hub: list renewal failed; retried later", "err", err, "retry_in", every,
				"hint", "if it keeps failing, the gates refuse the lists once they expire; gatehub publish --snapshot publishes a fresh version")
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

var errNotConnected = errors.New("not connected to the broker")

func (h *Hub) renewOnce(ctx context.Context) error {
	if h.client == nil || !h.client.IsConnectionOpen() {
		return errNotConnected
	}
	if !h.leadsLists() {
		// Another instance renews.
		return nil
	}
	m, err := OpenMaster(filepath.Join(h.cfg.DataDir, "lists.db"), h.log)
	if err != nil {
		return err
	}
	defer m.Close()
	_, err = m.Renew(ctx, &MQTTPublisher{c: h.client}, h.key, h.cfg.Prefix, time.Now(), h.cfg.Validity(), false)
	return err
}
