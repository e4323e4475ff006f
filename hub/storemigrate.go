package hub

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	bolt "go.etcd.io/bbolt"

	"github.com/mynagate/mynagate/event"
	"github.com/mynagate/mynagate/sync/peers"
)

// Migrated counts what MigrateStore moved.
type Migrated struct {
	Events, Gates, Statuses, Inside, Conflicts, Lists, Amends int
	// Enrolments are kiosk enrolments stored but not yet in lists.db.
	Enrolments int
}

// ErrTargetNotEmpty is wrapped by MigrateStore when the database already holds
// a hub's events or counters.
var ErrTargetNotEmpty = errors.New("the database already holds a hub's events")

// migrateBatch is how many rows MigrateStore writes per statement.
const migrateBatch = 2000

// MigrateStore copies a stopped hub's bbolt store (hub.db at boltPath) into
// the PostgreSQL database at url, bringing its schema up to date first: the
// events with their records as they were, the gates' counters and statuses,
// who is inside, conflicts, list infos, office amendments and kiosk
// enrolments not yet applied to lists.db. The database
// must hold no hub's events yet. progress, if not nil, is called with the
// events copied so far.
func MigrateStore(ctx context.Context, boltPath, url string, log *slog.Logger, progress func(events int)) (Migrated, error) {
	var m Migrated
	src, err := bolt.Open(boltPath, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if errors.Is(err, bolt.ErrTimeout) {
		return m, fmt.Errorf("hub: open %s: %w; stop gatehub run first", boltPath, ErrStoreBusy)
	}
	if err != nil {
		return m, fmt.Errorf("hub: open %s: %w; is data_dir right?", boltPath, err)
	}
	defer src.Close()
	dst, err := openPGBackend(ctx, url, log)
	if err != nil {
		return m, err
	}
	defer dst.close()
	var used bool
	if err := dst.pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM events) OR EXISTS (SELECT 1 FROM gate_stats)").Scan(&used); err != nil {
		return m, fmt.Errorf("hub: migrate: read the database: %w", err)
	}
	if used {
		return m, fmt.Errorf("hub: migrate: %w; migrate into a new, empty database", ErrTargetNotEmpty)
	}
	err = src.View(func(btx *bolt.Tx) error {
		return pgx.BeginFunc(ctx, dst.pool, func(tx pgx.Tx) error {
			if err := migrateEvents(ctx, btx, tx, &m, progress); err != nil {
				return err
			}
			return migrateRest(ctx, btx, tx, &m)
		})
	})
	if err != nil {
		return Migrated{}, fmt.Errorf("hub: migrate %s: %w; nothing was kept in the database, fix and run again", boltPath, err)
	}
	return m, nil
}

func migrateEvents(ctx context.Context, btx *bolt.Tx, tx pgx.Tx, m *Migrated, progress func(int)) error {
	var ids, sites, gates, modes, places []string
	var ats []time.Time
	var recs [][]byte
	flush := func() error {
		if len(ids) == 0 {
			return nil
		}
		_, err := tx.Exec(ctx, `INSERT INTO events (id, site, gate, mode, place, at, record, instance)
			SELECT *, '' FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[], $7::bytea[])`,
			ids, sites, gates, modes, places, ats, recs)
		if err != nil {
			return fmt.Errorf("copy events: %w", err)
		}
		m.Events += len(ids)
		if progress != nil {
			progress(m.Events)
		}
		ids, sites, gates, modes, places, ats, recs = ids[:0], sites[:0], gates[:0], modes[:0], places[:0], ats[:0], recs[:0]
		return nil
	}
	var ferr error
	err := scanBolt(btx, "", func(id string, v []byte) bool {
		var rec Record
		if err := json.Unmarshal(v, &rec); err != nil {
			ferr = fmt.Errorf("event %s: %w", id, err)
			return false
		}
		e, err := event.Decode(rec.Event)
		if err != nil {
			ferr = fmt.Errorf("event %s: %w", id, err)
			return false
		}
		ids, sites, gates, modes, places = append(ids, id), append(sites, e.Site), append(gates, e.Gate), append(modes, modeOf(e.Kind)), append(places, e.Place)
		ats, recs = append(ats, e.At), append(recs, bytes.Clone(v))
		if len(ids) == migrateBatch {
			ferr = flush()
		}
		return ferr == nil
	})
	if err != nil {
		return err
	}
	if ferr != nil {
		return ferr
	}
	return flush()
}

