package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/mynagate/mynagate/hub"
)

// eventsOut prints records as a table, CSV or JSON lines.
type eventsOut struct {
	w              io.Writer
	csv, json      bool
	tab            *tabwriter.Writer
	ecsv           *hub.EventCSV
	ccsv           *csv.Writer
	wroteCountHead bool
}

func newEventsOut(w io.Writer, asCSV, asJSON bool) *eventsOut {
	o := &eventsOut{w: w, csv: asCSV, json: asJSON}
	switch {
	case asCSV:
		o.ecsv = hub.NewEventCSV(w)
		o.ccsv = csv.NewWriter(w)
	case !asJSON:
		o.tab = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	}
	return o
}

func (o *eventsOut) event(r hub.EventRecord) error {
	switch {
	case o.csv:
		return o.ecsv.Write(r)
	case o.json:
		return json.NewEncoder(o.w).Encode(r)
	}
	offline := ""
	if r.Offline {
		offline = "offline"
	}
	_, err := fmt.Fprintf(o.tab, "%s\t%s/%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.At.Format("2006-01-02 15:04:05 MST"), r.Site, r.Gate, r.Lane,
		r.Kind, r.Decision, r.Reason, r.ServiceID, r.Assurance, offline)
	return err
}

func (o *eventsOut) count(c hub.GateCount) error {
	switch {
	case o.csv:
		if !o.wroteCountHead {
			o.wroteCountHead = true
			if err := o.ccsv.Write([]string{"site", "gate", "from", "until", "entries", "exits", "denied"}); err != nil {
				return err
			}
		}
		return o.ccsv.Write([]string{c.Site, c.Gate, c.From.Format(time.RFC3339), c.Until.Format(time.RFC3339),
			strconv.Itoa(c.Entries), strconv.Itoa(c.Exits), strconv.Itoa(c.Denied)})
	case o.json:
		return json.NewEncoder(o.w).Encode(c)
	}
	_, err := fmt.Fprintf(o.tab, "%s/%s\t%s-%s\tentries %d\texits %d\tdenied %d\n", c.Site, c.Gate,
		c.From.Format("2006-01-02 15:04"), c.Until.Format("15:04 MST"), c.Entries, c.Exits, c.Denied)
	return err
}

func (o *eventsOut) flush(counts bool) error {
	switch {
	case o.csv && counts:
		o.ccsv.Flush()
		return o.ccsv.Error()
	case o.csv:
		return o.ecsv.Flush()
	case o.tab != nil:
		return o.tab.Flush()
	}
	return nil
}

func cmdEvents(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c common
	fs := flag.NewFlagSet("gatehub events", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.config, "config", "/etc/mynagate/gatehub.json", "hub configuration file")
	params := url.Values{}
	for _, f := range []struct{ name, usage string }{
		{"site", "only this site"}, {"gate", "only this gate"}, {"lane", "only this lane"},
		{"kind", "only this kind (entry, exit, checkin, checkout, enrol, identify, annul)"},
		{"decision", "only admit or deny"}, {"reason", "only this reason code"},
		{"since", "from this time: RFC 3339, or a date or date and time in the site's zone (2026-12-01T18:00)"},
		{"until", "before this time (same forms)"},
	} {
		fs.Func(f.name, f.usage, func(s string) error { params.Set(f.name, s); return nil })
	}
	asCSV := fs.Bool("csv", false, "print CSV (a header line, UTF-8)")
	fs.BoolVar(&c.json, "json", false, "print one JSON object per line")
	counts := fs.Bool("counts", false, "print entries, exits and denials per gate per interval instead of events")
	interval := fs.Duration("interval", 15*time.Minute, "the interval of --counts (1m to 24h, aligned to local midnight)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("unexpected arguments %q; give filters as --flag=value", fs.Args())
	}
	if *asCSV && c.json {
		return errors.New("give --csv or --json, not both")
	}
	cfg, err := c.load(false)
	if err != nil {
		return err
	}
	q, err := hub.ParseEventQuery(params, cfg.Zone(params.Get("site")))
	if err != nil {
		return err
	}
	out := newEventsOut(stdout, *asCSV, c.json)
	// A running hub holds hub.db: ask it through its dashboard address, and
	// read hub.db only when no hub answers there.
	if cfg.HTTP != "" {
		err := remoteEvents(ctx, cfg, params, *counts, *interval, cfg.Zone, out)
		if err == nil {
			return out.flush(*counts)
		}
		if !errors.Is(err, errHubDown) {
			return err
		}
	}
	var f interface {
		hub.EventSource
		Close() error
	}
	if cfg.DatabaseURL != "" {
		f, err = hub.OpenPGStore(ctx, cfg.DatabaseURL, cfg.Instance, logger(cfg, io.Discard))
	} else {
		f, err = hub.OpenEventFile(filepath.Join(cfg.DataDir, "hub.db"))
	}
	if err != nil {
		return err
	}
	defer f.Close()
	if *counts {
		cs, err := hub.CountEvents(f, q, *interval, cfg.Zone)
		if err != nil {
			return err
		}
		for _, c := range cs {
			if err := out.count(c); err != nil {
				return err
			}
		}
		return out.flush(true)
	}
	if _, err := hub.QueryEvents(f, q, cfg.Zone, out.event); err != nil {
		return err
	}
	return out.flush(false)
}

