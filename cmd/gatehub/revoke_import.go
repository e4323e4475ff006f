package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/mynagate/mynagate/hub"
	"github.com/mynagate/mynagate/offline/certcheck"
	"github.com/mynagate/mynagate/offline/crl"
)

// rootFiles is the repeatable --roots flag.
type rootFiles []string

func (r *rootFiles) String() string     { return strings.Join(*r, ",") }
func (r *rootFiles) Set(v string) error { *r = append(*r, v); return nil }

// crlImportResult is what revoke import prints.
type crlImportResult struct {
	hub.ImportedCRL
	Site  string `json:"site"`
	List  string `json:"list"`
	File  string `json:"file"`
	Stale bool   `json:"stale"`
}

func cmdRevokeImport(_ context.Context, args []string, stdout, stderr io.Writer) error {
	var c common
	fs := newFlags("revoke import", &c, stderr)
	var roots rootFiles
	fs.Var(&roots, "roots", "pinned root PEM file that issued the CRL (repeatable)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: gatehub revoke import --config FILE --site SITE [--list whitelist] --roots ROOT.pem CRLFILE\n\nRevokes every certificate an X.509 CRL (DER or PEM) lists, by card key; takes effect\nat the next gatehub publish.\n\nflags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errors.New("give one CRL file")
	}
	if len(roots) == 0 {
		return errors.New("--roots ROOT.pem is required: the CRL's signature is checked against a pinned root, never against a CA it names")
	}
	r, err := certcheck.LoadRoots(roots...)
	if err != nil {
		return err
	}
	cfg, m, err := c.open(true, stderr)
	if err != nil {
		return err
	}
	defer m.Close()
	hubKeys, err := hub.OpenKeys(cfg, logger(cfg, stderr))
	if err != nil {
		return err
	}
	defer hubKeys.Close()
	// The hub needs the card-key secret to turn serials into card keys.
	keyer, err := hubKeys.CardKeyer()
	if err != nil {
		return err
	}
	b, err := os.ReadFile(fs.Arg(0))
	if err != nil {
		return fmt.Errorf("read CRL: %w", err)
	}
	l, err := crl.Check(b, r)
	if err != nil {
		return err
	}
	// During a card-key rotation every certificate is revoked under both
	// secrets, so that it stays revoked once the gates drop the current one.
	var pairs *hub.PairKeyer
	if next, err := hubKeys.NextCardKeyer(); err == nil {
		pairs = hub.NewPairKeyer(keyer, next)
		keyer = pairs
	} else if !errors.Is(err, hub.ErrNoKey) {
		return err
	}
	keys, err := l.Keys(keyer)
	if err != nil {
		return err
	}
	if pairs != nil {
		for _, n := range pairs.Pairs() {
			keys = append(keys, n)
		}
	}
	imp, err := m.ImportCRL(c.site, c.list, l.Info, keys)
	if err != nil {
		return err
	}
	res := crlImportResult{ImportedCRL: imp, Site: c.site, List: c.list, File: fs.Arg(0), Stale: l.Stale(time.Now())}
	if res.Stale {
		fmt.Fprintf(stderr, "WARNING: this CRL was due to be replaced at %s; get the current one\n", l.NextUpdate.Format(time.RFC3339))
	}
	number := l.Number
	if number == "" {
		number = "-"
	}
	return printOut(stdout, c.json, res, fmt.Sprintf("%s/%s: CRL of %s (number %s, next update %s): %d entries, %d newly revoked; run gatehub publish to send them",
		c.site, c.list, l.Issuer, number, l.NextUpdate.Format(time.RFC3339), l.Entries, imp.Added))
}
