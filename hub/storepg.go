package hub

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mynagate/mynagate/sync/peers"
)

// The schema's versions, applied in order at start (pgMigrate): NNNN_name.sql.
//
//go:embed pgschema/*.sql
var pgSchema embed.FS

// Advisory lock keys of the hub's own (pg_advisory_lock's bigint space).
const (
	lockMigrate int64 = 0x6d796e61_0001 // "myna": schema migrations
	lockPurge   int64 = 0x6d796e61_0002 // the instance purging past retention (leader.go)
	lockLists   int64 = 0x6d796e61_0003 // the instance renewing the lists (leader.go)
)

// pgTimeout bounds one statement group of the store.
const pgTimeout = 2 * time.Minute

// pgBackend keeps the store in PostgreSQL, shared by any number of hub
// instances: dedupe by id is the events table's primary key, and commits
// that touch a site take that site's transaction lock first, so that the
// counters and the inside view see every instance's events in turn.
type pgBackend struct {
	pool *pgxpool.Pool
	// instance names the hub instance in the events it stores.
	instance string
	// stop and done end watch, when it runs.
	stop, done chan struct{}
	watching   bool
}

// OpenPGStore connects to the PostgreSQL database at url, brings its schema
// up to date, and returns the store over it. Several hub instances may open
// the same database; instance names this one in the events it stores.
func OpenPGStore(ctx context.Context, url, instance string, log *slog.Logger) (*Store, error) {
	b, err := openPGBackend(ctx, url, log)
	if err != nil {
		return nil, err
	}
	b.instance = instance
	last, err := b.commits()
	if err != nil {
		b.close()
		return nil, fmt.Errorf("hub: read the store's commit count: %w", err)
	}
	s := newStore(b, log)
	b.watching = true
	go b.watch(last, func() {
		// Another instance's commit (or this one's): views fold again.
		s.shelters.reset()
		s.changes.Add(1)
	})
	return s, nil
}

func openPGBackend(ctx context.Context, url string, log *slog.Logger) (*pgBackend, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("hub: database_url: %w; want postgres://user:password@host:5432/database", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("hub: connect to PostgreSQL: %w", err)
	}
	if err := pgMigrate(ctx, pool, log); err != nil {
		pool.Close()
		return nil, err
	}
	return &pgBackend{pool: pool, stop: make(chan struct{}), done: make(chan struct{})}, nil
}

