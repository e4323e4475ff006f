package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/mynagate/mynagate/hub"
	"github.com/mynagate/mynagate/offline/cardkey"
	"github.com/mynagate/mynagate/sync/lists"
)

// common holds the flags most commands share.
type common struct {
	config, site, list string
	json               bool
}

func newFlags(name string, c *common, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("gatehub "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.config, "config", "/etc/mynagate/gatehub.json", "hub configuration file")
	fs.StringVar(&c.site, "site", "", "site the list is for")
	fs.StringVar(&c.list, "list", "whitelist", "list name")
	fs.BoolVar(&c.json, "json", false, "print one JSON object per line")
	return fs
}

func (c *common) load(needSite bool) (*hub.Config, error) {
	if needSite && c.site == "" {
		return nil, errors.New("--site is required")
	}
	return hub.LoadConfig(c.config)
}

func logger(cfg *hub.Config, w io.Writer) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(cfg.Log))
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: lvl}))
}

// open loads the config and opens the list master (lists.db) that every list
// command works on; the caller closes the master.
func (c *common) open(needSite bool, stderr io.Writer) (*hub.Config, *hub.Master, error) {
	cfg, err := c.load(needSite)
	if err != nil {
		return nil, nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("data dir: %w", err)
	}
	m, err := hub.OpenMaster(filepath.Join(cfg.DataDir, "lists.db"), logger(cfg, stderr))
	if err != nil {
		return nil, nil, err
	}
	return cfg, m, nil
}

func printOut(w io.Writer, asJSON bool, v any, human string) error {
	if asJSON {
		return json.NewEncoder(w).Encode(v)
	}
	_, err := fmt.Fprintln(w, human)
	return err
}

