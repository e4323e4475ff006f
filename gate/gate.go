// Package gate assembles a running gate from its config: the card-key
// secret and HSM, the whitelist, the outbox, the inside set, the uplink and
// the signed lists, the hardware, the lanes' reader watcher, the metrics, the
// readiness reported to systemd, and the local control socket. gateagent run
// and demo only open and run one; tests build a gate the same way.
package gate

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mynagate/mynagate/agent"
	"github.com/mynagate/mynagate/config"
	"github.com/mynagate/mynagate/event"
	"github.com/mynagate/mynagate/hw"
	"github.com/mynagate/mynagate/hw/clock"
	"github.com/mynagate/mynagate/hw/turnstile"
	"github.com/mynagate/mynagate/internal/cli"
	"github.com/mynagate/mynagate/internal/sdnotify"
	"github.com/mynagate/mynagate/kiosk"
	"github.com/mynagate/mynagate/metrics"
	"github.com/mynagate/mynagate/offline/cardkey"
	"github.com/mynagate/mynagate/offline/certcheck"
	"github.com/mynagate/mynagate/offline/crl"
	"github.com/mynagate/mynagate/offline/hsm"
	"github.com/mynagate/mynagate/offline/pinless"
	"github.com/mynagate/mynagate/offline/policy"
	"github.com/mynagate/mynagate/offline/whitelist"
	"github.com/mynagate/mynagate/reader"
	"github.com/mynagate/mynagate/sync/gateconfig"
	"github.com/mynagate/mynagate/sync/lists"
	"github.com/mynagate/mynagate/sync/outbox"
	"github.com/mynagate/mynagate/sync/peers"
	"github.com/mynagate/mynagate/sync/uplink"
)

// Gate is a running gate: the parts of a config opened and wired together.
type Gate struct {
	cfg     *config.Config
	log     *slog.Logger
	agent   *agent.Agent
	watcher *reader.Watcher
	outbox  *outbox.Outbox
	list    *whitelist.Store
	uplink  *uplink.Uplink
	hw      *hw.Gate
	hsm     *hsm.HSM
	keyer   cardkey.Keyer
	peers   *peers.Set
	lists   *lists.Receiver
	hubcfg  *gateconfig.Store
	// nextKeyer is the next card-key secret during a rotation, else nil.
	nextKeyer cardkey.Keyer
	// basePolicy is the policy of the config file, which the hub's config
	// list may override field by field.
	basePolicy policy.Policy
	metrics    *metrics.Registry
	// pinless is the PIN-less credential in force, renewed by ReloadPINLess;
	// nil on a gate without one.
	pinless *pinlessSlot
	// ready tells systemd and the status whether every lane has its reader.
	ready *readiness
	// screen is the kiosk screen of enrol and identify lanes; nil without.
	screen *kiosk.Screen
}

// cardKeyer opens the card-key secret: in the HSM when one is configured, else
// from the demo secret file.
func (g *Gate) cardKeyer() (cardkey.Keyer, error) {
	if g.cfg.HSM.Module == "" {
		return cardkey.LoadSecretFile(g.cfg.CardKey.SecretFile)
	}
	h, err := OpenHSM(g.cfg)
	if err == nil {
		g.hsm = h
		return g.hsm.CardKeyer(g.cfg.CardKey.HSMLabel)
	}
	if g.cfg.Mode != config.ModeShelter {
		return nil, err
	}
	// A shelter works with what it has: without its HSM it proves cards at
	// the cert level only and keys cards with a secret drawn for this run,
	// held in memory only. No card is found on the list then (everyone is
	// checked in to reconcile), but a second tap still checks the same
	// person out.
	secret := make([]byte, 32)
	if _, rerr := rand.Read(secret); rerr != nil {
		return nil, fmt.Errorf("%w; and no random run secret either: %w", err, rerr)
	}
	g.log.Error("HSM unavailable: this shelter station runs without PIN-less and keys cards for this run only; every check-in is recorded at the cert level and flagged to reconcile",
		"err", err, "hint", "plug the token back in and restart gateagent; gateagent doctor checks it")
	return cardkey.NewSoftware(secret), nil
}

