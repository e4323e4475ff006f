// Package config is the gate's configuration file: one JSON document decoded
// strictly (an unknown key is an error naming the file and the key), with
// defaults filled in and every value checked before the daemon starts.
package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/mynagate/mynagate/internal/netaddr"

	"github.com/mynagate/mynagate/event"
	"github.com/mynagate/mynagate/hw"
	"github.com/mynagate/mynagate/sync/peers"
)

// Modes of a gate. The mode picks defaults an operator of that kind of gate
// expects; see README.md.
const (
	ModeVenue   = "venue"
	ModeShelter = "shelter"
	ModeKiosk   = "kiosk"
)

// Config is a gate's whole configuration.
type Config struct {
	// Site and Gate name this gate in events and MQTT topics.
	Site string `json:"site"`
	Gate string `json:"gate"`
	// Mode is venue, shelter or kiosk.
	Mode string `json:"mode"`
	// DataDir holds the outbox and whitelist databases.
	DataDir string `json:"data_dir"`
	// Lanes map readers to what a tap on them means.
	Lanes []Lane `json:"lanes"`
	// Roots are PEM files of the pinned J-LIS user-authentication roots.
	Roots []string `json:"roots"`
	// ClockSkew is how far the gate clock may be off when checking validity.
	ClockSkew Duration `json:"clock_skew"`
	// Policy says which assurance levels admit and how time windows are read.
	Policy Policy `json:"policy"`
	// CardKey says where the card-key HMAC secret lives.
	CardKey CardKey `json:"card_key"`
	// HSM is the PKCS#11 token; empty Module means none.
	HSM HSM `json:"hsm"`
	// PINLess is the institution's PIN-less credential (docs/pinless.md); its
	// private key is the HSM's institution key.
	PINLess PINLess `json:"pinless"`
	// MQTT is the hub connection; an empty broker runs the gate offline only.
	MQTT MQTT `json:"mqtt"`
	// HubKeys are the pinned public keys (PEM) of the hub that signs lists; a
	// list signed by any other key is refused. Empty: lists come only by
	// `gateagent whitelist import`.
	HubKeys []string `json:"hub_keys"`
	// MinListVersions is, by list name (whitelist, config), the lowest
	// version the gate may apply: the versions the hub had published when
	// the gate was provisioned (gateagent enrol writes them from the bundle),
	// so that a fresh or reset gate cannot be fed an older signed list that
	// would undo a revocation or bring back an ended emergency.
	MinListVersions map[string]uint64 `json:"min_list_versions,omitempty"`
	// OutboxMaxMB is the outbox's disk budget in MiB (default 512); past it
	// taps cannot be recorded and the mode's fail-open rule applies.
	OutboxMaxMB int64 `json:"outbox_max_mb"`
	// FailOpen admits good cards even when their tap cannot be recorded on
	// disk, holding the record in memory (default: true at a shelter, which
	// never turns an evacuee away; false elsewhere).
	FailOpen *bool `json:"fail_open"`
	// MetricsListen is the address of the Prometheus endpoint, such as
	// "127.0.0.1:9464"; empty disables it.
	MetricsListen string `json:"metrics_listen"`
	// Log is the log level: debug, info, warn, error.
	Log string `json:"log"`
	// Hardware configures buzzer, LEDs, relay, passage sensor and printer
	// (package hw); absent parts get console stand-ins.
	Hardware hw.Config `json:"hw"`
	// Receipt says what the printer prints.
	Receipt Receipt `json:"receipt"`
	// AcceptUnexpiringLists accepts signed lists without an expiry, which
	// hubs older than list expiry publish; while it is on, a replayed old
	// version is refused only by min_list_versions. Turn it on only during a
	// hub upgrade.
	AcceptUnexpiringLists bool `json:"accept_unexpiring_lists,omitempty"`

	// Place is the named place of this gate within its site, such as one
	// shelter of a municipality's site; presence is counted per place
	// (default: the gate name).
	Place string `json:"place"`
	// Shelter tunes a shelter station (mode shelter).
	Shelter Shelter `json:"shelter"`
	// Control is the local control socket staff commands talk to.
	Control Control `json:"control"`
	// Kiosk is the local API of a kiosk's own screen, for enrol and
	// identify lanes.
	Kiosk Kiosk `json:"kiosk"`
	// Peers tunes the site's shared anti-passback view, fed by the other
	// gates' events.
	Peers Peers `json:"peers"`

	// path is the file the config came from, for messages.
	path string
}

