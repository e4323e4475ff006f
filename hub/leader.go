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

// pgLeader holds PostgreSQL's session advisory lock lockLeader on a
// connection of its own: the instance holding it renews the lists and purges
// past retention, one at a time for every instance of a shared store. A
// leader that dies, or loses its connection, drops the lock with its
// session, and another instance takes it within leaderCheck.
type pgLeader struct {
	url  string
	log  *slog.Logger
	held atomic.Bool
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
			if l.held.Load() {
				// Still our session: the lock is ours while it lives.
				err = conn.Ping(qctx)
				ok = err == nil
			} else {
				err = conn.QueryRow(qctx, "SELECT pg_try_advisory_lock($1)", lockLeader).Scan(&ok)
			}
			if err != nil {
				conn.Close(context.Background())
				conn = nil
				ok = false
			}
			if ok != l.held.Load() {
				l.log.Info("hub: this instance's lead of list renewal and retention changed", "leads", ok)
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

// leads reports whether this instance does the work one instance does at a
// time: always with the embedded store, while it holds the lock with
// PostgreSQL.
func (h *Hub) leads() bool {
	return h.leader == nil || h.leader.held.Load()
}