// pgMigrate applies the schema versions the database lacks, each in its own
// transaction, under an advisory lock so that instances starting together
// apply each once.
func pgMigrate(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("hub: connect to PostgreSQL: %w; check database_url and that the server runs", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", lockMigrate); err != nil {
		return fmt.Errorf("hub: lock the schema for migration: %w", err)
	}
	defer conn.Exec(context.Background(), "SELECT pg_advisory_unlock($1)", lockMigrate)
	_, err = conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version int PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`)
	if err != nil {
		return fmt.Errorf("hub: create schema_migrations: %w; does the database user own the database?", err)
	}
	files, err := fs.Glob(pgSchema, "pgschema/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(files)
	for _, f := range files {
		name := strings.TrimSuffix(strings.TrimPrefix(f, "pgschema/"), ".sql")
		num, _, _ := strings.Cut(name, "_")
		version, err := strconv.Atoi(num)
		if err != nil {
			return fmt.Errorf("hub: schema file %s is not named NNNN_name.sql", f)
		}
		var done bool
		if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)", version).Scan(&done); err != nil {
			return fmt.Errorf("hub: read schema_migrations: %w", err)
		}
		if done {
			continue
		}
		sql, err := pgSchema.ReadFile(f)
		if err != nil {
			return err
		}
		err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, string(sql)); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", version, name)
			return err
		})
		if err != nil {
			return fmt.Errorf("hub: apply schema version %s: %w", name, err)
		}
		log.Info("hub: applied a schema version to PostgreSQL", "version", name)
	}
	return nil
}

// commits returns how many commits every instance made so far.
func (p *pgBackend) commits() (int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var n int64
	var called bool
	if err := p.pool.QueryRow(ctx, "SELECT last_value, is_called FROM store_commits").Scan(&n, &called); err != nil {
		return 0, err
	}
	if !called {
		return 0, nil
	}
	return n, nil
}

// watch calls changed whenever some instance committed after the count
// last, looking twice a second, until close.
func (p *pgBackend) watch(last int64, changed func()) {
	defer close(p.done)
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
		}
		n, err := p.commits()
		if err != nil {
			continue // the database is away: the commits fail too, and say so
		}
		if n != last {
			changed()
			last = n
		}
	}
}

// pgIngest is ingestTx over what a commit loaded, kept when it ends.
type pgIngest struct {
	// fresh are the ids this commit inserted; claimed those already taken
	// by an earlier item of it.
	fresh, claimed map[string]bool
	st             map[[2]string]*GateStats
	pres           map[[2]string]peers.Presence
	dirty          map[[2]string]bool
	conflicts      []Conflict
	enrol          []pendingEnrolment
}

func (p *pgIngest) claim(it *ingestItem) (bool, error) {
	if !p.fresh[it.e.ID] || p.claimed[it.e.ID] {
		return false, nil
	}
	p.claimed[it.e.ID] = true
	return true, nil
}

func (p *pgIngest) stats(site, gate string) (*GateStats, error) {
	k := [2]string{site, gate}
	if p.st[k] == nil {
		p.st[k] = &GateStats{Site: site, Gate: gate}
	}
	return p.st[k], nil
}

func (p *pgIngest) presence(site, holder string) (peers.Presence, bool, error) {
	cur, ok := p.pres[[2]string{site, holder}]
	return cur, ok, nil
}

func (p *pgIngest) setPresence(site, holder string, pr peers.Presence) error {
	k := [2]string{site, holder}
	p.pres[k], p.dirty[k] = pr, true
	return nil
}

func (p *pgIngest) putConflict(c Conflict) error {
	p.conflicts = append(p.conflicts, c)
	return nil
}

func (p *pgIngest) putEnrolment(id, site string, rec []byte) error {
	p.enrol = append(p.enrol, pendingEnrolment{ID: id, Site: site, Record: rec})
	return nil
}

func (p *pgBackend) enrolments(n int) ([]pendingEnrolment, error) {
	ctx, cancel := context.WithTimeout(context.Background(), pgTimeout)
	defer cancel()
	rows, err := p.pool.Query(ctx, "SELECT id, site, record FROM enrolments ORDER BY id LIMIT $1", n)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (pendingEnrolment, error) {
		var pe pendingEnrolment
		return pe, r.Scan(&pe.ID, &pe.Site, &pe.Record)
	})
}

func (p *pgBackend) enrolled(id string) error {
	return p.exec("DELETE FROM enrolments WHERE id = $1", id)
}

func (p *pgBackend) commit(items []ingestItem, log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(context.Background(), pgTimeout)
	defer cancel()
	return pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		in := &pgIngest{fresh: map[string]bool{}, claimed: map[string]bool{}, st: map[[2]string]*GateStats{},
			pres: map[[2]string]peers.Presence{}, dirty: map[[2]string]bool{}}
		var sites []string
		var ids, esites, gates, modes, places []string
		var ats []time.Time
		var recs [][]byte
		var ssites, sgates, hsites, holders []string
		for i := range items {
			it := &items[i]
			*it.result = ingestResult{}
			r, e := it.req, &it.e
			sites = append(sites, r.site)
			ids, esites, gates = append(ids, e.ID), append(esites, r.site), append(gates, r.gate)
			modes, places, ats, recs = append(modes, modeOf(e.Kind)), append(places, e.Place), append(ats, e.At), append(recs, it.rec)
			ssites, sgates = append(ssites, r.site), append(sgates, r.gate)
			if h := peers.HolderKey(e); h != "" {
				hsites, holders = append(hsites, r.site), append(holders, h)
			}
		}
		// The sites' locks, in one order for every instance.
		slices.Sort(sites)
		for _, s := range slices.Compact(sites) {
			if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", "mynagate-site/"+s); err != nil {
				return fmt.Errorf("lock site %s: %w", s, err)
			}
		}
		rows, err := tx.Query(ctx, `INSERT INTO events (id, site, gate, mode, place, at, record, instance)
			SELECT *, $8 FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[], $7::bytea[])
			ON CONFLICT (id) DO NOTHING RETURNING id`, ids, esites, gates, modes, places, ats, recs, p.instance)
		if err != nil {
			return fmt.Errorf("insert events: %w", err)
		}
		fresh, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return fmt.Errorf("insert events: %w", err)
		}
		for _, id := range fresh {
			in.fresh[id] = true
		}
		rows, err = tx.Query(ctx, `SELECT stats FROM gate_stats WHERE (site, gate) IN (SELECT * FROM unnest($1::text[], $2::text[]))`, ssites, sgates)
		if err != nil {
			return fmt.Errorf("read gate counters: %w", err)
		}
		stats, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
		if err != nil {
			return fmt.Errorf("read gate counters: %w", err)
		}
		for _, v := range stats {
			st := &GateStats{}
			if json.Unmarshal(v, st) == nil {
				in.st[[2]string{st.Site, st.Gate}] = st
			}
		}
		if len(holders) > 0 {
			rows, err = tx.Query(ctx, `SELECT site, holder, presence FROM inside WHERE (site, holder) IN (SELECT * FROM unnest($1::text[], $2::text[]))`, hsites, holders)
			if err != nil {
				return fmt.Errorf("read presence: %w", err)
			}
			var site, holder string
			var v []byte
			_, err = pgx.ForEachRow(rows, []any{&site, &holder, &v}, func() error {
				var pr peers.Presence
				if json.Unmarshal(v, &pr) == nil {
					in.pres[[2]string{site, holder}] = pr
				}
				return nil
			})
			if err != nil {
				return fmt.Errorf("read presence: %w", err)
			}
		}
		for i := range items {
			it := &items[i]
			dup, err := ingestOne(in, log, it)
			if err != nil {
				return err
			}
			it.result.Ingested = Ingested{Seq: it.e.Seq, ID: it.e.ID, Dup: dup}
		}
		return p.keep(ctx, tx, in)
	})
}

// keep writes what a commit changed besides the events.
func (p *pgBackend) keep(ctx context.Context, tx pgx.Tx, in *pgIngest) error {
	var ss, sg []string
	var sv [][]byte
	for k, st := range in.st {
		v, err := json.Marshal(st)
		if err != nil {
			return err
		}
		ss, sg, sv = append(ss, k[0]), append(sg, k[1]), append(sv, v)
	}
	_, err := tx.Exec(ctx, `INSERT INTO gate_stats (site, gate, stats) SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[])
		ON CONFLICT (site, gate) DO UPDATE SET stats = excluded.stats`, ss, sg, sv)
	if err != nil {
		return fmt.Errorf("keep gate counters: %w", err)
	}
	if len(in.dirty) > 0 {
		var hs, hh, hp []string
		var hi []bool
		var hv [][]byte
		for k := range in.dirty {
			pr := in.pres[k]
			v, err := json.Marshal(pr)
			if err != nil {
				return err
			}
			hs, hh, hi, hp, hv = append(hs, k[0]), append(hh, k[1]), append(hi, pr.Inside), append(hp, pr.Place), append(hv, v)
		}
		_, err := tx.Exec(ctx, `INSERT INTO inside (site, holder, inside, place, presence)
			SELECT * FROM unnest($1::text[], $2::text[], $3::boolean[], $4::text[], $5::bytea[])
			ON CONFLICT (site, holder) DO UPDATE SET inside = excluded.inside, place = excluded.place, presence = excluded.presence`, hs, hh, hi, hp, hv)
		if err != nil {
			return fmt.Errorf("keep presence: %w", err)
		}
	}
	for _, c := range in.conflicts {
		v, err := json.Marshal(c)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO conflicts (id, site, conflict) VALUES ($1, $2, $3) ON CONFLICT (id) DO UPDATE SET conflict = excluded.conflict`, c.Event, c.Site, v); err != nil {
			return fmt.Errorf("keep conflict: %w", err)
		}
	}
	for _, pe := range in.enrol {
		if _, err := tx.Exec(ctx, `INSERT INTO enrolments (id, site, record) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING`, pe.ID, pe.Site, pe.Record); err != nil {
			return fmt.Errorf("keep enrolment: %w", err)
		}
	}
	if _, err := tx.Exec(ctx, "SELECT nextval('store_commits')"); err != nil {
		return fmt.Errorf("count the commit: %w", err)
	}
	return nil
}