// Receipt is the fixed text of receipts; the rest comes from the tap.
type Receipt struct {
	// Event is the venue event's name on seat receipts.
	Event string `json:"event"`
	// GateLabel is the gate's name as printed; default the gate id.
	GateLabel string `json:"gate_label"`
	// Shelter is the shelter's name on check-in slips.
	Shelter string `json:"shelter"`
}

// Shelter tunes a shelter station. At a shelter nobody is turned away: a card
// the station would deny is checked in all the same and flagged to reconcile.
type Shelter struct {
	// CheckoutToggle makes a second tap of a person inside at this place a
	// check-out (default true).
	CheckoutToggle *bool `json:"checkout_toggle"`
}

// Peers tunes how the gate takes its peers' events (package sync/peers).
type Peers struct {
	// MaxAhead is how far a peer's event may be dated ahead of this gate's
	// clock before it is ignored and counted (default 10m): an event dated
	// far ahead by a gate with a wrong clock would otherwise keep its holder
	// inside for ever.
	MaxAhead Duration `json:"max_ahead"`
}

// Control is the owner-only local control socket (`gateagent staff`).
type Control struct {
	// Socket is the unix socket's path; empty disables the socket.
	Socket string `json:"socket"`
	// TokenFile is where the daemon writes a fresh token at each start, mode
	// 0600; a client must present it (default: the socket path + ".token").
	TokenFile string `json:"token_file"`
}

// Kiosk configures the kiosk screen's side of the control socket: with an
// enrol or identify lane and control.socket set, the screen binds cards,
// sends the holder's PIN and follows the taps there (README "Kiosk").
type Kiosk struct {
	// Listen is a loopback address (127.0.0.1:port) where the API is served
	// too, for a browser on the box; empty serves the unix socket only.
	Listen string `json:"listen"`
	// Page serves the example kiosk page at /kiosk/ on Listen.
	Page bool `json:"page"`
	// PINTimeout is how long a tap waits for the PIN; default 60s.
	PINTimeout Duration `json:"pin_timeout"`
}

// KioskKind reports whether lanes of kind k are served by a kiosk screen:
// enrol and identify lanes.
func KioskKind(k event.Kind) bool { return k == event.KindEnrol || k == event.KindIdentify }

// KioskLanes returns the names of the lanes a kiosk screen serves.
func (c *Config) KioskLanes() []string {
	var out []string
	for _, l := range c.Lanes {
		if KioskKind(l.Kind) {
			out = append(out, l.Name)
		}
	}
	return out
}

// Lane is one reader's role.
type Lane struct {
	Name   string     `json:"name"`
	Reader string     `json:"reader"`
	Kind   event.Kind `json:"kind"`
	Zone   string     `json:"zone"`
}

// PINLess is what a gate presents to cards for PIN-less authentication.
type PINLess struct {
	// Certificate is the institution certificate file issued by the PIN-less
	// authority for the HSM's institution key.
	Certificate string `json:"certificate"`
	// InstitutionCode is the 特定機関コード the certificate names.
	InstitutionCode string `json:"institution_code"`
	// AcceptV1 admits cards that speak only version 1 of the protocol, whose
	// answer anyone knowing the holder's PIN can forge (docs/pinless.md §9).
	// Default false.
	AcceptV1 bool `json:"accept_v1"`
	// MaxExchangeMS bounds the live exchange (EXTERNAL AUTHENTICATE to the
	// card's signature) in milliseconds, the relay mitigation of
	// docs/pinless.md §8; 0 measures and logs without a bound.
	MaxExchangeMS int `json:"max_exchange_ms"`
}