// warnStaleCRLs logs each CRL applied at this gate that is past its next
// update: cards revoked since are still admitted.
func (g *Gate) warnStaleCRLs(now time.Time) {
	crls, err := g.list.CRLs()
	if err != nil {
		g.log.Warn("read the applied CRLs", "err", err)
		return
	}
	for _, c := range crls {
		if c.Stale(now) {
			g.log.Warn("CRL is stale: cards revoked since are still admitted", "issuer", c.Issuer, "next_update", c.NextUpdate, "hint", "import the current CRL (gateagent whitelist revoke --crl) or connect the gate to the hub")
		}
	}
}

// OpenPINLess builds the PIN-less authenticator from the institution
// certificate and the HSM's institution key.
func OpenPINLess(cfg *config.Config, h *hsm.HSM, log *slog.Logger) (*pinless.Authenticator, error) {
	der, err := os.ReadFile(cfg.PINLess.Certificate)
	if err != nil {
		return nil, fmt.Errorf("pinless: institution certificate: %w", err)
	}
	signer, err := h.InstitutionSigner(cfg.HSM.InstitutionKeyLabel)
	if err != nil {
		return nil, fmt.Errorf("pinless: %w", err)
	}
	opts := []pinless.Option{pinless.MaxExchange(cfg.PINLess.MaxExchange())}
	if cfg.PINLess.AcceptV1 {
		log.Warn("pinless.accept_v1 is on: a card's version 1 answer can be forged by anyone who knows its PIN", "hint", "turn it off once no version 1 cards are in use")
		opts = append(opts, pinless.AcceptV1())
	}
	a, err := pinless.NewAuthenticator(der, cfg.PINLess.InstitutionCode, signer, opts...)
	if err != nil {
		return nil, err
	}
	if exp := a.Certificate().NotAfter; time.Until(exp) < 30*24*time.Hour {
		log.Warn("institution certificate expires soon; cards will refuse this gate after it", "not_after", exp, "hint", "request a renewed certificate from the PIN-less authority")
	}
	return a, nil
}

// OpenHSM opens the configured PKCS#11 token.
func OpenHSM(cfg *config.Config) (*hsm.HSM, error) {
	return hsm.Open(hsm.Config{Module: cfg.HSM.Module, TokenLabel: cfg.HSM.TokenLabel, PINFile: cfg.HSM.PINFile, MaxSessions: cfg.HSM.MaxSessions})
}

// statusInterval is how often a connected gate publishes its status when
// nothing changed; 0 takes the uplink's default. A test lengthens it to show
// that an applied list or config goes out without waiting for it.
var statusInterval time.Duration

// NewLogger returns the daemon's logger: text lines on w at the configured level.
func NewLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
}