func (p *pgBackend) exec(sql string, args ...any) error {
	ctx, cancel := context.WithTimeout(context.Background(), pgTimeout)
	defer cancel()
	_, err := p.pool.Exec(ctx, sql, args...)
	return err
}

func (p *pgBackend) putStatus(site, gate string, v []byte) error {
	return p.exec(`INSERT INTO gate_status (site, gate, status) VALUES ($1, $2, $3)
		ON CONFLICT (site, gate) DO UPDATE SET status = excluded.status`, site, gate, v)
}

func (p *pgBackend) putList(li ListInfo, v []byte) error {
	return p.exec(`INSERT INTO lists (site, list, version, info) VALUES ($1, $2, $3, $4)
		ON CONFLICT (site, list) DO UPDATE SET version = excluded.version, info = excluded.info WHERE lists.version < excluded.version`,
		li.Site, li.List, int64(li.Version), v)
}

func (p *pgBackend) event(id string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), pgTimeout)
	defer cancel()
	var v []byte
	err := p.pool.QueryRow(ctx, "SELECT record FROM events WHERE id = $1", id).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	return v, err
}

// snapshot runs fn in a read-only transaction that sees one snapshot.
func (p *pgBackend) snapshot(fn func(ctx context.Context, tx pgx.Tx) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), pgTimeout)
	defer cancel()
	return pgx.BeginTxFunc(ctx, p.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly},
		func(tx pgx.Tx) error { return fn(ctx, tx) })
}