func migrateRest(ctx context.Context, btx *bolt.Tx, tx pgx.Tx, m *Migrated) error {
	each := func(bucket []byte, fn func(k, v []byte) error) error {
		b := btx.Bucket(bucket)
		if b == nil {
			return nil
		}
		return b.ForEach(fn)
	}
	err := each(bucketGates, func(_, v []byte) error {
		var st GateStats
		if err := json.Unmarshal(v, &st); err != nil {
			return fmt.Errorf("gate counters: %w", err)
		}
		m.Gates++
		_, err := tx.Exec(ctx, "INSERT INTO gate_stats (site, gate, stats) VALUES ($1, $2, $3)", st.Site, st.Gate, v)
		return err
	})
	if err != nil {
		return err
	}
	err = each(bucketStatus, func(k, v []byte) error {
		site, gate, _ := strings.Cut(string(k), "/")
		m.Statuses++
		_, err := tx.Exec(ctx, "INSERT INTO gate_status (site, gate, status) VALUES ($1, $2, $3)", site, gate, v)
		return err
	})
	if err != nil {
		return err
	}
	err = each(bucketInside, func(k, v []byte) error {
		site, holder, _ := bytes.Cut(k, []byte{0})
		var p peers.Presence
		if err := json.Unmarshal(v, &p); err != nil {
			return fmt.Errorf("presence: %w", err)
		}
		m.Inside++
		_, err := tx.Exec(ctx, "INSERT INTO inside (site, holder, inside, place, presence) VALUES ($1, $2, $3, $4, $5)", string(site), string(holder), p.Inside, p.Place, v)
		return err
	})
	if err != nil {
		return err
	}
	err = each(bucketConflicts, func(k, v []byte) error {
		var c Conflict
		if err := json.Unmarshal(v, &c); err != nil {
			return fmt.Errorf("conflict: %w", err)
		}
		m.Conflicts++
		_, err := tx.Exec(ctx, "INSERT INTO conflicts (id, site, conflict) VALUES ($1, $2, $3)", string(k), c.Site, v)
		return err
	})
	if err != nil {
		return err
	}
	err = each(bucketLists, func(_, v []byte) error {
		var li ListInfo
		if err := json.Unmarshal(v, &li); err != nil {
			return fmt.Errorf("list info: %w", err)
		}
		m.Lists++
		_, err := tx.Exec(ctx, "INSERT INTO lists (site, list, version, info) VALUES ($1, $2, $3, $4)", li.Site, li.List, int64(li.Version), v)
		return err
	})
	if err != nil {
		return err
	}
	err = each(bucketAmends, func(k, v []byte) error {
		m.Amends++
		_, err := tx.Exec(ctx, "INSERT INTO amends (id, amend) VALUES ($1, $2)", string(k), v)
		return err
	})
	if err != nil {
		return err
	}
	// Kiosk enrolments the list box had not applied yet (a hub stopped
	// right after storing them) wait on PostgreSQL instead.
	return each(bucketEnrol, func(k, v []byte) error {
		site, rec, ok := bytes.Cut(v, []byte{0})
		if !ok {
			return fmt.Errorf("pending enrolment %s: no site", k)
		}
		m.Enrolments++
		_, err := tx.Exec(ctx, "INSERT INTO enrolments (id, site, record) VALUES ($1, $2, $3)", string(k), string(site), rec)
		return err
	})
}
