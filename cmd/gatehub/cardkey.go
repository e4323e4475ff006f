package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/mynagate/mynagate/hub"
	"github.com/mynagate/mynagate/offline/cardkey"
)

// enrolmentFiles collects repeated --enrolment flags.
type enrolmentFiles []string

func (e *enrolmentFiles) String() string     { return strings.Join(*e, ",") }
func (e *enrolmentFiles) Set(v string) error { *e = append(*e, v); return nil }

// rekeyResult is what cardkey rekey and finish print.
type rekeyResult struct {
	Site string `json:"site"`
	List string `json:"list"`
	hub.RekeyResult
	// FromEnrolment and FromEvents count the pairs each source gave.
	FromEnrolment int `json:"pairs_from_enrolment"`
	FromEvents    int `json:"pairs_from_events"`
}

func cmdCardKeyRekey(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return rekeyCmd(ctx, "cardkey rekey", false, args, stdout, stderr)
}

func cmdCardKeyFinish(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return rekeyCmd(ctx, "cardkey finish", true, args, stdout, stderr)
}

// rekeyCmd carries a site's list over to the next card-key secret (rekey),
// and at the end of the rotation removes what is keyed by the current one
// (finish). Both learn each card's pair of keys from the enrolment files given
// (rows by issuer key id and serial, keyed under both secrets) and from the
// site's events that gates in the rotation window sent with card_next.
func rekeyCmd(ctx context.Context, name string, finish bool, args []string, stdout, stderr io.Writer) error {
	var c common
	fs := newFlags(name, &c, stderr)
	var files enrolmentFiles
	fs.Var(&files, "enrolment", "an enrolment CSV (as for enroll import) whose rows by issuer_key_id and serial give their cards' next keys (repeatable)")
	noEvents := fs.Bool("no-events", false, "do not learn pairs from the site's events (card and card_next)")
	drop := false
	if finish {
		fs.BoolVar(&drop, "drop-unpaired", false, "also remove entries and revocations for which no next key is known (their cards are not found once the gates drop the current secret)")
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q; give enrolment files with --enrolment", fs.Arg(0))
	}
	cfg, err := c.load(true)
	if err != nil {
		return err
	}
	keys, err := hub.OpenKeys(cfg, logger(cfg, stderr))
	if err != nil {
		return err
	}
	defer keys.Close()
	cur, err := keys.CardKeyer()
	if err != nil {
		return err
	}
	next, err := keys.NextCardKeyer()
	if err != nil {
		return err
	}
	res := rekeyResult{Site: c.site, List: c.list}
	pairs := map[cardkey.Key]cardkey.Key{}
	for _, f := range files {
		p, err := enrolmentPairs(ctx, f, cur, next)
		if err != nil {
			return err
		}
		res.FromEnrolment += len(p)
		for k, v := range p {
			pairs[k] = v
		}
	}
	if !*noEvents {
		p, err := eventPairs(ctx, cfg, c.site)
		if err != nil {
			return err
		}
		res.FromEvents = len(p)
		for k, v := range p {
			pairs[k] = v
		}
	}
	m, err := hub.OpenMaster(filepath.Join(cfg.DataDir, "lists.db"), logger(cfg, stderr))
	if err != nil {
		return err
	}
	defer m.Close()
	if res.RekeyResult, err = m.Rekey(c.site, c.list, pairs, finish, drop); err != nil {
		return err
	}
	text := fmt.Sprintf("%s/%s: %d pairs (%d from enrolment files, %d from events); %d entries and %d revocations carried over to the next secret; %d entries and %d revocations have no next key yet",
		c.site, c.list, res.Pairs, res.FromEnrolment, res.FromEvents, res.Rekeyed, res.Carried, res.Unpaired, res.UnpairedRevoked)
	if finish {
		text += fmt.Sprintf("; removed %d entries and %d revocations under the current secret; publish, then make the next secret current at the hub and the gates", res.Dropped, res.DroppedRevoked)
	} else {
		text += "; run gatehub publish to send them"
	}
	return printOut(stdout, c.json, res, text)
}

// enrolmentPairs keys an enrolment file's rows under both secrets.
func enrolmentPairs(ctx context.Context, path string, cur, next cardkey.Keyer) (map[cardkey.Key]cardkey.Key, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open enrolment file: %w", err)
	}
	defer f.Close()
	pk := hub.NewPairKeyer(cur, next)
	if _, err := hub.ParseEnrolCSV(ctx, f, pk, nil); err != nil {
		return nil, fmt.Errorf("enrolment file %s: %w", path, err)
	}
	return pk.Pairs(), nil
}

// eventPairs reads the pairs of keys that the site's gates reported in the
// rotation window: from the running hub, else from hub.db.
func eventPairs(ctx context.Context, cfg *hub.Config, site string) (map[cardkey.Key]cardkey.Key, error) {
	sink := &pairSink{pairs: map[cardkey.Key]cardkey.Key{}}
	params := url.Values{"site": {site}}
	if cfg.HTTP != "" {
		err := remoteEvents(ctx, cfg, params, false, 0, cfg.Zone, sink)
		if err == nil {
			return sink.pairs, nil
		}
		if !errors.Is(err, errHubDown) {
			return nil, err
		}
	}
	q, err := hub.ParseEventQuery(params, cfg.Zone(site))
	if err != nil {
		return nil, err
	}
	f, err := hub.OpenEventFile(filepath.Join(cfg.DataDir, "hub.db"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if _, err := hub.QueryEvents(f, q, cfg.Zone, sink.event); err != nil {
		return nil, err
	}
	return sink.pairs, nil
}

// pairSink collects (card, card_next) pairs from events.
type pairSink struct {
	pairs map[cardkey.Key]cardkey.Key
}

func (s *pairSink) event(r hub.EventRecord) error {
	if r.Card == "" || r.CardNext == "" {
		return nil
	}
	c, err := cardkey.ParseKey(r.Card)
	if err != nil {
		return fmt.Errorf("event %s: card: %w", r.ID, err)
	}
	n, err := cardkey.ParseKey(r.CardNext)
	if err != nil {
		return fmt.Errorf("event %s: card_next: %w", r.ID, err)
	}
	s.pairs[c] = n
	return nil
}

func (s *pairSink) count(hub.GateCount) error { return nil }
