package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/mynagate/mynagate/hub"
	"github.com/mynagate/mynagate/sync/gateconfig"
)

// gateOwn is the flag value that drops an override: the gates follow their
// own configuration again.
const gateOwn = "gate"

func configFlags(name string, c *common, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("gatehub "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.config, "config", "/etc/mynagate/gatehub.json", "hub configuration file")
	fs.StringVar(&c.site, "site", "", "site whose gates the config is for")
	fs.BoolVar(&c.json, "json", false, "print one JSON object per line")
	return fs
}

func cmdConfigSet(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c common
	fs := configFlags("config set", &c, stderr)
	emergency := fs.Bool("emergency", false, "declare (true) or end (false) an emergency: the gates accept their fallback levels too")
	antiPassback := fs.String("anti-passback", "", "true, false, or gate to follow each gate's own setting")
	accept := fs.String("accept", "", "levels accepted normally, comma-separated (cert, pin, pinless), or gate")
	fallback := fs.String("fallback", "", "levels accepted during an emergency, comma-separated, none, or gate")
	lasts := fs.Duration("for", 0, fmt.Sprintf("how long a declared emergency lasts unless renewed (set again); default %s, at most %s", defaultEmergency, maxEmergency))
	note := fs.String("note", "", "one line for the gates' logs: who changes what, and why (not kept for the next change)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("unexpected arguments %q; give values as --flag=value", fs.Args())
	}
	cfg, m, err := c.open(true, stderr)
	if err != nil {
		return err
	}
	defer m.Close()
	keys, err := hub.OpenKeys(cfg, logger(cfg, stderr))
	if err != nil {
		return err
	}
	defer keys.Close()
	key, err := keys.Signer()
	if err != nil {
		return err
	}
	cur, _, err := m.Config(c.site)
	if err != nil {
		return err
	}
	// Flags not given keep the site's current config; the note is per change.
	doc := cur.Doc
	doc.Note = *note
	var errs []error
	fs.Visit(func(f *flag.Flag) {
		var err error
		switch f.Name {
		case "emergency":
			doc.Emergency = *emergency
		case "anti-passback":
			doc.AntiPassback, err = parseOverride(*antiPassback)
		case "accept":
			doc.Accept, err = parseLevels(*accept, false)
		case "fallback":
			doc.Fallback, err = parseLevels(*fallback, true)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("--%s: %w", f.Name, err))
		}
	})
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if err := emergencyEnd(&doc, fs, *lasts, time.Now()); err != nil {
		return err
	}
	p, err := hub.DialPublisher(cfg)
	if err != nil {
		return err
	}
	defer p.Close()
	if _, err := m.PublishConfig(ctx, p, key, c.site, doc, hub.PublishOptions{Prefix: cfg.Prefix, Validity: cfg.Validity()}); err != nil {
		return err
	}
	sc, _, err := m.Config(c.site)
	if err != nil {
		return err
	}
	if w := hub.EmergencyWarning(sc.Doc); w != "" {
		fmt.Fprintln(stderr, "gatehub config set: WARNING: "+w)
	}
	return printOut(stdout, c.json, sc, describeConfig(sc, cfg.Zone(c.site)))
}

// An emergency lasts defaultEmergency unless --for says otherwise, and at most
// maxEmergency: one left declared by mistake, or replayed, ends by itself.
const (
	defaultEmergency = 24 * time.Hour
	maxEmergency     = 30 * 24 * time.Hour
)

// emergencyEnd sets doc's emergency end: now plus --for (or the default) when
// --emergency=true or --for is given, none when the emergency ends; other
// changes keep the end in force.
func emergencyEnd(doc *gateconfig.Doc, fs *flag.FlagSet, lasts time.Duration, now time.Time) error {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	switch {
	case !doc.Emergency && given["for"]:
		return errors.New("--for: no emergency is declared; give --emergency=true with it")
	case !doc.Emergency:
		doc.EmergencyUntil = nil
		return nil
	case given["for"] && (lasts <= 0 || lasts > maxEmergency):
		return fmt.Errorf("--for %s: give a duration from 1m to %s, such as 12h", lasts, maxEmergency)
	case !given["for"] && !given["emergency"] && doc.EmergencyUntil != nil:
		return nil // another change: the emergency keeps its end
	case !given["for"]:
		lasts = defaultEmergency
	}
	end := now.UTC().Add(lasts).Truncate(time.Second)
	doc.EmergencyUntil = &end
	return nil
}

