package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/mynagate/mynagate/agent"
	"github.com/mynagate/mynagate/config"
	"github.com/mynagate/mynagate/hw"
	"github.com/mynagate/mynagate/hw/turnstile"
	"github.com/mynagate/mynagate/internal/sdnotify"
	"github.com/mynagate/mynagate/offline/cardkey"
	"github.com/mynagate/mynagate/offline/certcheck"
	"github.com/mynagate/mynagate/offline/hsm"
	"github.com/mynagate/mynagate/offline/pinless"
	"github.com/mynagate/mynagate/offline/policy"
	"github.com/mynagate/mynagate/offline/whitelist"
	"github.com/mynagate/mynagate/reader"
	"github.com/mynagate/mynagate/sync/outbox"
	"github.com/mynagate/mynagate/sync/uplink"
)

// gate is a running gate: the parts of a config opened and wired together.
type gate struct {
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
}

// cardKeyer opens the card-key secret: in the HSM when one is configured, else
// from the demo secret file.
func (g *gate) cardKeyer() (cardkey.Keyer, error) {
	if g.cfg.HSM.Module == "" {
		return cardkey.LoadSecretFile(g.cfg.CardKey.SecretFile)
	}
	var err error
	if g.hsm, err = openHSM(g.cfg); err != nil {
		return nil, err
	}
	return g.hsm.CardKeyer(g.cfg.CardKey.HSMLabel)
}

// openPINLess builds the PIN-less authenticator from the institution
// certificate and the HSM's institution key.
func openPINLess(cfg *config.Config, h *hsm.HSM, log *slog.Logger) (*pinless.Authenticator, error) {
	der, err := os.ReadFile(cfg.PINLess.Certificate)
	if err != nil {
		return nil, fmt.Errorf("pinless: institution certificate: %w", err)
	}
	signer, err := h.InstitutionSigner(cfg.HSM.InstitutionKeyLabel)
	if err != nil {
		return nil, fmt.Errorf("pinless: %w", err)
	}
	a, err := pinless.NewAuthenticator(der, cfg.PINLess.InstitutionCode, signer)
	if err != nil {
		return nil, err
	}
	if exp := a.Certificate().NotAfter; time.Until(exp) < 30*24*time.Hour {
		log.Warn("institution certificate expires soon; cards will refuse this gate after it", "not_after", exp, "hint", "request a renewed certificate from the PIN-less authority")
	}
	return a, nil
}

// openHSM opens the configured PKCS#11 token.
func openHSM(cfg *config.Config) (*hsm.HSM, error) {
	return hsm.Open(hsm.Config{Module: cfg.HSM.Module, TokenLabel: cfg.HSM.TokenLabel, PINFile: cfg.HSM.PINFile, MaxSessions: cfg.HSM.MaxSessions})
}

// newLogger returns the daemon's logger: text lines on w at the configured level.
func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
}

// openGate opens every part the config names; console is where console
// stand-ins for absent hardware write. On error, what was opened is closed again.
func openGate(cfg *config.Config, log *slog.Logger, console io.Writer) (*gate, error) {
	g := &gate{cfg: cfg, log: log}
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
	if g.list, err = whitelist.Open(cfg.WhitelistPath(), whitelist.Options{Preload: true}); err != nil {
		return nil, fmt.Errorf("whitelist: %w", err)
	}
	if g.outbox, err = outbox.Open(cfg.OutboxPath(), outbox.Options{}); err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	var link agent.Link
	if cfg.MQTT.Broker != "" {
		ucfg := uplink.Config{
			Broker: cfg.MQTT.Broker, ClientID: cfg.MQTT.ClientID, Prefix: cfg.MQTT.Prefix,
			Site: cfg.Site, Gate: cfg.Gate, Username: cfg.MQTT.Username,
			CAFile: cfg.MQTT.CAFile, CertFile: cfg.MQTT.CertFile, KeyFile: cfg.MQTT.KeyFile,
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
	pol := policy.Policy{Accept: cfg.Policy.Accept, Fallback: cfg.Policy.Fallback, Location: loc, ExitGrace: time.Duration(cfg.Policy.ExitGrace)}
	if err := pol.Validate(); err != nil {
		return nil, err
	}
	g.agent = &agent.Agent{
		Site: cfg.Site, Gate: cfg.Gate, Lanes: lanes, Policy: pol,
		Roots: roots, Keyer: g.keyer, List: g.list, Journal: g.outbox,
		Signal: g.hw, Turnstile: g.hw, Link: link, Log: log,
		Receipts: agent.Receipts{Event: cfg.Receipt.Event, GateLabel: cfg.Receipt.GateLabel, Shelter: cfg.Receipt.Shelter},
	}
	if cfg.Hardware.Printer != nil {
		g.agent.Printer = g.hw
	}
	if cfg.Policy.Emergency {
		g.agent.Emergency.Store(true)
		log.Warn("emergency declared in the config: fallback assurance levels are accepted", "fallback", cfg.Policy.Fallback)
	}
	if cfg.PINLess.Certificate != "" {
		if g.agent.PINLess, err = openPINLess(cfg, g.hsm, log); err != nil {
			return nil, err
		}
	}
	g.watcher = &reader.Watcher{Patterns: patterns, Log: log.With("part", "reader")}
	opened = true
	return g, nil
}

// Run serves taps and syncs until ctx is done, keeping systemd informed.
func (g *gate) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(ctx)
	defer func() { cancel(); wg.Wait() }()
	if g.uplink != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := g.uplink.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
				g.log.Error("uplink stopped", "err", err)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		g.passages(ctx)
	}()
	if iv := sdnotify.WatchdogInterval(); iv > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.NewTicker(iv)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					sdnotify.Notify("WATCHDOG=1")
				}
			}
		}()
	}
	g.log.Info("gate ready", "site", g.cfg.Site, "gate", g.cfg.Gate, "mode", g.cfg.Mode, "lanes", len(g.cfg.Lanes), "list_version", g.list.Version())
	sdnotify.Notify("READY=1\nSTATUS=deciding taps")
	err := g.watcher.Run(ctx, g.agent.Tap)
	sdnotify.Notify("STOPPING=1")
	return err
}

// passages annuls admitted entries nobody walked through (with a passage
// sensor configured; otherwise no results arrive).
func (g *gate) passages(ctx context.Context) {
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

// Close closes what openGate opened.
func (g *gate) Close() {
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
