package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mynagate/mynagate/gatebundle"
	"github.com/mynagate/mynagate/hub"
	"github.com/mynagate/mynagate/sync/gateconfig"
	"github.com/mynagate/mynagate/sync/lists"
)

// gateFlags are the flags of the gate commands.
type gateFlags struct {
	common
	gate string
}

func newGateFlags(name string, g *gateFlags, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("gatehub "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&g.config, "config", "/etc/mynagate/gatehub.json", "hub configuration file")
	fs.StringVar(&g.site, "site", "", "the gate's site")
	fs.StringVar(&g.gate, "gate", "", "the gate's name")
	fs.BoolVar(&g.json, "json", false, "print one JSON object per line")
	return fs
}

// addResult is what gate add did; --json prints it (never the password).
type addResult struct {
	Site            string            `json:"site"`
	Gate            string            `json:"gate"`
	Username        string            `json:"username"`
	ClientID        string            `json:"client_id"`
	Broker          string            `json:"broker"`
	Bundle          string            `json:"bundle"`
	MinListVersions map[string]uint64 `json:"min_list_versions"`
	Mosquitto       string            `json:"mosquitto_dir,omitempty"`
}

func cmdGateAdd(_ context.Context, args []string, stdout, stderr io.Writer) error {
	var g gateFlags
	fs := newGateFlags("gate add", &g, stderr)
	out := fs.String("out", "", "the bundle file to write (default SITE-GATE.bundle.json here); it holds the gate's password")
	enrols := fs.Bool("kiosk", false, "the gate is a kiosk or box office: the hub enrols the cards it binds into the site's whitelist")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if g.site == "" || g.gate == "" {
		return errors.New("--site and --gate are required")
	}
	cfg, err := hub.LoadConfig(g.config)
	if err != nil {
		return err
	}
	if *out == "" {
		*out = g.site + "-" + g.gate + ".bundle.json"
	}
	// Everything that can fail comes before the account is made, so that a
	// failure leaves nothing half-provisioned.
	if _, err := os.Lstat(*out); err == nil {
		return fmt.Errorf("%s exists; give another --out (a bundle is never overwritten)", *out)
	}
	broker, err := cfg.GateBrokerURL()
	if err != nil {
		return err
	}
	b := &gatebundle.Bundle{V: gatebundle.Version, Site: g.site, Gate: g.gate, Broker: broker, Prefix: cfg.Prefix,
		ClientID: hub.GateClientID(g.site, g.gate), Username: hub.GateUsername(g.site, g.gate)}
	if b.CAPEM, err = brokerCA(cfg); err != nil {
		return err
	}
	keys, err := hub.OpenKeys(cfg, logger(cfg, stderr))
	if err != nil {
		return err
	}
	defer keys.Close()
	if b.HubKeys, err = pinnedKeys(cfg, keys); err != nil {
		return err
	}
	if b.MinListVersions, err = publishedVersions(cfg, g.site, stderr); err != nil {
		return err
	}
	acct, pw, err := hub.AddGate(cfg.DataDir, g.site, g.gate, *enrols, time.Now())
	if err != nil {
		return err
	}
	b.Password, b.Created = pw, acct.Added
	res := addResult{Site: g.site, Gate: g.gate, Username: b.Username, ClientID: b.ClientID, Broker: broker, Bundle: *out, MinListVersions: b.MinListVersions}
	if cfg.Broker != "" {
		if err := hub.WriteMosquittoFiles(cfg); err != nil {
			return fmt.Errorf("%w; the gate is provisioned: run gatehub gate add again after fixing this, or revoke it", err)
		}
		res.Mosquitto = cfg.MosquittoDir
	}
	if err := b.WriteNew(*out); err != nil {
		return fmt.Errorf("%w; the gate is provisioned but its password is lost: gatehub gate revoke it and add it again", err)
	}
	human := fmt.Sprintf(`gatehub: gate %s/%s provisioned; the running hub lets it in within a second.
  bundle %s (owner-only; it holds the gate's password: carry it to the gate
  on a medium you control and run there: gateagent enrol %s)`, g.site, g.gate, *out, filepath.Base(*out))
	if res.Mosquitto != "" {
		human += fmt.Sprintf("\n  Mosquitto files rewritten in %s (%s, %s): systemctl reload mosquitto", res.Mosquitto, hub.MosquittoPasswd, hub.MosquittoACL)
	}
	return printOut(stdout, g.json, res, human)
}

// brokerCA is the PEM of the CA the gate pins: the hub's own for the
// embedded broker, ca_file for an external one.
func brokerCA(cfg *hub.Config) (string, error) {
	if cfg.Broker == "" {
		if cfg.InsecurePlainTCPOnLoopback {
			return "", nil
		}
		pem, err := hub.EnsureCA(cfg.DataDir)
		return string(pem), err
	}
	if cfg.CAFile == "" {
		if strings.HasPrefix(cfg.Broker, "ssl://") {
			return "", errors.New("ca_file is not set: the gate needs the external broker's CA to pin")
		}
		return "", nil
	}
	b, err := os.ReadFile(cfg.CAFile)
	if err != nil {
		return "", fmt.Errorf("read ca_file: %w", err)
	}
	return string(b), nil
}