func cmdConfigShow(_ context.Context, args []string, stdout, stderr io.Writer) error {
	var c common
	fs := configFlags("config show", &c, stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, m, err := c.open(false, stderr)
	if err != nil {
		return err
	}
	defer m.Close()
	var all []hub.SiteConfig
	if c.site != "" {
		sc, ok, err := m.Config(c.site)
		if err != nil {
			return err
		}
		if !ok {
			sc.Site = c.site
		}
		all = append(all, sc)
	} else if all, err = m.Configs(); err != nil {
		return err
	}
	if len(all) == 0 && !c.json {
		_, err := fmt.Fprintln(stdout, "no site has a config from the hub; every gate follows its own")
		return err
	}
	for _, sc := range all {
		if err := printOut(stdout, c.json, sc, describeConfig(sc, cfg.Zone(sc.Site))); err != nil {
			return err
		}
	}
	return nil
}

// parseOverride reads true, false or gate (nil: the gate's own setting).
func parseOverride(s string) (*bool, error) {
	if s == gateOwn {
		return nil, nil
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		return nil, fmt.Errorf("%q: want true, false or %s", s, gateOwn)
	}
	return &b, nil
}

// parseLevels reads a comma-separated list of levels, gate (nil: the gate's
// own) or, when allowed, none (empty). The levels are checked when the
// document is.
func parseLevels(s string, noneOK bool) ([]string, error) {
	switch {
	case s == gateOwn:
		return nil, nil
	case s == "none" && noneOK:
		return []string{}, nil
	case s == "" || s == "none":
		return nil, fmt.Errorf("no level given; name at least one of cert, pin, pinless, or %s", gateOwn)
	}
	levels := strings.Split(s, ",")
	for i, l := range levels {
		levels[i] = strings.TrimSpace(l)
	}
	return levels, nil
}

// describeConfig is the human line for a site's config, its times in the
// site's zone.
func describeConfig(sc hub.SiteConfig, zone *time.Location) string {
	if sc.Version == 0 {
		return sc.Site + ": no config from the hub; its gates follow their own"
	}
	d := sc.Doc
	own := "each gate's own"
	em := "no emergency"
	switch {
	case d.Active(time.Now()):
		em = "EMERGENCY DECLARED until " + d.EmergencyUntil.In(zone).Format(time.RFC3339)
	case d.Emergency:
		em = "emergency LAPSED at " + d.EmergencyUntil.In(zone).Format(time.RFC3339) + " (renew with --emergency=true --for)"
	}
	ap := own
	if d.AntiPassback != nil {
		ap = map[bool]string{true: "on", false: "off"}[*d.AntiPassback]
	}
	levels := func(l []string) string {
		switch {
		case l == nil:
			return own
		case len(l) == 0:
			return "none"
		}
		return strings.Join(l, ",")
	}
	state := "published " + sc.PublishedAt.In(zone).Format("2006-01-02 15:04:05Z07:00")
	if !sc.Published {
		state = "NOT PUBLISHED: run gatehub config set --site " + sc.Site + " again"
	}
	s := fmt.Sprintf("%s: config v%d %s: %s; anti-passback %s; accept %s; fallback %s", sc.Site, sc.Version, state, em, ap, levels(d.Accept), levels(d.Fallback))
	if d.Note != "" {
		s += "; note " + strconv.Quote(d.Note)
	}
	if !sc.Expires.IsZero() {
		s += "; signed until " + sc.Expires.In(zone).Format(time.RFC3339)
	}
	return s
}