// MaxExchange is MaxExchangeMS as a duration (0: no bound).
func (p PINLess) MaxExchange() time.Duration {
	return time.Duration(p.MaxExchangeMS) * time.Millisecond
}

// Policy is the gate's decision policy (see offline/policy).
type Policy struct {
	// Accept lists the assurance levels admitted normally: cert, pin, pinless.
	Accept []string `json:"accept"`
	// Fallback lists levels admitted only during a declared emergency.
	Fallback []string `json:"fallback"`
	// TimeZone is the IANA zone of whitelist entries' daily windows (default
	// Asia/Tokyo).
	TimeZone string `json:"time_zone"`
	// ExitGrace lets an exit through this long after an entry's end.
	ExitGrace Duration `json:"exit_grace"`
	// AntiPassback refuses a second entry of a holder the site counts as
	// inside (default true at a venue).
	AntiPassback *bool `json:"anti_passback"`
	// Emergency declares an emergency: the fallback levels are accepted too.
	Emergency bool `json:"emergency"`
	// CRLMaxStale is how long past its next update an applied CRL may go
	// before the cards of its CA are denied revocation_stale (default 72h at
	// a venue or kiosk, where a revoked card must not get in or be enrolled;
	// "0" never, the default at a shelter, which turns nobody away).
	CRLMaxStale *Duration `json:"crl_max_stale"`
}

// CardKey locates the card-key secret: in the HSM (production, when hsm is
// configured) or, for demos only, in a file.
type CardKey struct {
	// SecretFile is the demo-only secret file; leave it empty with an HSM.
	SecretFile string `json:"secret_file"`
	// HSMLabel is the secret's label in the HSM token.
	HSMLabel string `json:"hsm_label"`
	// NextHSMLabel (or, in a demo, NextSecretFile) names the next secret
	// during a card-key rotation: the gate then finds a card listed under
	// either secret and denies it if either key is revoked (README
	// "Rotating the card-key secret"). Empty outside a rotation.
	NextHSMLabel   string `json:"next_hsm_label"`
	NextSecretFile string `json:"next_secret_file"`
}

// Rotating reports whether a next card-key secret is configured.
func (c CardKey) Rotating() bool { return c.NextHSMLabel != "" || c.NextSecretFile != "" }

// HSM is the PKCS#11 token holding the card-key secret and the institution key
// for PIN-less authentication.
type HSM struct {
	// Module is the PKCS#11 library (SoftHSM2: /usr/lib/softhsm/libsofthsm2.so).
	Module string `json:"module"`
	// TokenLabel names the token.
	TokenLabel string `json:"token_label"`
	// PINFile holds the token's user PIN, readable only by the service user.
	PINFile string `json:"pin_file"`
	// MaxSessions caps the PKCS#11 sessions the gate opens (default 4).
	MaxSessions int `json:"max_sessions"`
	// InstitutionKeyLabel names the institution key pair for PIN-less
	// authentication.
	InstitutionKeyLabel string `json:"institution_key_label"`
}

// MQTT is the broker connection.
type MQTT struct {
	Broker   string `json:"broker"`
	ClientID string `json:"client_id"`
	Prefix   string `json:"prefix"`
	Username string `json:"username"`
	// PasswordFile holds the broker password, so it stays out of the config.
	PasswordFile string `json:"password_file"`
	CAFile       string `json:"ca_file"`
	CertFile     string `json:"cert_file"`
	KeyFile      string `json:"key_file"`
}

// Duration is a time.Duration written as a Go duration string ("5m").
type Duration time.Duration

// UnmarshalJSON reads a duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string like \"5m\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration %q: want a Go duration like \"5m\" or \"300ms\"", s)
	}
	*d = Duration(v)
	return nil
}

// MarshalJSON writes a duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// Load reads and checks a config file. Relative paths inside it are taken
// relative to the file's directory.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	c, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	c.path = path
	c.resolve(filepath.Dir(path))
	return c, nil
}

