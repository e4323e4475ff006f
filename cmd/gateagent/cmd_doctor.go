package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"syscall"
	"text/tabwriter"
	"time"

	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/mynagate/mynagate/config"
	"github.com/mynagate/mynagate/hw"
	"github.com/mynagate/mynagate/offline/certcheck"
	"github.com/mynagate/mynagate/offline/whitelist"
	"github.com/mynagate/mynagate/reader"
	"github.com/mynagate/mynagate/reader/jpki"
)

func init() {
	register("doctor", "check readers, roots, card key, stores, disk, clock and broker, with a verdict and a hint each", doctorCmd)
}

// finding is one line of the doctor's report.
type finding struct {
	Part    string `json:"part"`
	OK      bool   `json:"ok"`
	Verdict string `json:"verdict"`
	Hint    string `json:"hint,omitempty"`
}

// minFreeBytes is the free space below which the doctor warns: the outbox must
// always be able to record the next taps.
const minFreeBytes = 256 << 20

func doctorCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("gateagent doctor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "/etc/mynagate/gateagent.json", "config file")
	asJSON := fs.Bool("json", false, "one JSON object per finding")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var found []finding
	add := func(f finding) { found = append(found, f) }
	cfg, err := config.Load(*path)
	if err != nil {
		add(finding{Part: "config", Verdict: err.Error(), Hint: "fix the config; README.md lists the keys"})
	} else {
		add(finding{Part: "config", OK: true, Verdict: fmt.Sprintf("%s: site %s, gate %s, mode %s, %d lane(s)", *path, cfg.Site, cfg.Gate, cfg.Mode, len(cfg.Lanes))})
	}
	found = append(found, checkReaders(cfg)...)
	add(checkClock(time.Now()))
	if cfg != nil {
		add(checkRoots(cfg))
		add(checkSecret(cfg))
		add(checkDisk(cfg.DataDir))
		found = append(found, checkWhitelist(cfg, time.Now())...)
		add(checkBroker(ctx, cfg))
		for _, f := range hw.Check(ctx, cfg.Hardware) {
			add(finding{Part: f.Part, OK: f.OK, Verdict: f.Verdict, Hint: f.Hint})
		}
	}
	failed := 0
	p := printer{w: stdout, json: *asJSON}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	for _, f := range found {
		if !f.OK {
			failed++
		}
		if p.json {
			p.emit(f, "")
			continue
		}
		mark := "ok  "
		if !f.OK {
			mark = "FAIL"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", mark, f.Part, f.Verdict)
		if f.Hint != "" {
			fmt.Fprintf(tw, "\t\t→ %s\n", f.Hint)
		}
	}
	tw.Flush()
	if failed > 0 {
		return fmt.Errorf("%d of %d checks failed", failed, len(found))
	}
	return nil
}

func checkReaders(cfg *config.Config) []finding {
	rs, err := reader.List()
	if err != nil {
		return []finding{{Part: "readers", Verdict: err.Error(), Hint: "start pcscd: systemctl start pcscd.socket"}}
	}
	if len(rs) == 0 {
		return []finding{{Part: "readers", Verdict: "pcscd runs but sees no reader", Hint: "plug in the reader; `lsusb` should list it; unsupported readers need their IFD driver"}}
	}
	var out []finding
	for _, r := range rs {
		f := finding{Part: "reader " + r.Name, OK: true, Verdict: "no card"}
		if r.Card {
			f = probeCard(r)
		}
		out = append(out, f)
	}
	if cfg == nil {
		return out
	}
	for _, l := range cfg.Lanes {
		matched := false
		for _, r := range rs {
			matched = matched || reader.Match(l.Reader, r.Name)
		}
		if !matched {
			out = append(out, finding{Part: "lane " + l.Name, Verdict: fmt.Sprintf("no reader matches %q", l.Reader),
				Hint: "set lanes[].reader to one of the reader names above (patterns like \"ACS*\" work)"})
		}
	}
	return out
}

// probeCard asks the card on a reader for its JPKI token label, so the doctor
// tells a working reader and card from a card that does not answer.
func probeCard(r reader.Status) finding {
	f := finding{Part: "reader " + r.Name, OK: true}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	err := reader.Once(ctx, r.Name, func(tap reader.Tap) error {
		c := jpki.New(tap.Card, nil)
		if err := c.SelectAP(); err != nil {
			return err
		}
		tok, err := c.ReadToken()
		if err == nil {
			f.Verdict = fmt.Sprintf("card answers: %s (%s), ATR %X", tok.Label, tok.Kind, r.ATR)
		}
		return err
	})
	switch {
	case errors.Is(err, jpki.ErrNotJPKI):
		f.Verdict = fmt.Sprintf("card answers but is not a My Number card, ATR %X", r.ATR)
	case err != nil:
		f.OK, f.Verdict, f.Hint = false, fmt.Sprintf("card present but does not answer: %v", err), "reseat the card; if every card fails, replace the reader"
	}
	return f
}

// checkClock flags a clock that cannot be right: certificate validity and
// ticket windows are judged by it, offline.
func checkClock(now time.Time) finding {
	if now.Year() < 2025 {
		return finding{Part: "clock", Verdict: "gate clock reads " + now.UTC().Format(time.RFC3339),
			Hint: "set the time (timedatectl set-ntp true, or an RTC battery): every certificate would look not yet valid"}
	}
	f := finding{Part: "clock", OK: true, Verdict: now.UTC().Format(time.RFC3339)}
	if _, err := os.Stat("/run/systemd/timesync/synchronized"); err == nil {
		f.Verdict += ", synchronised by systemd-timesyncd"
	}
	return f
}

func checkRoots(cfg *config.Config) finding {
	if _, err := certcheck.LoadRoots(cfg.Roots...); err != nil {
		return finding{Part: "roots", Verdict: err.Error(), Hint: "install the J-LIS user-authentication root certificates named in roots"}
	}
	return finding{Part: "roots", OK: true, Verdict: fmt.Sprintf("%d pinned root file(s) load", len(cfg.Roots))}
}

func checkSecret(cfg *config.Config) finding {
	if cfg.HSM.Module != "" {
		return checkHSM(cfg)
	}
	fi, err := os.Stat(cfg.CardKey.SecretFile)
	switch {
	case err != nil:
		return finding{Part: "card key", Verdict: err.Error(), Hint: "install the card-key secret from the hub (or use the HSM)"}
	case fi.Mode().Perm()&0o077 != 0:
		return finding{Part: "card key", Verdict: fmt.Sprintf("%s has mode %#o", cfg.CardKey.SecretFile, fi.Mode().Perm()), Hint: "chmod 600 " + cfg.CardKey.SecretFile}
	}
	return finding{Part: "card key", OK: true, Verdict: "secret file present (demo grade: production keeps it in the HSM)"}
}

func checkDisk(dir string) finding {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return finding{Part: "disk", Verdict: err.Error(), Hint: "create data_dir and give the service user write access"}
	}
	free := int64(st.Bavail) * st.Bsize
	v := fmt.Sprintf("%s: %d MiB free", dir, free>>20)
	if free < minFreeBytes {
		return finding{Part: "disk", Verdict: v, Hint: "free disk space: below 256 MiB the gate risks being unable to record taps"}
	}
	return finding{Part: "disk", OK: true, Verdict: v}
}