// eventSink takes the events or counts read from the hub.
type eventSink interface {
	event(hub.EventRecord) error
	count(hub.GateCount) error
}

// errHubDown is returned by remoteEvents when no hub answers at all.
var errHubDown = errors.New("no hub answers")

// remoteEvents pages through the running hub's /api/events (or reads
// /api/counts) at addr.
func remoteEvents(ctx context.Context, cfg *hub.Config, params url.Values, counts bool, interval time.Duration, zone func(string) *time.Location, out eventSink) error {
	api, err := hub.NewAPIClient(cfg)
	if errors.Is(err, os.ErrNotExist) {
		// No CA yet: no hub has ever run here to answer.
		return fmt.Errorf("%w: %w", errHubDown, err)
	}
	if err != nil {
		return err
	}
	base := api.Base
	first := true
	get := func(path string, v url.Values, dst any) error {
		resp, err := api.Get(ctx, path, v)
		if err != nil && first && ctx.Err() == nil && isConnRefused(err) {
			return fmt.Errorf("%w at %s: %w", errHubDown, base, err)
		}
		if err != nil {
			return fmt.Errorf("ask the running hub at %s: %w", base, err)
		}
		first = false
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
			hint := ""
			if resp.StatusCode == http.StatusUnauthorized {
				hint = fmt.Sprintf(" (run this on the hub's machine as the hub's user, which can read %s)", hub.APITokenFile(cfg.DataDir))
			}
			return fmt.Errorf("the running hub at %s: %s: %s%s", base, resp.Status, bytes.TrimSpace(msg), hint)
		}
		if err := json.NewDecoder(resp.Body).Decode(dst); err != nil {
			return fmt.Errorf("the running hub at %s: read answer: %w", base, err)
		}
		return nil
	}
	if counts {
		params.Set("interval", interval.String())
		var page hub.CountsPage
		if err := get("/api/counts", params, &page); err != nil {
			return err
		}
		for _, c := range page.Counts {
			c.From, c.Until = c.From.In(zone(c.Site)), c.Until.In(zone(c.Site))
			if err := out.count(c); err != nil {
				return err
			}
		}
		return nil
	}
	params.Set("limit", strconv.Itoa(hub.MaxPage))
	for {
		var page hub.EventPage
		if err := get("/api/events", params, &page); err != nil {
			return err
		}
		for _, e := range page.Events {
			e.At, e.ReceivedAt = e.At.In(zone(e.Site)), e.ReceivedAt.In(zone(e.Site))
			if err := out.event(e); err != nil {
				return err
			}
		}
		if page.Next == "" {
			return nil
		}
		params.Set("cursor", page.Next)
	}
}

// isConnRefused reports whether err is a failure to connect at all (no hub
// listens), rather than a hub that answered badly or a TLS failure.
func isConnRefused(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}
