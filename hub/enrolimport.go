package hub

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/mynagate/mynagate/offline/cardkey"
)

// An import builds the list's next entries in a staging bucket, in short
// transactions with lists.db closed in between, and swaps it in at the end in
// one short transaction: the list in force stays as it was until then (and
// after a Ctrl-C or a crash), and other list commands (config set, revoke,
// publish) get lists.db between the batches instead of failing on its lock.
var (
	bucketStaging = []byte("staging")
	// keyGeneration counts the changes to a list's entries; an import
	// refuses to swap in what it staged if the entries changed meanwhile.
	keyGeneration = []byte("generation")
)

// importBatch is how many entries one staging transaction writes.
const importBatch = 100_000

// importYield is how long an import leaves lists.db closed between batches:
// longer than bbolt's 50 ms lock poll, so that a waiting command gets it.
const importYield = 60 * time.Millisecond

// ErrListChanged is wrapped by ImportEnrolment when the list's entries
// changed while it staged (another enrolment); nothing was swapped in.
var ErrListChanged = errors.New("the list's entries changed during the import")

// ImportOptions tune ImportEnrolment.
type ImportOptions struct {
	// Replace makes the list exactly the file: entries not in it are removed.
	Replace bool
	// Progress, if not nil, is called after each batch with the rows staged
	// so far and the total.
	Progress func(done, total int)
	// Log receives a line per import; nil discards.
	Log *slog.Logger
}

// ImportEnrolment enrols e into site's list in lists.db at path (see the
// staging note above). lists.db must not be open in this process. When ctx
// is done or anything fails, the staged entries are dropped and the list in
// force is unchanged.
func ImportEnrolment(ctx context.Context, path, site, list string, e *Enrolment, opt ImportOptions) (EnrolResult, error) {
	log := opt.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	imp := &importer{path: path, site: site, list: list, rows: e.rows, replace: opt.Replace, log: log}
	res, err := imp.run(ctx, opt.Progress)
	if err != nil {
		if derr := imp.drop(); derr != nil {
			log.Warn("hub: staged entries not dropped; the next import of the list drops them", "site", site, "list", list, "err", derr)
		}
		if ctx.Err() != nil {
			return EnrolResult{}, fmt.Errorf("hub: import into %s/%s stopped: %w; the list in force is unchanged", site, list, ctx.Err())
		}
		return EnrolResult{}, fmt.Errorf("hub: import into %s/%s: %w; the list in force is unchanged", site, list, err)
	}
	log.Info("hub: enrolment imported", "site", site, "list", list, "rows", len(e.rows),
		"added", res.Added, "updated", res.Updated, "unchanged", res.Unchanged, "removed", res.Removed)
	return res, nil
}

type importer struct {
	path, site, list string
	rows             []enrolRow
	replace          bool
	log              *slog.Logger

	gen uint64
	// next is the first row not staged yet; after the last old entry
	// merged (nil before the first).
	next  int
	after []byte
	res   EnrolResult
	// changed are the card keys whose entry the import adds, changes or
	// removes, in key order, for the next delta.
	changed []cardkey.Key
}

// update runs fn in one write transaction of lists.db, open only for it.
func (imp *importer) update(fn func(tx *bolt.Tx) error) error {
	m, err := OpenMaster(imp.path, imp.log)
	if err != nil {
		return err
	}
	if err := m.db.Update(fn); err != nil {
		m.Close()
		return err
	}
	return m.Close()
}

func (imp *importer) stagingName() []byte { return []byte(imp.site + "/" + imp.list) }

