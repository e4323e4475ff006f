package hub

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/mynagate/mynagate/internal/pgtest"
)

// TestLeaderOneAtATime: of instances trying for the same lead on one
// database exactly one holds it; when it stops, another takes it; one not
// eligible (no lists.db) takes it only once it is.
func TestLeaderOneAtATime(t *testing.T) {
	url := pgtest.URL(t)
	lists := filepath.Join(t.TempDir(), "lists.db")
	type running struct {
		l    *pgLeader
		stop context.CancelFunc
		done chan struct{}
	}
	var rs []running
	for i := range 3 {
		l := &pgLeader{url: url, key: lockLists, what: "test", log: slog.New(slog.DiscardHandler)}
		if i == 2 {
			l.eligible = func() bool { _, err := os.Stat(lists); return err == nil }
		}
		ctx, cancel := context.WithCancel(context.Background())
		r := running{l: l, stop: cancel, done: make(chan struct{})}
		go func() { l.run(ctx); close(r.done) }()
		t.Cleanup(func() { r.stop(); <-r.done })
		rs = append(rs, r)
	}
	stop := func(i int) { rs[i].stop(); <-rs[i].done }
	leader := func() int {
		n, who := 0, -1
		for i, r := range rs {
			if r.l.held.Load() {
				n, who = n+1, i
			}
		}
		if n > 1 {
			t.Fatalf("%d instances hold the lead at once", n)
		}
		return who
	}
	first := -1
	waitFor(t, "one leader", func() bool { first = leader(); return first >= 0 })
	if first == 2 {
		t.Fatal("an instance without lists.db took the lead")
	}
	stop(first)
	other := 1 - first
	waitFor(t, "the other eligible instance to lead", func() bool { return leader() == other })
	stop(other)
	if err := os.WriteFile(lists, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the instance that now has lists.db to lead", func() bool { return leader() == 2 })
}