// Open opens every part the config names; console is where console
// stand-ins for absent hardware write. On error, what was opened is closed again.
func Open(cfg *config.Config, log *slog.Logger, console io.Writer) (*Gate, error) {
	g := &Gate{cfg: cfg, log: log}
	opened := false
	defer func() {
		if !opened {
			g.Close()
		}
	}()
	var err error
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w; check data_dir in %s", err, cfg.Path())
	}
	roots, err := certcheck.LoadRoots(cfg.Roots...)
	if err != nil {
		return nil, fmt.Errorf("pinned roots: %w", err)
	}
	roots.Skew = time.Duration(cfg.ClockSkew)
	if g.keyer, err = g.cardKeyer(); err != nil {
		return nil, fmt.Errorf("card key: %w", err)
	}
	if g.nextKeyer, err = g.openNextKeyer(); err != nil {
		return nil, fmt.Errorf("next card key: %w", err)
	}
	if g.list, err = whitelist.Open(cfg.WhitelistPath(), whitelist.Options{Preload: true}); err != nil {
		return nil, fmt.Errorf("whitelist: %w", err)
	}
	if g.outbox, err = outbox.Open(cfg.OutboxPath(), outbox.Options{MaxBytes: cfg.OutboxMaxMB << 20, Logger: log.With("part", "outbox")}); err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	// Peer events arrive only once the gate runs, after newMetrics below.
	onFuture := func() { g.metrics.Add("mynagate_peer_events_ignored_total", 1, "dated_ahead") }
	if g.peers, err = peers.Open(cfg.PeersPath(), peers.Options{Logger: log, MaxAhead: time.Duration(cfg.Peers.MaxAhead), OnFuture: onFuture}); err != nil {
		return nil, fmt.Errorf("inside set: %w", err)
	}
	var link agent.Link
	if cfg.MQTT.Broker != "" {
		ucfg := uplink.Config{
			Broker: cfg.MQTT.Broker, ClientID: cfg.MQTT.ClientID, Prefix: cfg.MQTT.Prefix,
			Site: cfg.Site, Gate: cfg.Gate, Username: cfg.MQTT.Username,
			CAFile: cfg.MQTT.CAFile, CertFile: cfg.MQTT.CertFile, KeyFile: cfg.MQTT.KeyFile,
			SoftwareVersion: cli.BuildVersion(), Lists: g.listStatus, Health: g.health,
			StatusInterval: statusInterval,
		}
		if cfg.MQTT.PasswordFile != "" {
			pw, err := os.ReadFile(cfg.MQTT.PasswordFile)
			if err != nil {
				return nil, fmt.Errorf("mqtt password: %w", err)
			}
			ucfg.Password = strings.TrimSpace(string(pw))
		}
		if g.uplink, err = uplink.New(ucfg, g.outbox, log.With("part", "uplink")); err != nil {
			return nil, fmt.Errorf("mqtt: %w", err)
		}
		link = g.uplink
		if err := g.subscribe(); err != nil {
			return nil, err
		}
	} else {
		log.Warn("no mqtt.broker configured: taps are recorded locally and never leave this gate")
	}
	if g.hw, err = hw.OpenWith(cfg.Hardware, hw.Options{Console: console, Logger: log.With("part", "hw")}); err != nil {
		return nil, fmt.Errorf("hardware: %w", err)
	}
	lanes := make([]agent.Lane, len(cfg.Lanes))
	patterns := make([]string, len(cfg.Lanes))
	for i, l := range cfg.Lanes {
		lanes[i] = agent.Lane{Name: l.Name, Reader: l.Reader, Kind: l.Kind, Zone: l.Zone}
		patterns[i] = l.Reader
	}
	loc, err := time.LoadLocation(cfg.Policy.TimeZone)
	if err != nil {
		return nil, fmt.Errorf("policy time zone: %w", err)
	}
	pol := policy.Policy{Accept: cfg.Policy.Accept, Fallback: cfg.Policy.Fallback, Location: loc,
		ExitGrace: time.Duration(cfg.Policy.ExitGrace), AntiPassback: *cfg.Policy.AntiPassback,
		CRLMaxStale: time.Duration(*cfg.Policy.CRLMaxStale)}
	if err := pol.Validate(); err != nil {
		return nil, err
	}
	g.agent = &agent.Agent{
		Site: cfg.Site, Gate: cfg.Gate, Lanes: lanes, Policy: pol,
		Roots: roots, Keyer: g.keyer, NextKeyer: g.nextKeyer, List: g.list, Journal: g.outbox,
		Signal: g.hw, Turnstile: g.hw, Link: link, Log: log, Peers: g.peers, FailOpen: *cfg.FailOpen,
		Receipts: agent.Receipts{Event: cfg.Receipt.Event, GateLabel: cfg.Receipt.GateLabel, Shelter: cfg.Receipt.Shelter},
		Place:    cfg.Place, Shelter: agent.Shelter{On: cfg.Mode == config.ModeShelter, CheckoutToggle: *cfg.Shelter.CheckoutToggle},
	}
	g.basePolicy = pol
	g.openKiosk()
	g.metrics = g.newMetrics()
	g.agent.OnDecision = g.count
	if cfg.Hardware.Printer != nil {
		g.agent.Printer = g.hw
	}
	if cfg.Policy.Emergency {
		g.agent.Emergency.Store(true)
		log.Warn("emergency declared in the config: fallback assurance levels are accepted", "fallback", cfg.Policy.Fallback)
	}
	if cfg.PINLess.Certificate != "" && g.hsm != nil {
		a, err := OpenPINLess(cfg, g.hsm, log)
		if err != nil {
			return nil, err
		}
		g.pinless = &pinlessSlot{observe: g.observeExchange}
		g.pinless.cur.Store(a)
		g.agent.PINLess = g.pinless
	}
	if g.hubcfg != nil {
		if d, v := g.hubcfg.Current(); v > 0 {
			g.applyHubConfig(d)
		}
	}
	g.watcher = &reader.Watcher{Patterns: patterns, Log: log.With("part", "reader")}
	g.ready = newReadiness(cfg, func() {
		log.Info("gate ready", "site", cfg.Site, "gate", cfg.Gate, "mode", cfg.Mode, "lanes", len(cfg.Lanes), "list_version", g.list.Version())
	})
	opened = true
	return g, nil
}

