package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"

	"github.com/mynagate/mynagate/hub"
)

// cmdMigrate moves a stopped hub's store (data_dir/hub.db) into PostgreSQL.
func cmdMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c common
	fs := newFlags("migrate", &c, stderr)
	to := fs.String("to", "", "PostgreSQL URL to move the store into (postgres://user:password@host:5432/database); the database must hold no hub's events yet")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *to == "" {
		return errors.New("--to postgres://... is required")
	}
	cfg, err := c.load(false)
	if err != nil {
		return err
	}
	m, err := hub.MigrateStore(ctx, filepath.Join(cfg.DataDir, "hub.db"), *to, logger(cfg, stderr), nil)
	if err != nil {
		return err
	}
	return printOut(stdout, c.json, m, fmt.Sprintf(
		"moved %d events, %d gates' counters, %d statuses, %d presences, %d conflicts, %d list infos, %d amendments, %d pending kiosk enrolments into PostgreSQL.\n"+
			"Next: set \"database_url\" in %s to that URL and start gatehub run; hub.db stays as it was.",
		m.Events, m.Gates, m.Statuses, m.Inside, m.Conflicts, m.Lists, m.Amends, m.Enrolments, c.config))
}