// checkWhitelist reports the list, and each CRL applied at the gate: a CRL
// past its next update is a warning (revocations since are unknown).
func checkWhitelist(cfg *config.Config, now time.Time) []finding {
	s, err := whitelist.Open(cfg.WhitelistPath(), whitelist.Options{ReadOnly: true, Timeout: time.Second})
	if errors.Is(err, os.ErrNotExist) {
		return []finding{{Part: "whitelist", Verdict: "no whitelist yet at " + cfg.WhitelistPath(), Hint: "import one (gateagent whitelist import) or connect the gate to the hub"}}
	}
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return []finding{{Part: "whitelist", OK: true, Verdict: "in use by the running gateagent"}}
		}
		return []finding{{Part: "whitelist", Verdict: err.Error(), Hint: "see the gate log"}}
	}
	defer s.Close()
	st, err := s.Stats()
	if err != nil {
		return []finding{{Part: "whitelist", Verdict: err.Error()}}
	}
	f := finding{Part: "whitelist", OK: st.Entries > 0, Verdict: fmt.Sprintf("version %d, %d entries, %d revoked, applied %s", st.Version, st.Entries, st.Revoked, st.AppliedAt.Format(time.RFC3339))}
	if st.Entries == 0 {
		f.Hint = "the list is empty: every card will be denied not_listed"
	}
	out := []finding{f}
	crls, err := s.CRLs()
	if err != nil {
		return append(out, finding{Part: "crl", Verdict: err.Error()})
	}
	for _, c := range crls {
		cf := finding{Part: "crl", OK: true, Verdict: fmt.Sprintf("%s: number %s, %d entries, next update %s", c.Issuer, orDash(c.Number), c.Entries, c.NextUpdate.Format(time.RFC3339))}
		if c.Stale(now) {
			cf.Verdict = "warning: STALE since " + c.NextUpdate.Format(time.RFC3339) + "; " + cf.Verdict
			cf.Hint = "import the current CRL (gateagent whitelist revoke --crl FILE --roots ROOT.pem); cards revoked since are still admitted"
		}
		out = append(out, cf)
	}
	return out
}

func checkBroker(ctx context.Context, cfg *config.Config) finding {
	if cfg.MQTT.Broker == "" {
		return finding{Part: "broker", OK: true, Verdict: "none configured: taps stay on this gate", Hint: "set mqtt.broker to sync with the hub"}
	}
	u, err := url.Parse(cfg.MQTT.Broker)
	if err != nil {
		return finding{Part: "broker", Verdict: err.Error()}
	}
	d := net.Dialer{Timeout: 3 * time.Second}
	c, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return finding{Part: "broker", Verdict: err.Error(), Hint: "the gate keeps deciding and recording offline; check the network and the broker address"}
	}
	c.Close()
	return finding{Part: "broker", OK: true, Verdict: u.Host + " reachable"}
}

// checkHSM opens the token and looks for both keys the gate needs.
func checkHSM(cfg *config.Config) finding {
	h, err := openHSM(cfg)
	if err != nil {
		return finding{Part: "hsm", Verdict: err.Error(), Hint: "check hsm.module, hsm.token_label and the PIN file; `gateagent hsm status` says more"}
	}
	defer h.Close()
	st, err := h.Status(cfg.CardKey.HSMLabel, cfg.HSM.InstitutionKeyLabel)
	if err != nil {
		return finding{Part: "hsm", Verdict: err.Error()}
	}
	var missing []string
	for _, k := range st.Keys {
		if !k.Found {
			missing = append(missing, k.Label)
		}
	}
	if len(missing) > 0 {
		return finding{Part: "hsm", Verdict: fmt.Sprintf("token %q lacks %v", cfg.HSM.TokenLabel, missing), Hint: "create them with `gateagent hsm init` (import the card-key secret from the hub)"}
	}
	return finding{Part: "hsm", OK: true, Verdict: fmt.Sprintf("token %q holds the card-key secret and the institution key", cfg.HSM.TokenLabel)}
}