// Parse decodes a config strictly, fills defaults and validates it.
func Parse(b []byte) (*Config, error) {
	var c Config
	if err := Strict(b, &c); err != nil {
		return nil, err
	}
	c.defaults()
	if err := c.validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// Strict decodes JSON into v refusing unknown keys and trailing data, and
// reports the line of a syntax or type error.
func Strict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			return fmt.Errorf("line %d: %w", line(b, se.Offset), err)
		case errors.As(err, &te):
			return fmt.Errorf("line %d: key %q: %w", line(b, te.Offset), te.Field, err)
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			return fmt.Errorf("unknown key %s (check the spelling; README.md lists the keys)", strings.TrimPrefix(err.Error(), "json: unknown field "))
		}
		return err
	}
	if dec.More() {
		return errors.New("trailing data after the JSON object")
	}
	return nil
}

func line(b []byte, off int64) int {
	off = min(off, int64(len(b)))
	return 1 + bytes.Count(b[:off], []byte{'\n'})
}

func (c *Config) defaults() {
	if c.Mode == "" {
		c.Mode = ModeVenue
	}
	if c.DataDir == "" {
		c.DataDir = "/var/lib/mynagate"
	}
	if c.ClockSkew == 0 {
		c.ClockSkew = Duration(5 * time.Minute)
	}
	if c.Log == "" {
		c.Log = "info"
	}
	if c.Peers.MaxAhead == 0 {
		c.Peers.MaxAhead = Duration(peers.DefaultMaxAhead)
	}
	if c.OutboxMaxMB == 0 {
		c.OutboxMaxMB = 512
	}
	if c.FailOpen == nil {
		c.FailOpen = ptr(c.Mode == ModeShelter)
	}
	if c.Policy.AntiPassback == nil {
		c.Policy.AntiPassback = ptr(c.Mode == ModeVenue)
	}
	if c.Policy.CRLMaxStale == nil {
		stale := Duration(72 * time.Hour)
		if c.Mode == ModeShelter {
			stale = 0
		}
		c.Policy.CRLMaxStale = &stale
	}
	if c.Policy.Accept == nil {
		c.Policy.Accept = []string{"cert"}
	}
	if c.HSM.Module != "" {
		if c.HSM.MaxSessions == 0 {
			c.HSM.MaxSessions = 4
		}
		if c.CardKey.HSMLabel == "" {
			c.CardKey.HSMLabel = "mynagate-cardkey"
		}
		if c.HSM.InstitutionKeyLabel == "" {
			c.HSM.InstitutionKeyLabel = "mynagate-institution"
		}
	}
	if c.Policy.TimeZone == "" {
		c.Policy.TimeZone = "Asia/Tokyo"
	}
	if c.Place == "" {
		c.Place = c.Gate
	}
	if c.Shelter.CheckoutToggle == nil {
		c.Shelter.CheckoutToggle = ptr(true)
	}
	if c.Control.Socket != "" && c.Control.TokenFile == "" {
		c.Control.TokenFile = c.Control.Socket + ".token"
	}
	for i := range c.Lanes {
		l := &c.Lanes[i]
		if l.Kind == "" {
			l.Kind = map[string]event.Kind{ModeVenue: event.KindEntry, ModeShelter: event.KindCheckin, ModeKiosk: event.KindIdentify}[c.Mode]
		}
		if l.Name == "" {
			l.Name = fmt.Sprintf("lane-%d", i+1)
		}
	}
	if len(c.Lanes) == 0 {
		c.Lanes = []Lane{{Name: "lane-1", Reader: "*", Kind: map[string]event.Kind{ModeVenue: event.KindEntry, ModeShelter: event.KindCheckin, ModeKiosk: event.KindIdentify}[c.Mode]}}
	}
}

