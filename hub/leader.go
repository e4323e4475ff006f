package hub

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// leaderCheck is how often an instance tries for the lead, and how often the
// leader checks it still holds it.
const leaderCheck = 2 * time.Second

// pgLeader holds a PostgreSQL session advisory lock on a connection of its
// own, so that work meant for one instance of a shared store at a time is
// done by the one holding it. A leader that dies, or loses its connection,
// drops the lock with its session, and another instance takes it within
// leaderCheck.
type pgLeader struct {
	url  string
	key  int64
	what string
	log  *slog.Logger
	// eligible, if set, says whether this instance may lead now.
	eligible func() bool
	held     atomic.Bool
}

// run tries for the lead and keeps it until ctx is done.
func (l *pgLeader) run(ctx context.Context) {
	var conn *pgx.Conn
	defer func() {
		if conn != nil {
			conn.Close(context.Background())
		}
		l.held.Store(false)
	}()
	t := time.NewTicker(leaderCheck)
	defer t.Stop()
	for {
		qctx, cancel := context.WithTimeout(ctx, leaderCheck*5)
		if conn == nil {
			c, err := pgx.Connect(qctx, l.url)
			if err == nil {
				conn = c
			}
		}
		if conn != nil {
			var ok bool
			var err error
			switch {
			case l.held.Load():
				// Still our session: the lock is ours while it lives.
				err = conn.Ping(qctx)
				ok = err == nil
			case l.eligible != nil && !l.eligible():
			default:
				err = conn.QueryRow(qctx, "SELECT pg_try_advisory_lock($1)", l.key).Scan(&ok)
			}
			if err != nil {
				conn.Close(context.Background())
				conn = nil
				ok = false
			}
			if ok != l.held.Load() {
				l.log.Info("hub: this instance's lead changed", "of", l.what, "leads", ok)
			}
			l.held.Store(ok)
		}
		cancel()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// leadsPurge reports whether this instance purges past retention: always
// with the embedded store; with PostgreSQL, one instance at a time.
func (h *Hub) leadsPurge() bool {
	return h.purgeLead == nil || h.purgeLead.held.Load()
}

// leadsLists reports whether this instance renews the lists: always with the
// embedded store; with PostgreSQL, one instance at a time among those with a
// lists.db (the list master stays on one box, README "Outgrowing one box").
func (h *Hub) leadsLists() bool {
	return h.listLead == nil || h.listLead.held.Load()
}