// Agent returns the gate's decision maker, for a caller that watches its
// decisions (OnDecision) or records on its behalf.
func (g *Gate) Agent() *agent.Agent { return g.agent }

// Whitelist returns the gate's whitelist store.
func (g *Gate) Whitelist() *whitelist.Store { return g.list }

// Keyer returns the keyer of the gate's card-key secret.
func (g *Gate) Keyer() cardkey.Keyer { return g.keyer }

// Run serves taps and syncs until ctx is done, keeping systemd informed.
func (g *Gate) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(ctx)
	defer func() { cancel(); wg.Wait() }()
	// Readers first: the status published on connecting carries them.
	g.ready.check()
	if st := g.ready.readers(); !st.ok() {
		g.log.Warn("gate not ready: READY=1 waits until every lane has its reader", "status", st.status(len(g.cfg.Lanes)), "hint", "plug in the reader or fix lanes[].reader; gateagent doctor lists the readers pcscd sees")
	}
	wg.Go(func() { g.ready.run(ctx, readerPoll) })
	if g.uplink != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := g.uplink.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
				g.log.Error("uplink stopped", "err", err)
			}
		}()
	}
	if g.lists != nil {
		wg.Go(func() {
			if err := g.lists.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
				g.log.Error("list receiver stopped", "err", err)
			}
		})
		// Ends a declared emergency at its end, by the gate's clock.
		wg.Go(func() { _ = g.hubcfg.Run(ctx) })
	}
	wg.Go(func() { g.passages(ctx) })
	wg.Go(func() { g.agent.RetryUnrecorded(ctx, 5*time.Second) })
	if g.cfg.MetricsListen != "" {
		srv := &http.Server{Addr: g.cfg.MetricsListen, Handler: g.metrics.Handler(), ReadHeaderTimeout: 5 * time.Second}
		wg.Go(func() {
			if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				g.log.Error("metrics endpoint stopped", "addr", g.cfg.MetricsListen, "err", err, "hint", "is metrics_listen a free local address?")
			}
		})
		context.AfterFunc(ctx, func() { srv.Close() })
	}
	if g.cfg.Control.Socket != "" {
		wg.Go(func() {
			if err := g.control().Run(ctx); err != nil {
				g.log.Error("control socket stopped: staff commands are unavailable", "err", err)
			}
		})
	}
	if iv := sdnotify.WatchdogInterval(); iv > 0 {
		wg.Go(func() { g.watchdog(ctx, iv) })
	}
	g.warnStaleCRLs(time.Now())
	err := g.watcher.Run(ctx, g.tap)
	sdnotify.Notify("STOPPING=1")
	return err
}

// passages annuls admitted entries nobody walked through (with a passage
// sensor configured; otherwise no results arrive).
func (g *Gate) passages(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case r, ok := <-g.hw.Results():
			if !ok {
				return
			}
			if r.Outcome == turnstile.Passed {
				g.agent.Passed(r.EntryID)
				continue
			}
			if _, err := g.agent.Annul(ctx, r.EntryID, r.At); err != nil {
				g.log.Error("annul failed", "ref", r.EntryID, "err", err)
			}
		}
	}
}

// watchdog pings systemd every interval while the reader loop goes round; a
// wedged loop stops the pings and systemd restarts the daemon (WatchdogSec).
func (g *Gate) watchdog(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			// The loop goes round at least every poll (1 s) and every few
			// seconds while it waits for pcscd.
			if time.Since(g.watcher.Alive()) < max(interval, 10*time.Second) {
				sdnotify.Notify("WATCHDOG=1")
			} else {
				g.log.Error("reader loop has not gone round; withholding the watchdog ping so systemd restarts the gate", "last", g.watcher.Alive())
			}
		}
	}
}

