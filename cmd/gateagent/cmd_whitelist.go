package main

import (
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/mynagate/mynagate/offline/cardkey"
	"github.com/mynagate/mynagate/offline/certcheck"
	"github.com/mynagate/mynagate/offline/crl"
	"github.com/mynagate/mynagate/offline/whitelist"
)

func init() {
	register("whitelist import", "replace the whitelist with a CSV file (card keys computed with the HSM or a demo secret)", whitelistImportCmd)
	register("whitelist stats", "show the whitelist's version, entries, revocations and size", whitelistStatsCmd)
	register("whitelist lookup", "look up one card by card key, or by issuer key id and serial", whitelistLookupCmd)
	register("whitelist revoke", "add card keys to the revocation set at once (until the next hub snapshot)", whitelistRevokeCmd)
}

const defaultWhitelistDB = "/var/lib/mynagate/whitelist.db"

type importResult struct {
	whitelist.ImportStats
	DB      string  `json:"db"`
	File    string  `json:"file"`
	Seconds float64 `json:"seconds"`
}

func whitelistImportCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("gateagent whitelist import", flag.ContinueOnError)
	fs.SetOutput(stderr)
	db := fs.String("db", defaultWhitelistDB, "whitelist database file")
	secretFile := fs.String("secret-file", "", "card-key secret file: FOR DEMOS ONLY (use --hsm-token on a gate)")
	hf := addHSMFlags(fs)
	asJSON := fs.Bool("json", false, "print one JSON object")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: gateagent whitelist import [flags] FILE.csv\n\nThe CSV header is issuer_key_id,serial,service_id,kind,valid_from,valid_until,zones,seat,group\n(optional daily_from,daily_until). The file replaces the whole list; a bad row refuses it all.\n\nflags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errors.New("give exactly one CSV file")
	}
	keyer, done, err := hf.keyer(*secretFile)
	if err != nil {
		return err
	}
	defer done()
	f, err := os.Open(fs.Arg(0))
	if err != nil {
		return err
	}
	defer f.Close()
	s, err := whitelist.Open(*db, whitelist.Options{})
	if err != nil {
		return err
	}
	defer s.Close()

	start := time.Now()
	var progress func(int)
	if isTerminal(stderr) && !*asJSON {
		progress = progressBar(stderr, f)
	}
	st, err := s.ImportCSV(f, keyer, progress)
	if progress != nil {
		fmt.Fprintln(stderr)
	}
	if err != nil {
		return err
	}
	res := importResult{ImportStats: st, DB: *db, File: fs.Arg(0), Seconds: time.Since(start).Seconds()}
	text := fmt.Sprintf("imported %d entries from %s into %s: version %d (replaced %d entries) in %.1f s",
		st.Rows, res.File, res.DB, st.Version, st.Previous, res.Seconds)
	return printer{w: stdout, json: *asJSON}.emit(res, text)
}

// isTerminal reports whether w is a terminal, where a progress bar helps; in
// a pipe or a log file it would be noise.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// progressBar draws rows read, and the share of the file read when its size is
// known, on one terminal line.
func progressBar(w io.Writer, f *os.File) func(int) {
	var size int64
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
		size = fi.Size()
	}
	return func(n int) {
		if size == 0 {
			fmt.Fprintf(w, "\rreading: %d rows", n)
			return
		}
		pos, _ := f.Seek(0, io.SeekCurrent)
		frac := float64(pos) / float64(size)
		const width = 30
		bar := strings.Repeat("#", int(frac*width)) + strings.Repeat(".", width-int(frac*width))
		fmt.Fprintf(w, "\rreading [%s] %3.0f%% %d rows", bar, frac*100, n)
	}
}

type statsResult struct {
	whitelist.Stats
	BytesPerEntry float64    `json:"bytes_per_entry"`
	CRLs          []crlState `json:"crls,omitempty"`
}

// crlState is one applied CRL in whitelist stats.
type crlState struct {
	whitelist.AppliedCRL
	Stale bool `json:"stale"`
}

func whitelistStatsCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("gateagent whitelist stats", flag.ContinueOnError)
	fs.SetOutput(stderr)
	db := fs.String("db", defaultWhitelistDB, "whitelist database file")
	asJSON := fs.Bool("json", false, "print one JSON object")
	if err := fs.Parse(args); err != nil {
		return err
	}
	s, err := whitelist.Open(*db, whitelist.Options{ReadOnly: true})
	if err != nil {
		return err
	}
	defer s.Close()
	st, err := s.Stats()
	if err != nil {
		return err
	}
	applied := "never"
	if !st.AppliedAt.IsZero() {
		applied = fmt.Sprintf("%s (%s ago)", st.AppliedAt.Format(time.RFC3339), time.Since(st.AppliedAt).Round(time.Second))
	}
	text := fmt.Sprintf("db          %s\nversion     %d\napplied at  %s\nentries     %d\nrevoked     %d\nfile size   %d bytes (%.1f bytes per entry; %d bytes in use)",
		st.Path, st.Version, applied, st.Entries, st.Revoked, st.FileSize, st.BytesPerEntry(), st.DataSize)
	crls, err := s.CRLs()
	if err != nil {
		return err
	}
	res := statsResult{Stats: st, BytesPerEntry: st.BytesPerEntry()}
	for _, c := range crls {
		cs := crlState{AppliedCRL: c, Stale: c.Stale(time.Now())}
		res.CRLs = append(res.CRLs, cs)
		verdict := "current"
		if cs.Stale {
			verdict = "STALE: get the current CRL"
		}
		text += fmt.Sprintf("\ncrl         %s: number %s, %d entries, next update %s (%s)", c.Issuer, orDash(c.Number), c.Entries, c.NextUpdate.Format(time.RFC3339), verdict)
	}
	return printer{w: stdout, json: *asJSON}.emit(res, text)
}

type lookupResult struct {
	CardKey    string   `json:"card_key"`
	Listed     bool     `json:"listed"`
	Revoked    bool     `json:"revoked"`
	ServiceID  string   `json:"service_id,omitempty"`
	Kind       string   `json:"kind,omitempty"`
	ValidFrom  string   `json:"valid_from,omitempty"`
	ValidUntil string   `json:"valid_until,omitempty"`
	Daily      string   `json:"daily,omitempty"`
	Zones      []string `json:"zones,omitempty"`
	Seat       string   `json:"seat,omitempty"`
	Group      string   `json:"group,omitempty"`
	Version    uint64   `json:"list_version"`
}

func whitelistLookupCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("gateagent whitelist lookup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	db := fs.String("db", defaultWhitelistDB, "whitelist database file")
	cardKey := fs.String("card-key", "", "card key, 64 hex digits")
	akid := fs.String("issuer-key-id", "", "certificate authority key identifier, hex (with --serial)")
	serial := fs.String("serial", "", "certificate serial number, hex (with --issuer-key-id)")
	secretFile := fs.String("secret-file", "", "card-key secret file: FOR DEMOS ONLY (use --hsm-token on a gate)")
	hf := addHSMFlags(fs)
	asJSON := fs.Bool("json", false, "print one JSON object")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var k cardkey.Key
	switch {
	case *cardKey != "" && (*akid != "" || *serial != ""):
		return errors.New("give --card-key, or --issuer-key-id with --serial, not both")
	case *cardKey != "":
		var err error
		if k, err = cardkey.ParseKey(*cardKey); err != nil {
			return err
		}
	case *akid != "" && *serial != "":
		a, err1 := hex.DecodeString(*akid)
		sn, err2 := hex.DecodeString(strings.Repeat("0", len(*serial)%2) + *serial)
		if err := errors.Join(err1, err2); err != nil {
			return fmt.Errorf("--issuer-key-id and --serial take plain hex: %w", err)
		}
		keyer, done, err := hf.keyer(*secretFile)
		if err != nil {
			return err
		}
		defer done()
		if k, err = keyer.CardKey(a, sn); err != nil {
			return err
		}
	default:
		return errors.New("give --card-key HEX, or --issuer-key-id HEX and --serial HEX with --hsm-token or --secret-file")
	}
	s, err := whitelist.Open(*db, whitelist.Options{ReadOnly: true})
	if err != nil {
		return err
	}
	defer s.Close()
	e, listed, err := s.Lookup(k)
	if err != nil {
		return err
	}
	revoked, err := s.Revoked(k)
	if err != nil {
		return err
	}
	res := lookupResult{CardKey: k.String(), Listed: listed, Revoked: revoked, Version: s.Version()}
	if listed {
		res.ServiceID, res.Kind, res.Zones, res.Seat, res.Group = e.ServiceID, e.Kind, e.Zones, e.Seat, e.Group
		if !e.ValidFrom.IsZero() {
			res.ValidFrom = e.ValidFrom.Format(time.RFC3339)
		}
		if !e.ValidUntil.IsZero() {
			res.ValidUntil = e.ValidUntil.Format(time.RFC3339)
		}
		if !e.Daily.AllDay() {
			res.Daily = e.Daily.String()
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "card key    %s\nlisted      %v\nrevoked     %v\nversion     %d", res.CardKey, listed, revoked, res.Version)
	if listed {
		fmt.Fprintf(&b, "\nservice id  %s\nkind        %s\nvalid       %s .. %s\ndaily       %s\nzones       %s\nseat        %s\ngroup       %s",
			res.ServiceID, res.Kind, orDash(res.ValidFrom), orDash(res.ValidUntil), e.Daily, orDash(strings.Join(res.Zones, ";")), orDash(res.Seat), orDash(res.Group))
	}
	return printer{w: stdout, json: *asJSON}.emit(res, b.String())
}

func whitelistRevokeCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("gateagent whitelist revoke", flag.ContinueOnError)
	fs.SetOutput(stderr)
	db := fs.String("db", defaultWhitelistDB, "whitelist database file")
	crlFile := fs.String("crl", "", "X.509 CRL file (DER or PEM) of a pinned CA: revoke every certificate it lists")
	var roots stringList
	fs.Var(&roots, "roots", "pinned root PEM file that issued the CRL (repeatable; with --crl)")
	secretFile := fs.String("secret-file", "", "card-key secret file: FOR DEMOS ONLY (use --hsm-token on a gate; with --crl)")
	hf := addHSMFlags(fs)
	asJSON := fs.Bool("json", false, "print one JSON object per card, or one for the CRL")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: gateagent whitelist revoke [--db FILE] CARDKEY...\n       gateagent whitelist revoke [--db FILE] --crl FILE --roots ROOT.pem (--hsm-token T --hsm-pin-file F | --secret-file F)\n\nRevokes at this gate only, until the next snapshot from the hub: tell the hub too\n(gatehub revoke, gatehub revoke import).\n\nflags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *crlFile != "" {
		if fs.NArg() != 0 {
			return errors.New("give --crl FILE or card keys, not both")
		}
		return revokeCRL(*db, *crlFile, roots, *secretFile, hf, printer{w: stdout, json: *asJSON}, stderr)
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return errors.New("give one or more card keys, or --crl FILE")
	}
	keys := make([]cardkey.Key, fs.NArg())
	for i, a := range fs.Args() {
		var err error
		if keys[i], err = cardkey.ParseKey(a); err != nil {
			return err
		}
	}
	s, err := whitelist.Open(*db, whitelist.Options{})
	if err != nil {
		return err
	}
	defer s.Close()
	if err := s.AddRevocations(keys...); err != nil {
		return err
	}
	out := printer{w: stdout, json: *asJSON}
	for _, k := range keys {
		if err := out.emit(map[string]any{"card_key": k.String(), "revoked": true}, "revoked "+k.String()); err != nil {
			return err
		}
	}
	return nil
}