// publishedVersions are the site's published list versions, the floor below
// which the new gate takes no list.
func publishedVersions(cfg *hub.Config, site string, stderr io.Writer) (map[string]uint64, error) {
	m, err := hub.OpenMaster(filepath.Join(cfg.DataDir, "lists.db"), logger(cfg, stderr))
	if err != nil {
		return nil, err
	}
	defer m.Close()
	out := map[string]uint64{}
	st, err := m.State(site, "whitelist")
	switch {
	case errors.Is(err, hub.ErrNoList):
	case err != nil:
		return nil, err
	case !st.PublishedAt.IsZero() && st.SnapshotVersion > 0:
		// The retained snapshot is what a new gate receives first, the
		// retained deltas after it bring it to the latest version; a
		// minimum above the snapshot would refuse it (kiosks publish a
		// delta per enrolment).
		out["whitelist"] = st.SnapshotVersion
	}
	sc, ok, err := m.Config(site)
	if err != nil {
		return nil, err
	}
	if ok && sc.Published {
		out[gateconfig.List] = sc.Version
	}
	return out, nil
}

func cmdGateRevoke(_ context.Context, args []string, stdout, stderr io.Writer) error {
	var g gateFlags
	fs := newGateFlags("gate revoke", &g, stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if g.site == "" || g.gate == "" {
		return errors.New("--site and --gate are required")
	}
	cfg, err := hub.LoadConfig(g.config)
	if err != nil {
		return err
	}
	acct, err := hub.RevokeGate(cfg.DataDir, g.site, g.gate, time.Now())
	if err != nil {
		return err
	}
	human := fmt.Sprintf("gatehub: gate %s/%s revoked at %s; the running hub drops its session and refuses its logins and events within a second",
		g.site, g.gate, acct.Revoked.Format(time.RFC3339))
	if cfg.Broker != "" {
		if err := hub.WriteMosquittoFiles(cfg); err != nil {
			return fmt.Errorf("%w; the hub refuses the gate's events already, but Mosquitto still lets it in", err)
		}
		human += fmt.Sprintf("\n  Mosquitto files rewritten in %s: systemctl reload mosquitto, then restart it to cut a live session", cfg.MosquittoDir)
	}
	return printOut(stdout, g.json, acct, human)
}

// gateRow is one line of gate list.
type gateRow struct {
	Site     string    `json:"site"`
	Gate     string    `json:"gate"`
	Username string    `json:"username"`
	ClientID string    `json:"client_id"`
	Added    time.Time `json:"added"`
	Revoked  time.Time `json:"revoked,omitzero"`
	// Kiosk says the gate may enrol cards (gate add --kiosk).
	Kiosk bool `json:"kiosk,omitempty"`
}

func cmdGateList(_ context.Context, args []string, stdout, stderr io.Writer) error {
	var g gateFlags
	fs := newGateFlags("gate list", &g, stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := hub.LoadConfig(g.config)
	if err != nil {
		return err
	}
	gates, err := hub.LoadGates(cfg.DataDir)
	if err != nil {
		return err
	}
	for _, a := range gates.List {
		if g.site != "" && a.Site != g.site {
			continue
		}
		r := gateRow{Site: a.Site, Gate: a.Gate, Username: a.Username(), ClientID: a.ClientID(), Added: a.Added, Revoked: a.Revoked, Kiosk: a.Enrols}
		state := "active"
		if a.Enrols {
			state += ", kiosk (enrols cards)"
		}
		if !a.Active() {
			state = "REVOKED " + a.Revoked.Format(time.RFC3339)
		}
		if err := printOut(stdout, g.json, r, fmt.Sprintf("%s/%s\tadded %s\t%s", a.Site, a.Gate, a.Added.Format(time.RFC3339), state)); err != nil {
			return err
		}
	}
	return nil
}

// pinnedKeys are the hub's public keys a new gate pins: the current
// list-signing key and, during a rotation, the next one
// (next_signing_public_key), so that the gate accepts lists signed by either.
func pinnedKeys(cfg *hub.Config, keys *hub.Keys) ([]string, error) {
	cur, err := keys.PublicKey()
	if err != nil {
		return nil, err
	}
	pub, err := lists.MarshalPublicKey(cur)
	if err != nil {
		return nil, err
	}
	pinned := []string{string(pub)}
	if cfg.NextSigningPublicKey == "" {
		return pinned, nil
	}
	next, err := lists.LoadPublicKey(cfg.NextSigningPublicKey)
	if err != nil {
		return nil, fmt.Errorf("next_signing_public_key: %w; give the new key's public PEM, as gatehub hsm init or keygen printed it", err)
	}
	if next.Equal(cur) {
		return pinned, nil // the rotation is done: the hub signs with it already
	}
	npub, err := lists.MarshalPublicKey(next)
	if err != nil {
		return nil, err
	}
	return append(pinned, string(npub)), nil
}