// subscribe wires the hub's signed lists into the whitelist store and the
// site's entry and exit events into the inside set.
func (g *Gate) subscribe() error {
	prefix := g.cfg.MQTT.Prefix
	if prefix == "" {
		prefix = uplink.DefaultPrefix
	}
	if err := g.uplink.Handle(peers.Filter(prefix, g.cfg.Site), g.peers.Handle); err != nil {
		return fmt.Errorf("subscribe to the site's events: %w", err)
	}
	if len(g.cfg.HubKeys) == 0 {
		g.log.Warn("no hub_keys configured: lists from the hub are not accepted; import them with gateagent whitelist import")
		return nil
	}
	var keys []ed25519.PublicKey
	for _, f := range g.cfg.HubKeys {
		k, err := lists.LoadPublicKey(f)
		if err != nil {
			return fmt.Errorf("hub key: %w", err)
		}
		keys = append(keys, k)
	}
	filter := lists.Filter(prefix, g.cfg.Site)
	var err error
	g.hubcfg, err = gateconfig.Open(g.cfg.HubConfigPath(), gateconfig.Options{
		Clock:    clock.Real{},
		Logger:   g.log.With("part", "hubconfig"),
		OnChange: g.applyHubConfig,
	})
	if err != nil {
		return fmt.Errorf("hub config: %w", err)
	}
	g.lists, err = lists.NewReceiver(lists.ReceiverConfig{
		Prefix: prefix, Site: g.cfg.Site, Keys: keys,
		Lists:            map[string]lists.Applier{"whitelist": reportApplied{store: g.list, applied: g.uplink.RefreshStatus}},
		Raw:              map[string]lists.RawApplier{gateconfig.List: g.hubcfg},
		RequestSnapshot:  func() { g.uplink.Resubscribe(filter) },
		MinVersions:      g.cfg.MinListVersions,
		Clock:            clock.Real{},
		Skew:             time.Duration(g.cfg.ClockSkew),
		AcceptUnexpiring: g.cfg.AcceptUnexpiringLists,
		Logger:           g.log.With("part", "lists"),
	})
	if err != nil {
		return fmt.Errorf("lists: %w", err)
	}
	return g.uplink.Handle(filter, g.lists.Handle)
}

// health reports the parts an operator must act on, for the status message:
// the readers and pcscd, the HSM token, the institution certificate's days
// left, the clock's last confirmation, the printer (paper out, cover open)
// and taps the journal could not take.
func (g *Gate) health() map[string]string {
	h := map[string]string{"journal": "ok", "clock": clockHealth(timesyncFile, time.Now())}
	g.readerHealth(h)
	if g.hsm != nil {
		h["hsm"] = g.hsmHealth()
	} else if g.cfg.HSM.Module != "" {
		h["hsm"] = "unavailable: cert level only, check-ins flagged to reconcile"
	}
	if inst := g.institutionCert(); inst != nil {
		h["institution_certificate"] = certHealth(inst, time.Now())
	}
	g.cardKeyHealth(h)
	if g.agent.Emergency.Load() {
		h["emergency"] = "declared: fallback assurance levels accepted"
	}
	if c := g.crlHealth(time.Now()); c != "" {
		h["crl"] = c
	}
	g.listHealth(h, time.Now())
	if n := g.agent.Unrecorded(); n > 0 {
		h["journal"] = fmt.Sprintf("%d taps held in memory: disk full or failing", n)
	}
	if g.cfg.Hardware.Printer != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		st, err := g.hw.PrinterStatus(ctx)
		switch {
		case err != nil:
			h["printer"] = err.Error()
		default:
			h["printer"] = st.String()
		}
	}
	return h
}

// reportApplied passes list versions to the store and, once one is applied,
// has the status published at once, so the hub shows the gate's new version
// without waiting for the next status interval.
type reportApplied struct {
	store interface {
		lists.Applier
		lists.CRLApplier
	}
	applied func()
}

// Version is the version in force.
func (r reportApplied) Version() uint64 { return r.store.Version() }

// Apply applies a version and reports it.
func (r reportApplied) Apply(version uint64, snapshot bool, puts []whitelist.Record, deletes []cardkey.Key, revoke, unrevoke []cardkey.Key) error {
	return r.ApplyWithCRLs(version, snapshot, puts, deletes, revoke, unrevoke, nil)
}