func cmdRun(ctx context.Context, args []string, _, stderr io.Writer) error {
	var c common
	fs := newFlags("run", &c, stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := c.load(false)
	if err != nil {
		return err
	}
	log := logger(cfg, stderr)
	h, err := hub.New(cfg, log)
	if err != nil {
		return err
	}
	log.Info("gatehub: running", "broker", cfg.BrokerURL(), "data_dir", cfg.DataDir)
	return h.Run(ctx)
}

func cmdKeygen(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("gatehub keygen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "file to write the private signing key to (PKCS#8 PEM, mode 0600)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" {
		return errors.New("--out is required")
	}
	pemPub, err := writeSigningKey(*out)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "# signing key written to %s; pin this public key on every gate:\n%s", *out, pemPub)
	return nil
}

// writeSigningKey creates a new Ed25519 list-signing key at path (owner-only,
// never overwriting a file) and returns its public key in PEM.
func writeSigningKey(path string) ([]byte, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	pemPriv, err := lists.MarshalPrivateKey(priv)
	if err != nil {
		return nil, err
	}
	pemPub, err := lists.MarshalPublicKey(pub)
	if err != nil {
		return nil, err
	}
	if err := writeNew(path, pemPriv, 0o600); err != nil {
		return nil, fmt.Errorf("write key: %w; an existing key is never overwritten", err)
	}
	return pemPub, nil
}

// writeNew writes a file that must not exist yet, with mode perm.
func writeNew(path string, b []byte, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func cmdEnrollImport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c common
	fs := newFlags("enroll import", &c, stderr)
	replace := fs.Bool("replace", false, "make the list exactly the file (remove entries not in it)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("give one CSV file")
	}
	cfg, err := c.load(true)
	if err != nil {
		return err
	}
	// lists.db is opened only by the import's batches, so that other list
	// commands run meanwhile.
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	// Rows by issuer key id and serial need the card-key secret; rows by
	// card key do not, and ParseEnrolCSV says so when it is missing.
	keys, err := hub.OpenKeys(cfg, logger(cfg, stderr))
	if err != nil {
		return err
	}
	defer keys.Close()
	keyer, err := keys.CardKeyer()
	if err != nil && !errors.Is(err, hub.ErrNoKey) {
		return err
	}
	f, err := os.Open(fs.Arg(0))
	if err != nil {
		return fmt.Errorf("open enrolment file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("open enrolment file: %w", err)
	}
	bar := newProgress(stderr)
	bar.start("reading", "bytes")
	e, err := hub.ParseEnrolCSV(ctx, f, keyer, func(n int64) { bar.update(n, st.Size()) })
	bar.end()
	if err != nil {
		return err
	}
	bar.start("importing", "rows")
	res, err := hub.ImportEnrolment(ctx, filepath.Join(cfg.DataDir, "lists.db"), c.site, c.list, e, hub.ImportOptions{
		Replace:  *replace,
		Progress: func(done, total int) { bar.update(int64(done), int64(total)) },
		Log:      logger(cfg, stderr),
	})
	bar.end()
	if err != nil {
		return err
	}
	return printOut(stdout, c.json, res, fmt.Sprintf("%s/%s: %d rows (%s): %d added, %d updated, %d unchanged, %d removed; run gatehub publish to send them",
		c.site, c.list, e.Len(), e.Encoding, res.Added, res.Updated, res.Unchanged, res.Removed))
}

func cmdRevoke(_ context.Context, args []string, stdout, stderr io.Writer) error {
	var c common
	fs := newFlags("revoke", &c, stderr)
	undo := fs.Bool("undo", false, "remove the card keys from the revocation set")
	byService := fs.Bool("service-id", false, "the arguments are service ids (ticket or resident numbers): revoke every card enrolled under them")
	if err := fs.Parse(args); err != nil {
		return err
	}
	_, m, err := c.open(true, stderr)
	if err != nil {
		return err
	}
	defer m.Close()
	if fs.NArg() == 0 {
		if *byService {
			return errors.New("give at least one service id")
		}
		return errors.New("give at least one card key (64 hex digits), or service ids with --service-id")
	}
	var keys []cardkey.Key
	if *byService {
		found, err := m.CardsByService(c.site, c.list, fs.Args())
		if err != nil {
			return err
		}
		for _, id := range fs.Args() {
			keys = append(keys, found[id]...)
		}
	} else {
		for _, a := range fs.Args() {
			k, err := cardkey.ParseKey(a)
			if err != nil {
				return err
			}
			keys = append(keys, k)
		}
	}
	if err := m.Revoke(c.site, c.list, keys, *undo); err != nil {
		return err
	}
	verb := "revoked"
	if *undo {
		verb = "unrevoked"
	}
	return printOut(stdout, c.json, map[string]any{"site": c.site, "list": c.list, verb: len(keys)},
		fmt.Sprintf("%s/%s: %d card keys %s; run gatehub publish to send them", c.site, c.list, len(keys), verb))
}

func cmdPublish(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c common
	fs := newFlags("publish", &c, stderr)
	snapshot := fs.Bool("snapshot", false, "publish a full snapshot even if a delta would do")
	if err := fs.Parse(args); err != nil {
		return err
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
	p, err := hub.DialPublisher(cfg)
	if err != nil {
		return err
	}
	defer p.Close()
	man, err := m.Publish(ctx, p, key, c.site, c.list, hub.PublishOptions{Prefix: cfg.Prefix, Snapshot: *snapshot, Validity: cfg.Validity()})
	if err != nil {
		return err
	}
	if man == nil {
		return printOut(stdout, c.json, map[string]any{"site": c.site, "list": c.list, "published": false},
			fmt.Sprintf("%s/%s: nothing changed since the last publish", c.site, c.list))
	}
	return printOut(stdout, c.json, man, fmt.Sprintf("%s/%s: published %s v%d (%d puts, %d deletes, %d revoke, %d unrevoke, %d chunks)",
		c.site, c.list, man.Kind, man.Version, man.Puts, man.Deletes, man.Revoke, man.Unrevoke, len(man.Chunks)))
}

func cmdLists(_ context.Context, args []string, stdout, stderr io.Writer) error {
	var c common
	fs := newFlags("lists", &c, stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	_, m, err := c.open(true, stderr)
	if err != nil {
		return err
	}
	defer m.Close()
	st, err := m.State(c.site, c.list)
	if err != nil {
		return err
	}
	crls, err := m.CRLs(c.site, c.list)
	if err != nil {
		return err
	}
	text := fmt.Sprintf("%s/%s: %d entries, %d revoked, %d changes pending; version %d (snapshot %d, %d deltas retained), published %s",
		st.Site, st.List, st.Entries, st.Revoked, st.Pending, st.Version, st.SnapshotVersion, st.RetainedDeltas, st.PublishedAt.Format("2006-01-02 15:04:05Z07:00"))
	if st.SnapshotNext {
		text += "; an import changed most of the list: the next publish sends a snapshot"
	}
	for _, cr := range crls {
		stale := "current"
		if cr.Stale(time.Now()) {
			stale = "STALE: import the current CRL"
		}
		text += fmt.Sprintf("\n  CRL of %s: %d entries, next update %s (%s)", cr.Issuer, cr.Entries, cr.NextUpdate.Format(time.RFC3339), stale)
	}
	if c.json {
		return printOut(stdout, true, struct {
			hub.ListState
			CRLs []hub.ImportedCRL `json:"crls,omitempty"`
		}{st, crls}, "")
	}
	return printOut(stdout, false, nil, text)
}