func (imp *importer) run(ctx context.Context, progress func(done, total int)) (EnrolResult, error) {
	err := imp.update(func(tx *bolt.Tx) error {
		b, err := listBucket(tx, imp.site, imp.list)
		if err != nil {
			return err
		}
		imp.gen = generation(b)
		top, err := tx.CreateBucketIfNotExists(bucketStaging)
		if err != nil {
			return err
		}
		if top.Bucket(imp.stagingName()) != nil {
			imp.log.Info("hub: dropping entries a stopped import left staged", "site", imp.site, "list", imp.list)
			if err := top.DeleteBucket(imp.stagingName()); err != nil {
				return err
			}
		}
		sb, err := top.CreateBucket(imp.stagingName())
		if err != nil {
			return err
		}
		_, err = sb.CreateBucket(subEntries)
		return err
	})
	if err != nil {
		return EnrolResult{}, fmt.Errorf("start: %w", err)
	}
	for done := false; !done; {
		if err := ctx.Err(); err != nil {
			return EnrolResult{}, err
		}
		err := imp.update(func(tx *bolt.Tx) error {
			var err error
			done, err = imp.stageBatch(tx)
			return err
		})
		if err != nil {
			return EnrolResult{}, fmt.Errorf("stage: %w", err)
		}
		if progress != nil {
			progress(imp.next, len(imp.rows))
		}
		if !done {
			select {
			case <-ctx.Done():
			case <-time.After(importYield):
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return EnrolResult{}, err
	}
	if err := imp.update(imp.swap); err != nil {
		return EnrolResult{}, fmt.Errorf("swap in: %w", err)
	}
	return imp.res, nil
}

// buckets returns the list's bucket and its staged entries, checking that
// neither the list nor the staging changed under the import.
func (imp *importer) buckets(tx *bolt.Tx) (list, staged *bolt.Bucket, err error) {
	b, err := listBucket(tx, imp.site, imp.list)
	if err != nil {
		return nil, nil, err
	}
	if generation(b) != imp.gen {
		return nil, nil, fmt.Errorf("%w; import again", ErrListChanged)
	}
	var sb *bolt.Bucket
	if top := tx.Bucket(bucketStaging); top != nil {
		if s := top.Bucket(imp.stagingName()); s != nil {
			sb = s.Bucket(subEntries)
		}
	}
	if sb == nil {
		return nil, nil, errors.New("the staged entries vanished: another import of the list started; let one finish")
	}
	return b, sb, nil
}

// stageBatch merges the next importBatch rows with the entries in force (in
// key order, the file's row winning) into the staging bucket, counting what
// changes. It reports whether everything is staged.
func (imp *importer) stageBatch(tx *bolt.Tx) (bool, error) {
	b, sb, err := imp.buckets(tx)
	if err != nil {
		return false, err
	}
	// Keys come in order: full pages, as a sequential load allows.
	sb.FillPercent = 1.0
	c := b.Bucket(subEntries).Cursor()
	var ok, ov []byte
	if imp.after == nil {
		ok, ov = c.First()
	} else if ok, ov = c.Seek(imp.after); ok != nil && bytes.Equal(ok, imp.after) {
		ok, ov = c.Next()
	}
	for n := 0; n < importBatch; n++ {
		var row *enrolRow
		if imp.next < len(imp.rows) {
			row = &imp.rows[imp.next]
		}
		cmp := 0
		switch {
		case row == nil && ok == nil:
			return true, nil
		case row == nil:
			cmp = -1
		case ok == nil:
			cmp = 1
		default:
			cmp = bytes.Compare(ok, row.key[:])
		}
		switch {
		case cmp < 0: // only in force
			if imp.replace {
				imp.res.Removed++
				imp.changed = append(imp.changed, cardkey.Key(ok))
			} else if err := sb.Put(ok, ov); err != nil {
				return false, err
			}
			imp.after = append(imp.after[:0], ok...)
			ok, ov = c.Next()
			continue
		case cmp > 0: // only in the file
			imp.res.Added++
			imp.changed = append(imp.changed, row.key)
		default:
			if bytes.Equal(ov, row.val) {
				imp.res.Unchanged++
			} else {
				imp.res.Updated++
				imp.changed = append(imp.changed, row.key)
			}
			imp.after = append(imp.after[:0], ok...)
			ok, ov = c.Next()
		}
		if err := sb.Put(row.key[:], row.val); err != nil {
			return false, err
		}
		imp.next++
	}
	return imp.next == len(imp.rows) && ok == nil, nil
}

// swap makes the staged entries the list's, in one transaction, and marks
// what changed for the next publish: per card when it is a delta's worth,
// else by asking for a snapshot.
func (imp *importer) swap(tx *bolt.Tx) error {
	b, _, err := imp.buckets(tx)
	if err != nil {
		return err
	}
	top := tx.Bucket(bucketStaging)
	if err := b.DeleteBucket(subEntries); err != nil {
		return err
	}
	if err := top.Bucket(imp.stagingName()).MoveBucket(subEntries, b); err != nil {
		return err
	}
	if err := top.DeleteBucket(imp.stagingName()); err != nil {
		return err
	}
	total := imp.res.Added + imp.res.Updated + imp.res.Unchanged
	if !imp.replace {
		total = b.Bucket(subEntries).Stats().KeyN
	}
	if len(imp.changed) > total/2 {
		var meta listMeta
		if v := b.Get(keyMeta); v != nil {
			if err := json.Unmarshal(v, &meta); err != nil {
				return fmt.Errorf("read meta: %w", err)
			}
		}
		meta.Resnapshot = true
		if err := putMeta(b, &meta); err != nil {
			return err
		}
	} else {
		for _, k := range imp.changed {
			if err := markPending(b, k[:], pendingEntry); err != nil {
				return err
			}
		}
	}
	return bumpGeneration(b)
}

// drop deletes what the import staged, if anything.
func (imp *importer) drop() error {
	return imp.update(func(tx *bolt.Tx) error {
		top := tx.Bucket(bucketStaging)
		if top == nil || top.Bucket(imp.stagingName()) == nil {
			return nil
		}
		return top.DeleteBucket(imp.stagingName())
	})
}

func generation(b *bolt.Bucket) uint64 {
	if v := b.Get(keyGeneration); len(v) == 8 {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

func bumpGeneration(b *bolt.Bucket) error {
	return b.Put(keyGeneration, binary.BigEndian.AppendUint64(nil, generation(b)+1))
}