// ApplyWithCRLs applies a version with the CRLs its manifest names and
// reports it.
func (r reportApplied) ApplyWithCRLs(version uint64, snapshot bool, puts []whitelist.Record, deletes []cardkey.Key, revoke, unrevoke []cardkey.Key, crls []crl.Info) error {
	if err := r.store.ApplyWithCRLs(version, snapshot, puts, deletes, revoke, unrevoke, crls); err != nil {
		return err
	}
	r.applied()
	return nil
}

// crlHealth sums up the CRLs applied at this gate: "" when none, else the
// earliest next update, and STALE once it has passed (cards revoked since are
// still admitted: import the current CRL).
func (g *Gate) crlHealth(now time.Time) string {
	crls, err := g.list.CRLs()
	if err != nil {
		return "unreadable: " + err.Error()
	}
	if len(crls) == 0 {
		return ""
	}
	first := crls[0]
	for _, c := range crls[1:] {
		if c.NextUpdate.Before(first.NextUpdate) {
			first = c
		}
	}
	if first.Stale(now) {
		return fmt.Sprintf("STALE since %s: import the current CRL", first.NextUpdate.Format(time.RFC3339))
	}
	return fmt.Sprintf("ok: %d CRL(s), next update %s", len(crls), first.NextUpdate.Format(time.RFC3339))
}

// applyHubConfig puts the hub's signed config in force: its policy fields over
// the config file's, and an emergency declared by either. A document that does
// not make a valid policy leaves the one in force.
func (g *Gate) applyHubConfig(d gateconfig.Doc) {
	p, err := d.Policy(g.basePolicy)
	if err != nil {
		g.log.Error("hub config not applied; the policy in force stays", "err", err, "hint", "correct it at the hub: gatehub config set")
		return
	}
	if g.agent.PINLess == nil && slices.Contains(p.Accept, policy.AssurancePINLess) {
		g.log.Warn("the hub's config accepts pinless but this gate has no PIN-less credential; it proves cards at the other levels only")
	}
	g.agent.SetPolicy(p)
	if g.uplink != nil {
		g.uplink.RefreshStatus()
	}
	// The hub's emergency counts until its end (emergency_until) by this
	// gate's clock; the store calls here again when it lapses.
	emergency := g.cfg.Policy.Emergency || g.hubcfg.EmergencyActive()
	g.agent.Emergency.Store(emergency)
	g.log.Warn("hub config in force", "config", d, "emergency", emergency, "accept", p.Accept, "fallback", p.Fallback, "anti_passback", p.AntiPassback)
}

// listHealth reports, for the status, when each signed list in
// force expires, and loudly when it has: the gate keeps deciding on an
// expired list (refusing everyone for want of a hub would shut the venue), but
// the operator must get the hub renewing again. A lapsed emergency of the
// hub's config is reported too.
func (g *Gate) listHealth(h map[string]string, now time.Time) {
	if g.lists == nil {
		return
	}
	skew := time.Duration(g.cfg.ClockSkew)
	for name, info := range g.lists.Versions() {
		key := "list_" + name
		switch {
		case info.Version == 0:
		case !info.ExpiryKnown:
			h[key] = fmt.Sprintf("ok, v%d: expiry not known yet (waiting for the hub's retained manifest)", info.Version)
		case info.Expires.IsZero():
			h[key] = fmt.Sprintf("v%d: NO EXPIRY (accept_unexpiring_lists is on)", info.Version)
		case info.Expired(now, skew):
			h[key] = fmt.Sprintf("v%d: EXPIRED at %s: the hub has not renewed it; still in force; check that gatehub run is up and reachable", info.Version, info.Expires.Format(time.RFC3339))
		default:
			h[key] = fmt.Sprintf("ok, v%d expires %s", info.Version, info.Expires.Format(time.RFC3339))
		}
	}
	if n := g.lists.Refused(); len(n) > 0 {
		h["lists_refused"] = fmt.Sprintf("since start: %d expired, %d below the minimum version, %d without expiry",
			n[lists.RefusedExpired], n[lists.RefusedBelowMinimum], n[lists.RefusedNoExpiry])
	}
	if d, v := g.hubcfg.Current(); v > 0 && d.Emergency && !g.hubcfg.EmergencyActive() {
		h["hub_emergency"] = "lapsed at " + d.EmergencyUntil.Format(time.RFC3339) + ": fallback levels no longer accepted; the hub renews it with gatehub config set --emergency=true --for"
	}
}