func (p *pgBackend) view(vb *viewBuilder) error {
	return p.snapshot(func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, "SELECT stats FROM gate_stats")
		if err != nil {
			return err
		}
		var v []byte
		if _, err := pgx.ForEachRow(rows, []any{&v}, func() error { return vb.gate(v) }); err != nil {
			return err
		}
		var site, gate string
		rows, err = tx.Query(ctx, "SELECT site, gate, status FROM gate_status")
		if err != nil {
			return err
		}
		if _, err := pgx.ForEachRow(rows, []any{&site, &gate, &v}, func() error { return vb.status(site, gate, v) }); err != nil {
			return err
		}
		var place string
		var n int
		rows, err = tx.Query(ctx, "SELECT site, place, count(*)::int FROM inside WHERE inside GROUP BY site, place")
		if err != nil {
			return err
		}
		if _, err := pgx.ForEachRow(rows, []any{&site, &place, &n}, func() error { vb.inside(site, place, n); return nil }); err != nil {
			return err
		}
		rows, err = tx.Query(ctx, "SELECT info FROM lists")
		if err != nil {
			return err
		}
		_, err = pgx.ForEachRow(rows, []any{&v}, func() error { return vb.list(v) })
		return err
	})
}

// scanPage is how many records scanEvents reads at a time.
const scanPage = 1000