func (c *Config) validate() error {
	var errs []error
	for _, f := range []struct{ key, v string }{{"site", c.Site}, {"gate", c.Gate}} {
		if f.v == "" {
			errs = append(errs, fmt.Errorf("%s is required", f.key))
		} else if strings.ContainsAny(f.v, "/+#") {
			errs = append(errs, fmt.Errorf("%s %q may not contain '/', '+' or '#' (it is an MQTT topic level)", f.key, f.v))
		}
	}
	switch c.Mode {
	case ModeVenue, ModeShelter, ModeKiosk:
	default:
		errs = append(errs, fmt.Errorf("mode %q: want venue, shelter or kiosk", c.Mode))
	}
	if len(c.Roots) == 0 {
		errs = append(errs, errors.New("roots: at least one pinned root certificate file is required"))
	}
	switch {
	case c.CardKey.SecretFile != "" && c.HSM.Module != "":
		errs = append(errs, errors.New("card_key.secret_file is set but so is hsm: keep the secret in the HSM and drop the file"))
	case c.CardKey.SecretFile == "" && c.HSM.Module == "":
		errs = append(errs, errors.New("card_key: configure hsm (production) or card_key.secret_file (demo only)"))
	}
	switch {
	case c.CardKey.NextSecretFile != "" && c.HSM.Module != "":
		errs = append(errs, errors.New("card_key.next_secret_file is set but so is hsm: import the next secret into the token (gateagent hsm init --hsm-cardkey-label LABEL --import-secret FILE) and name it in card_key.next_hsm_label"))
	case c.CardKey.NextHSMLabel != "" && c.HSM.Module == "":
		errs = append(errs, errors.New("card_key.next_hsm_label is set without hsm: a demo gate names its next secret in card_key.next_secret_file"))
	case c.CardKey.NextHSMLabel != "" && c.CardKey.NextHSMLabel == c.CardKey.HSMLabel:
		errs = append(errs, fmt.Errorf("card_key.next_hsm_label %q is the current secret's label: the next secret needs a label of its own", c.CardKey.NextHSMLabel))
	case c.CardKey.NextSecretFile != "" && c.CardKey.NextSecretFile == c.CardKey.SecretFile:
		errs = append(errs, errors.New("card_key.next_secret_file is the current secret's file: the next secret needs a file of its own"))
	}
	if c.HSM.Module != "" && (c.HSM.TokenLabel == "" || c.HSM.PINFile == "") {
		errs = append(errs, errors.New("hsm: module, token_label and pin_file are all required"))
	}
	for i, l := range c.Lanes {
		switch l.Kind {
		case event.KindEntry, event.KindExit, event.KindCheckin, event.KindCheckout, event.KindIdentify, event.KindEnrol:
		default:
			errs = append(errs, fmt.Errorf("lanes[%d].kind %q: want entry, exit, checkin, checkout, identify or enrol", i, l.Kind))
		}
		if l.Reader == "" {
			errs = append(errs, fmt.Errorf("lanes[%d].reader is required (a PC/SC reader name or pattern; gateagent doctor lists them)", i))
		}
	}
	if len(c.KioskLanes()) > 0 && slices.Contains(c.Policy.Accept, "pin") && c.Control.Socket == "" {
		errs = append(errs, errors.New("enrol and identify lanes at the pin level need control.socket: the kiosk's screen sends the PIN through it"))
	}
	if c.Kiosk.Page && c.Kiosk.Listen == "" {
		errs = append(errs, errors.New("kiosk.page needs kiosk.listen (a loopback address such as 127.0.0.1:8089) for the browser"))
	}
	if time.Duration(c.Peers.MaxAhead) < time.Second {
		errs = append(errs, fmt.Errorf("peers.max_ahead %s: want at least 1s, such as the default \"10m\"; it must cover the clock differences between the site's gates", time.Duration(c.Peers.MaxAhead)))
	}
	if c.Kiosk.PINTimeout < 0 {
		errs = append(errs, errors.New("kiosk.pin_timeout: want a positive duration such as \"60s\""))
	}
	if (c.PINLess.Certificate == "") != (c.PINLess.InstitutionCode == "") {
		errs = append(errs, errors.New("pinless: certificate and institution_code go together"))
	}
	if c.PINLess.Certificate != "" && c.HSM.Module == "" {
		errs = append(errs, errors.New("pinless: needs hsm: the institution key never leaves the HSM"))
	}
	if c.PINLess.MaxExchangeMS < 0 {
		errs = append(errs, fmt.Errorf("pinless.max_exchange_ms %d: want 0 (no bound) or a positive number of milliseconds", c.PINLess.MaxExchangeMS))
	}
	for _, l := range c.Policy.Accept {
		if l == "pinless" && c.PINLess.Certificate == "" {
			errs = append(errs, errors.New("policy.accept has pinless but no pinless certificate is configured"))
		}
	}
	if _, err := time.LoadLocation(c.Policy.TimeZone); err != nil {
		errs = append(errs, fmt.Errorf("policy.time_zone %q: %w", c.Policy.TimeZone, err))
	}
	for _, l := range append(append([]string{}, c.Policy.Accept...), c.Policy.Fallback...) {
		if l != "cert" && l != "pin" && l != "pinless" {
			errs = append(errs, fmt.Errorf("policy: assurance level %q: want cert, pin or pinless", l))
		}
	}
	if err := c.Hardware.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.Hardware.Printer != nil && c.Mode == ModeVenue && c.Receipt.Event == "" {
		errs = append(errs, errors.New("receipt.event is required with a printer at a venue gate: it heads every seat receipt"))
	}
	if c.Hardware.Printer != nil && c.Mode == ModeShelter && c.Receipt.Shelter == "" {
		errs = append(errs, errors.New("receipt.shelter is required with a printer at a shelter: it heads every check-in slip"))
	}
	switch c.Log {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log %q: want debug, info, warn or error", c.Log))
	}
	if strings.ContainsAny(c.Place, "/+#") {
		errs = append(errs, fmt.Errorf("place %q may not contain '/', '+' or '#'", c.Place))
	}
	if c.MQTT.Broker != "" && !strings.HasPrefix(c.MQTT.Broker, "tcp://") && !strings.HasPrefix(c.MQTT.Broker, "ssl://") {
		errs = append(errs, fmt.Errorf("mqtt.broker %q: want tcp://host:port or ssl://host:port", c.MQTT.Broker))
	}
	if hostPort, plain := strings.CutPrefix(c.MQTT.Broker, "tcp://"); plain && !netaddr.IsLoopback(hostPort) {
		errs = append(errs, fmt.Errorf("mqtt.broker %q: plain TCP off loopback would carry the gate's password and events in clear; use ssl://HOST:PORT with mqtt.ca_file (gateagent enrol writes both)", c.MQTT.Broker))
	}
	return errors.Join(errs...)
}