// crlResult is what whitelist revoke --crl prints.
type crlResult struct {
	whitelist.AppliedCRL
	DB      string  `json:"db"`
	File    string  `json:"file"`
	Stale   bool    `json:"stale"`
	Seconds float64 `json:"seconds"`
}

// revokeCRL checks a CRL against the pinned roots and applies its card keys.
func revokeCRL(db, file string, roots []string, secretFile string, hf *hsmFlags, out printer, stderr io.Writer) error {
	if len(roots) == 0 {
		return errors.New("--crl needs --roots ROOT.pem: the CRL's signature is checked against a pinned root, never against a CA it names")
	}
	r, err := certcheck.LoadRoots(roots...)
	if err != nil {
		return err
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("read CRL: %w", err)
	}
	keyer, done, err := hf.keyer(secretFile)
	if err != nil {
		return err
	}
	defer done()
	start := time.Now()
	l, err := crl.Check(b, r)
	if err != nil {
		return err
	}
	keys, err := l.Keys(keyer)
	if err != nil {
		return err
	}
	s, err := whitelist.Open(db, whitelist.Options{})
	if err != nil {
		return err
	}
	defer s.Close()
	applied, err := s.ApplyCRL(l.Info, keys)
	if err != nil {
		return err
	}
	res := crlResult{AppliedCRL: applied, DB: db, File: file, Stale: l.Stale(time.Now()), Seconds: time.Since(start).Seconds()}
	if res.Stale {
		fmt.Fprintf(stderr, "WARNING: this CRL was due to be replaced at %s; get the current one\n", l.NextUpdate.Format(time.RFC3339))
	}
	return out.emit(res, fmt.Sprintf("CRL of %s (number %s, issued %s, next update %s): %d entries, %d newly revoked in %s, in %.2f s",
		l.Issuer, orDash(l.Number), l.ThisUpdate.Format(time.RFC3339), l.NextUpdate.Format(time.RFC3339), l.Entries, applied.Added, db, res.Seconds))
}