func (p *pgBackend) scanEvents(after string, fn func(string, []byte) bool) error {
	return p.scanPages("SELECT id, record FROM events WHERE id > $1 ORDER BY id LIMIT $2", after, fn)
}

func (p *pgBackend) scanPlaced(site string, fn func(string, []byte) bool) error {
	return p.scanPages("SELECT id, record FROM events WHERE id > $1 AND site = $3 AND place <> '' ORDER BY id LIMIT $2", "", fn, site)
}

// scanPages calls fn with the (id, record) rows of query, a page at a time
// from one snapshot: query takes the last id seen as $1, the page size as $2,
// and args from $3 on.
func (p *pgBackend) scanPages(query, after string, fn func(string, []byte) bool, args ...any) error {
	return p.snapshot(func(ctx context.Context, tx pgx.Tx) error {
		for {
			rows, err := tx.Query(ctx, query, append([]any{after, scanPage}, args...)...)
			if err != nil {
				return err
			}
			var id string
			var v []byte
			n, stopped := 0, false
			_, err = pgx.ForEachRow(rows, []any{&id, &v}, func() error {
				n++
				after = id
				if !stopped && !fn(id, v) {
					stopped = true
				}
				return nil
			})
			if err != nil || stopped || n < scanPage {
				return err
			}
		}
	})
}

func (p *pgBackend) placedSites() ([]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), pgTimeout)
	defer cancel()
	rows, err := p.pool.Query(ctx, "SELECT DISTINCT site FROM events WHERE place <> '' ORDER BY site")
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

func (p *pgBackend) amends() (map[string][]byte, error) {
	out := map[string][]byte{}
	err := p.snapshot(func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, "SELECT id, amend FROM amends")
		if err != nil {
			return err
		}
		var id string
		var v []byte
		_, err = pgx.ForEachRow(rows, []any{&id, &v}, func() error { out[id] = v; return nil })
		return err
	})
	return out, err
}

func (p *pgBackend) amend(id string, fn func(rec, old []byte) ([]byte, error)) error {
	ctx, cancel := context.WithTimeout(context.Background(), pgTimeout)
	defer cancel()
	return pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", "mynagate-amend/"+id); err != nil {
			return err
		}
		var rec, old []byte
		if err := tx.QueryRow(ctx, "SELECT record FROM events WHERE id = $1", id).Scan(&rec); err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if err := tx.QueryRow(ctx, "SELECT amend FROM amends WHERE id = $1", id).Scan(&old); err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		v, err := fn(rec, old)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "INSERT INTO amends (id, amend) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET amend = excluded.amend", id, v)
		return err
	})
}

func (p *pgBackend) purge(rule retention) (int, error) {
	total := 0
	for _, mode := range rule.modes() {
		for {
			var n int
			err := func() error {
				ctx, cancel := context.WithTimeout(context.Background(), pgTimeout)
				defer cancel()
				return p.pool.QueryRow(ctx, `WITH gone AS (
						DELETE FROM events WHERE id IN (SELECT id FROM events WHERE mode = $1 AND at < $2 LIMIT $3) RETURNING id),
					c AS (DELETE FROM conflicts WHERE id IN (SELECT id FROM gone)),
					a AS (DELETE FROM amends WHERE id IN (SELECT id FROM gone))
					SELECT count(*)::int FROM gone`, mode, rule.cut[mode], purgeBatch).Scan(&n)
			}()
			if err != nil {
				return total, err
			}
			total += n
			if n < purgeBatch {
				break
			}
		}
	}
	if total > 0 {
		if err := p.exec("SELECT nextval('store_commits')"); err != nil {
			return total, err
		}
	}
	return total, nil
}

func (p *pgBackend) close() error {
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	if p.watching {
		<-p.done
	}
	p.pool.Close()
	return nil
}