// resolve makes relative file paths relative to dir.
func (c *Config) resolve(dir string) {
	abs := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	abs(&c.DataDir)
	for i := range c.Roots {
		abs(&c.Roots[i])
	}
	abs(&c.CardKey.SecretFile)
	abs(&c.CardKey.NextSecretFile)
	abs(&c.HSM.PINFile)
	abs(&c.PINLess.Certificate)
	for i := range c.HubKeys {
		abs(&c.HubKeys[i])
	}
	abs(&c.MQTT.PasswordFile)
	abs(&c.Control.Socket)
	abs(&c.Control.TokenFile)
	abs(&c.MQTT.CAFile)
	abs(&c.MQTT.CertFile)
	abs(&c.MQTT.KeyFile)
	if c.Hardware.Printer != nil && c.Hardware.Printer.Transport == "file" {
		abs(&c.Hardware.Printer.Path)
	}
}

func ptr[T any](v T) *T { return &v }

// HubConfigPath is where the hub's signed config list is kept.
func (c *Config) HubConfigPath() string { return filepath.Join(c.DataDir, "hubconfig.json") }

// PeersPath is the database of who is inside, for anti-passback.
func (c *Config) PeersPath() string { return filepath.Join(c.DataDir, "peers.db") }

// Path returns the file the config was loaded from, "" if parsed from bytes.
func (c *Config) Path() string { return c.path }

// OutboxPath is the outbox database file.
func (c *Config) OutboxPath() string { return filepath.Join(c.DataDir, "outbox.db") }

// WhitelistPath is the whitelist and revocation database file.
func (c *Config) WhitelistPath() string { return filepath.Join(c.DataDir, "whitelist.db") }