// listStatus reports the list in force and when it was applied (kept in the
// store, so the age survives restarts), for the status message.
func (g *Gate) listStatus() map[string]uplink.ListStatus {
	st := uplink.ListStatus{Version: g.list.Version()}
	if stats, err := g.list.Stats(); err == nil {
		st.AppliedAt = stats.AppliedAt
	}
	out := map[string]uplink.ListStatus{"whitelist": st}
	if g.hubcfg != nil {
		out[gateconfig.List] = uplink.ListStatus{Version: g.hubcfg.Version(), AppliedAt: g.hubcfg.AppliedAt()}
	}
	return out
}

// newMetrics declares the gate's series for Prometheus.
func (g *Gate) newMetrics() *metrics.Registry {
	r := metrics.New()
	r.Counter("mynagate_taps_total", "Taps decided and journaled, by lane, decision and reason.", "lane", "decision", "reason")
	// The 2016 pilot took 3.2 s a check; MynaGate aims well under half a second.
	r.Histogram("mynagate_decision_seconds", "Card presented to decision, by lane and the assurance level proven.",
		[]float64{0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 2, 3.5}, "lane", "assurance")
	declareExchangeMetric(r)
	r.Counter("mynagate_peer_events_ignored_total", "Peer events not applied to the inside set, by reason.", "reason")
	r.Gauge("mynagate_backlog_events", "Events recorded but not yet receipted by the hub.", metrics.Value(func() float64 {
		n, _ := g.outbox.Backlog()
		return float64(n)
	}))
	r.Gauge("mynagate_awaiting_events", "The backlog by what it waits for: the broker (gate offline, or sent and not yet acknowledged) or the hub's receipt (acknowledged by the broker, or held back while the hub receipts nothing).", func() []metrics.Sample {
		w := g.awaiting()
		return []metrics.Sample{{Labels: []string{"waiting_for", "broker"}, Value: float64(w.Broker)}, {Labels: []string{"waiting_for", "hub"}, Value: float64(w.Hub)}}
	})
	r.Gauge("mynagate_awaiting_oldest_seconds", "Age of the oldest tap waiting for the broker, and for the hub's receipt.", func() []metrics.Sample {
		w := g.awaiting()
		since := func(t time.Time) float64 {
			if t.IsZero() {
				return 0
			}
			return time.Since(t).Seconds()
		}
		return []metrics.Sample{{Labels: []string{"waiting_for", "broker"}, Value: since(w.BrokerOldest)}, {Labels: []string{"waiting_for", "hub"}, Value: since(w.HubOldest)}}
	})
	r.Gauge("mynagate_oldest_unsent_seconds", "Age of the oldest event not yet receipted by the hub.", metrics.Value(func() float64 {
		n, oldest := g.outbox.Backlog()
		if n == 0 {
			return 0
		}
		return time.Since(oldest).Seconds()
	}))
	r.Gauge("mynagate_unrecorded_taps", "Decided taps held in memory because the journal refused them.", metrics.Value(func() float64 {
		return float64(g.agent.Unrecorded())
	}))
	r.Gauge("mynagate_outbox_used_bytes", "Bytes of the outbox file in use.", metrics.Value(func() float64 {
		return float64(g.outbox.Usage().UsedBytes)
	}))
	r.Gauge("mynagate_list_version", "Version of each list in force.", func() []metrics.Sample {
		var out []metrics.Sample
		for name, st := range g.listStatus() {
			out = append(out, metrics.Sample{Labels: []string{"list", name}, Value: float64(st.Version)})
		}
		slices.SortFunc(out, func(a, b metrics.Sample) int { return strings.Compare(a.Labels[1], b.Labels[1]) })
		return out
	})
	r.Gauge("mynagate_list_age_seconds", "Time since each list in force was applied.", func() []metrics.Sample {
		var out []metrics.Sample
		for name, st := range g.listStatus() {
			if !st.AppliedAt.IsZero() {
				out = append(out, metrics.Sample{Labels: []string{"list", name}, Value: time.Since(st.AppliedAt).Seconds()})
			}
		}
		slices.SortFunc(out, func(a, b metrics.Sample) int { return strings.Compare(a.Labels[1], b.Labels[1]) })
		return out
	})
	r.Gauge("mynagate_crl_next_update_seconds", "Seconds until the next update of each CRL applied at this gate, by issuer key id; negative once stale.", func() []metrics.Sample {
		crls, err := g.list.CRLs()
		if err != nil {
			g.log.Warn("metrics: read the applied CRLs", "err", err)
			return nil
		}
		var out []metrics.Sample
		for _, c := range crls {
			out = append(out, metrics.Sample{Labels: []string{"issuer_key_id", hex.EncodeToString(c.IssuerKeyID)}, Value: time.Until(c.NextUpdate).Seconds()})
		}
		return out
	})
	r.Gauge("mynagate_emergency", "1 while an emergency is declared (config file or hub).", metrics.Value(func() float64 {
		if g.agent.Emergency.Load() {
			return 1
		}
		return 0
	}))
	r.Gauge("mynagate_inside", "Holders the site counts as inside.", metrics.Value(func() float64 { return float64(g.peers.Count()) }))
	r.Gauge("mynagate_publish_latency_seconds", "Publish-to-PUBACK time of the last acknowledged event.", metrics.Value(func() float64 {
		if g.uplink == nil {
			return 0
		}
		return g.uplink.PublishLatency().Seconds()
	}))
	r.Gauge("mynagate_receipt_latency_seconds", "First publish to the hub's receipt of the last receipted event.", metrics.Value(func() float64 {
		if g.uplink == nil {
			return 0
		}
		return g.uplink.HubLatency().Seconds()
	}))
	r.CounterFunc("mynagate_resent_events_total", "Events published again: not receipted by the hub in time, dropped by the broker, or a failed publish.", metrics.Value(func() float64 {
		if g.uplink == nil {
			return 0
		}
		return float64(g.uplink.Resent())
	}))
	r.Gauge("mynagate_online", "1 while connected to the broker.", metrics.Value(func() float64 {
		if g.uplink != nil && g.uplink.Online() {
			return 1
		}
		return 0
	}))
	return r
}

