package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/mynagate/mynagate/config"
	"github.com/mynagate/mynagate/gate"
	"github.com/mynagate/mynagate/hw"
	"github.com/mynagate/mynagate/offline/certcheck"
	"github.com/mynagate/mynagate/offline/hsm"
	"github.com/mynagate/mynagate/offline/whitelist"
	"github.com/mynagate/mynagate/reader"
	"github.com/mynagate/mynagate/reader/jpki"
	"github.com/mynagate/mynagate/sync/lists"
	"github.com/mynagate/mynagate/sync/uplink"
)

func init() {
	register("doctor", "check this gate's readers, roots, HSM, institution certificate, hub keys, stores, disk, clock, broker login and metrics port, with a verdict and a hint each", doctorCmd)
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
		found = append(found, checkSecret(cfg, time.Now())...)
		add(checkHubKeys(cfg))
		add(checkDisk(cfg.DataDir))
		found = append(found, checkWhitelist(cfg, time.Now())...)
		found = append(found, checkBroker(cfg)...)
		add(checkMetricsPort(cfg.MetricsListen))
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

// checkReaders reports the readers this gate's lanes name, probing the card
// on each named one. A lane whose reader is "*" is satisfied by any reader and
// probes none: readers the config does not name belong to someone else (another
// program, or another test's vpcd slot), and a probe would take their card.
func checkReaders(cfg *config.Config) []finding {
	rs, err := reader.List()
	if err != nil {
		return []finding{{Part: "readers", Verdict: err.Error(), Hint: "start pcscd: systemctl start pcscd.socket"}}
	}
	names := make([]string, len(rs))
	for i, r := range rs {
		names[i] = r.Name
	}
	if cfg == nil {
		if len(rs) == 0 {
			return []finding{{Part: "readers", Verdict: "pcscd runs but sees no reader", Hint: "plug in the reader; `lsusb` should list it; unsupported readers need their IFD driver"}}
		}
		return []finding{{Part: "readers", OK: true, Verdict: fmt.Sprintf("pcscd sees %q (not probed: the config did not load)", names)}}
	}
	var out []finding
	probed := map[string]bool{}
	for _, l := range cfg.Lanes {
		var matched []reader.Status
		for _, r := range rs {
			if reader.Match(l.Reader, r.Name) {
				matched = append(matched, r)
			}
		}
		part := "lane " + l.Name
		switch {
		case len(matched) == 0:
			v := fmt.Sprintf("no reader matches %q; pcscd sees %q", l.Reader, names)
			if len(rs) == 0 {
				v = fmt.Sprintf("no reader matches %q; pcscd sees no reader", l.Reader)
			}
			out = append(out, finding{Part: part, Verdict: v,
				Hint: "plug in the reader (`lsusb` should list it), or set lanes[].reader to one of the names pcscd sees (patterns like \"ACS*\" work)"})
		case l.Reader == "*":
			out = append(out, finding{Part: part, OK: true, Verdict: fmt.Sprintf("any reader: pcscd sees %q (not probed: name the reader in the config to have it probed)", names)})
		default:
			for _, r := range matched {
				if probed[r.Name] {
					continue
				}
				probed[r.Name] = true
				f := finding{OK: true, Verdict: "no card"}
				if r.Card {
					f = probeCard(r)
				}
				f.Part = part
				f.Verdict = r.Name + ": " + f.Verdict
				out = append(out, f)
			}
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

// checkSecret checks the card-key secret: in the HSM (with the institution
// certificate that goes with the HSM's key), or in the demo secret file.
func checkSecret(cfg *config.Config, now time.Time) []finding {
	if cfg.HSM.Module != "" {
		h, err := gate.OpenHSM(cfg)
		if err != nil {
			out := []finding{{Part: "hsm", Verdict: err.Error(), Hint: "check hsm.module, hsm.token_label and the PIN file, and that the service user is in group softhsm; `gateagent hsm status` says more"}}
			if cfg.PINLess.Certificate != "" {
				// The file can be checked without the key it certifies.
				f := finding{Part: "institution certificate", Verdict: "not matched against the HSM key: the HSM does not open"}
				if _, err := institutionCertificate(cfg, now); err != nil {
					f.Verdict = err.Error()
				}
				out = append(out, f)
			}
			return out
		}
		defer h.Close()
		out := []finding{checkHSM(cfg, h)}
		if cfg.PINLess.Certificate != "" {
			out = append(out, checkInstitution(cfg, h, now))
		}
		return out
	}
	return []finding{checkSecretFile(cfg)}
}

func checkSecretFile(cfg *config.Config) finding {
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

// checkBroker connects to the broker as the gate does (credentials, TLS),
// checks the hub keys against the hub's retained whitelist snapshot, and
// disconnects: a refused login is told apart from a broker out of reach. It
// uses its own client id and a clean session, so a running gate keeps its
// connection and its queued messages.
func checkBroker(cfg *config.Config) []finding {
	f, c := connectBroker(cfg)
	if c == nil {
		return []finding{f}
	}
	defer c.Disconnect(250)
	return []finding{f, checkRetainedList(cfg, c)}
}

// connectBroker logs in; the client is nil when it could not.
func connectBroker(cfg *config.Config) (finding, mqtt.Client) {
	if cfg.MQTT.Broker == "" {
		return finding{Part: "broker", OK: true, Verdict: "none configured: taps stay on this gate", Hint: "set mqtt.broker to sync with the hub"}, nil
	}
	u, err := url.Parse(cfg.MQTT.Broker)
	if err != nil {
		return finding{Part: "broker", Verdict: err.Error(), Hint: "mqtt.broker is tcp://host:port or ssl://host:port"}, nil
	}
	id := cfg.MQTT.ClientID
	if id == "" {
		id = "mynagate-" + cfg.Site + "-" + cfg.Gate
	}
	opts := mqtt.NewClientOptions().AddBroker(cfg.MQTT.Broker).SetClientID(id + "-doctor").
		SetUsername(cfg.MQTT.Username).SetCleanSession(true).
		SetAutoReconnect(false).SetConnectRetry(false).SetConnectTimeout(5 * time.Second).
		// A fixed version: paho otherwise retries a refused CONNECT as MQTT
		// 3.1 and reports that second answer, hiding the refusal.
		SetProtocolVersion(4)
	if cfg.MQTT.PasswordFile != "" {
		pw, err := os.ReadFile(cfg.MQTT.PasswordFile)
		if err != nil {
			return finding{Part: "broker", Verdict: fmt.Sprintf("mqtt password: %v", err), Hint: "the password file must be readable by the service user"}, nil
		}
		opts.SetPassword(strings.TrimSpace(string(pw)))
	}
	if u.Scheme == "ssl" || cfg.MQTT.CAFile != "" || cfg.MQTT.CertFile != "" {
		tc, err := brokerTLS(cfg)
		if err != nil {
			return finding{Part: "broker", Verdict: err.Error(), Hint: "check mqtt.ca_file, cert_file and key_file (gateagent config check)"}, nil
		}
		opts.SetTLSConfig(tc)
	}
	c := mqtt.NewClient(opts)
	tok := c.Connect()
	if !tok.WaitTimeout(15 * time.Second) {
		return finding{Part: "broker", Verdict: u.Host + ": no answer to CONNECT within 15 s", Hint: "the gate keeps deciding and recording offline; check the network and the broker address"}, nil
	}
	err = tok.Error()
	var unknownCA x509.UnknownAuthorityError
	var hostname x509.HostnameError
	switch {
	case errors.Is(err, packets.ErrorRefusedBadUsernameOrPassword), errors.Is(err, packets.ErrorRefusedNotAuthorised):
		return finding{Part: "broker", Verdict: fmt.Sprintf("%s: authentication refused for user %q: %v", u.Host, cfg.MQTT.Username, err),
			Hint: "check mqtt.username and the password in mqtt.password_file against the hub's users[] for this gate"}, nil
	case errors.Is(err, packets.ErrorRefusedIDRejected):
		return finding{Part: "broker", Verdict: fmt.Sprintf("%s: client id %q rejected", u.Host, id+"-doctor"), Hint: "check mqtt.client_id: the broker may restrict client ids"}, nil
	case errors.As(err, &unknownCA), errors.As(err, &hostname):
		return finding{Part: "broker", Verdict: fmt.Sprintf("%s: TLS: %v", u.Host, err), Hint: "mqtt.ca_file must hold the CA that signed the broker's certificate, issued for the host in mqtt.broker"}, nil
	case err != nil:
		return finding{Part: "broker", Verdict: fmt.Sprintf("%s unreachable: %v", u.Host, err), Hint: "the gate keeps deciding and recording offline; check the network and the broker address"}, nil
	}
	who := "anonymously"
	if cfg.MQTT.Username != "" {
		who = fmt.Sprintf("as %q", cfg.MQTT.Username)
	}
	return finding{Part: "broker", OK: true, Verdict: fmt.Sprintf("%s: connected %s", u.Host, who)}, c
}

// retainedWait is how long the doctor waits for the hub's retained snapshot
// manifest: a broker sends retained messages right after the subscription.
const retainedWait = 5 * time.Second

// checkRetainedList verifies the hub's retained whitelist snapshot manifest
// with the hub keys this gate pins: a key mismatch makes the gate refuse
// every list the hub publishes.
func checkRetainedList(cfg *config.Config, c mqtt.Client) finding {
	f := finding{Part: "hub list"}
	var keys []ed25519.PublicKey
	for _, p := range cfg.HubKeys {
		k, err := lists.LoadPublicKey(p)
		if err != nil {
			f.Verdict, f.Hint = "not checked: a hub key does not load", "see the hub keys finding"
			return f
		}
		keys = append(keys, k)
	}
	prefix := cfg.MQTT.Prefix
	if prefix == "" {
		prefix = uplink.DefaultPrefix
	}
	topic := lists.ManifestTopic(prefix, cfg.Site, "whitelist", lists.Snapshot, 0)
	got := make(chan []byte, 1)
	tok := c.Subscribe(topic, 1, func(_ mqtt.Client, m mqtt.Message) {
		select {
		case got <- m.Payload():
		default:
		}
	})
	if !tok.WaitTimeout(retainedWait) || tok.Error() != nil {
		f.Verdict, f.Hint = fmt.Sprintf("cannot subscribe to %s: %v", topic, tok.Error()), "the hub's broker must let this gate read its site's topics"
		return f
	}
	select {
	case b := <-got:
		if len(keys) == 0 {
			f.Verdict, f.Hint = "the hub publishes a whitelist, but hub_keys is empty: the gate refuses it", "list the hub's public key in hub_keys"
			return f
		}
		m, err := lists.ParseManifest(b, keys)
		switch {
		case errors.Is(err, lists.ErrSignature):
			f.Verdict, f.Hint = "the hub's whitelist snapshot is signed with a key not in hub_keys: the gate refuses every list", "copy the hub's current public key (gatehub keygen printed it) into hub_keys"
		case err != nil:
			f.Verdict = err.Error()
		case m.Site != cfg.Site:
			f.Verdict = fmt.Sprintf("the snapshot on %s is signed for site %q", topic, m.Site)
		default:
			f.OK, f.Verdict = true, fmt.Sprintf("the hub keys verify the hub's whitelist snapshot v%d", m.Version)
		}
	case <-time.After(retainedWait):
		f.OK, f.Verdict = true, "the hub has published no whitelist snapshot for site "+cfg.Site+" yet"
		f.Hint = "gatehub publish --site " + cfg.Site + " --snapshot"
	}
	return f
}

// brokerTLS is the TLS the uplink uses: the pinned CA and the client
// certificate when the config names them.
func brokerTLS(cfg *config.Config) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.MQTT.CAFile != "" {
		b, err := os.ReadFile(cfg.MQTT.CAFile)
		if err != nil {
			return nil, fmt.Errorf("mqtt.ca_file: %w", err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("mqtt.ca_file %s: no PEM certificate in it", cfg.MQTT.CAFile)
		}
	}
	if cfg.MQTT.CertFile != "" || cfg.MQTT.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.MQTT.CertFile, cfg.MQTT.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("mqtt client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// checkHubKeys loads the hub's list-signing keys the gate pins.
func checkHubKeys(cfg *config.Config) finding {
	if len(cfg.HubKeys) == 0 {
		f := finding{Part: "hub keys", OK: true, Verdict: "none: lists come only from gateagent whitelist import"}
		if cfg.MQTT.Broker != "" {
			f.OK, f.Verdict = false, "none, so the lists the hub publishes are refused"
			f.Hint = "copy the hub's public key (gatehub keygen printed it) and list it in hub_keys"
		}
		return f
	}
	for i, p := range cfg.HubKeys {
		if _, err := lists.LoadPublicKey(p); err != nil {
			return finding{Part: "hub keys", Verdict: fmt.Sprintf("hub_keys[%d]: %v", i, err), Hint: "the file must be the PEM PUBLIC KEY gatehub keygen printed"}
		}
	}
	return finding{Part: "hub keys", OK: true, Verdict: fmt.Sprintf("%d Ed25519 key(s) load", len(cfg.HubKeys))}
}

// checkInstitution checks the PIN-less institution certificate: in date, for
// the configured institution, and certifying the HSM's institution key.
func checkInstitution(cfg *config.Config, h *hsm.HSM, now time.Time) finding {
	f := finding{Part: "institution certificate"}
	c, err := institutionCertificate(cfg, now)
	if err != nil {
		f.Verdict, f.Hint = err.Error(), "install the certificate the PIN-less authority issued for this gate's institution key"
		return f
	}
	signer, err := h.InstitutionSigner(cfg.HSM.InstitutionKeyLabel)
	if err != nil {
		f.Verdict, f.Hint = err.Error(), "create the institution key with gateagent hsm init, then have it certified"
		return f
	}
	if pub, ok := signer.Public().(*ecdsa.PublicKey); !ok || !pub.Equal(c.PublicKey) {
		f.Verdict = fmt.Sprintf("%s certifies another key than the HSM's %q", cfg.PINLess.Certificate, cfg.HSM.InstitutionKeyLabel)
		f.Hint = "the certificate is another gate's, or the key was re-created: have the public key from gateagent hsm init certified"
		return f
	}
	days := int(gate.CertEnd(c).Sub(now).Hours() / 24)
	f.Verdict = fmt.Sprintf("institution %s, valid through %s (%d day(s) left), certifies the HSM key %q", c.InstitutionCode, c.NotAfter.Format(time.DateOnly), days, cfg.HSM.InstitutionKeyLabel)
	f.OK = days >= gate.CertRenewDays
	if !f.OK {
		f.Hint = "request a renewed certificate from the PIN-less authority now: cards refuse this gate once it ends"
	}
	return f
}

// checkMetricsPort checks that the gate can serve metrics_listen: the address
// is free, or a running gateagent already serves its metrics there.
func checkMetricsPort(addr string) finding {
	if addr == "" {
		return finding{Part: "metrics", OK: true, Verdict: "metrics_listen not set: no Prometheus endpoint"}
	}
	l, err := net.Listen("tcp", addr)
	if err == nil {
		l.Close()
		return finding{Part: "metrics", OK: true, Verdict: addr + " is free for the metrics endpoint"}
	}
	if !errors.Is(err, syscall.EADDRINUSE) {
		return finding{Part: "metrics", Verdict: err.Error(), Hint: "metrics_listen must be an address of this machine, e.g. 127.0.0.1:9464"}
	}
	client := http.Client{Timeout: 3 * time.Second}
	if resp, err := client.Get("http://" + addr + "/metrics"); err == nil {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK && strings.Contains(string(body), "mynagate_") {
			return finding{Part: "metrics", OK: true, Verdict: addr + " serves the gate's metrics (gateagent runs)"}
		}
	}
	return finding{Part: "metrics", Verdict: addr + " is taken by another program", Hint: "find it with `ss -ltnp`, or choose another port for metrics_listen"}
}

// checkHSM looks in the open token for both keys the gate needs.
func checkHSM(cfg *config.Config, h *hsm.HSM) finding {
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
	if next := cfg.CardKey.NextHSMLabel; next != "" {
		if _, err := h.CardKeyer(next); err != nil {
			return finding{Part: "hsm", Verdict: fmt.Sprintf("card-key rotation: %v", err), Hint: "import the next secret with `gateagent hsm init --hsm-cardkey-label " + next + " --import-secret FILE`, or remove card_key.next_hsm_label"}
		}
		return finding{Part: "hsm", OK: true, Verdict: fmt.Sprintf("token %q holds the card-key secret, the next one (%s, rotating) and the institution key", cfg.HSM.TokenLabel, next)}
	}
	return finding{Part: "hsm", OK: true, Verdict: fmt.Sprintf("token %q holds the card-key secret and the institution key", cfg.HSM.TokenLabel)}
}