// awaiting splits the backlog by what it waits for; offline-only gates wait
// for nothing but a broker.
func (g *Gate) awaiting() uplink.Awaiting {
	if g.uplink != nil {
		return g.uplink.Awaiting()
	}
	n, oldest := g.outbox.Backlog()
	return uplink.Awaiting{Broker: n, BrokerOldest: oldest}
}

// declareExchangeMetric declares the histogram of the live PIN-less exchange
// (EXTERNAL AUTHENTICATE to the card's signature), by which an operator sets
// pinless.max_exchange_ms from real taps.
func declareExchangeMetric(r *metrics.Registry) {
	r.Histogram("mynagate_pinless_exchange_seconds", "Live PIN-less exchange per tap (EXTERNAL AUTHENTICATE sent to the card's signature received), by protocol version; pinless.max_exchange_ms bounds it.",
		[]float64{0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1, 2}, "version")
}

// observeExchange feeds a PIN-less proof's live exchange time into the
// metrics.
func (g *Gate) observeExchange(p pinless.Proof) {
	g.metrics.Observe("mynagate_pinless_exchange_seconds", p.Exchange.Seconds(), strconv.Itoa(p.Version))
}

// count feeds every journaled decision into the metrics.
func (g *Gate) count(e event.Event) {
	g.metrics.Add("mynagate_taps_total", 1, e.Lane, string(e.Decision), string(e.Reason))
	g.metrics.Observe("mynagate_decision_seconds", e.LatencyMS/1000, e.Lane, e.Assurance)
}

// Close closes what Open opened.
func (g *Gate) Close() {
	if g.screen != nil {
		g.screen.Close()
	}
	if g.peers != nil {
		if err := g.peers.Close(); err != nil {
			g.log.Error("close inside set", "err", err)
		}
	}
	if g.hsm != nil {
		if err := g.hsm.Close(); err != nil {
			g.log.Error("close hsm", "err", err)
		}
	}
	if g.hw != nil {
		if err := g.hw.Close(); err != nil {
			g.log.Error("close hardware", "err", err)
		}
	}
	if g.outbox != nil {
		if err := g.outbox.Close(); err != nil {
			g.log.Error("close outbox", "err", err)
		}
	}
	if g.list != nil {
		if err := g.list.Close(); err != nil {
			g.log.Error("close whitelist", "err", err)
		}
	}
}
