// Package hub is MynaGate's central side: it ingests every gate's events
// (deduplicated by id, keeping tap time, receive time and the offline flag),
// keeps each gate's health from its status messages, flags anti-passback
// conflicts, keeps the master lists and publishes them signed, and serves a
// small dashboard. By default it runs its own MQTT broker (mochi-mqtt); it can
// use an external one instead.
package hub

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mynagate/mynagate/internal/netaddr"

	// The time zone database inside the binary: a hub shows times in the
	// sites' zone even on a host without tzdata.
	_ "time/tzdata"

	"github.com/mynagate/mynagate/sync/uplink"
)

// Config is the hub's configuration file (JSON, decoded strictly).
type Config struct {
	// Prefix is the topic prefix, default "mynagate/v1".
	Prefix string `json:"prefix"`
	// DataDir holds hub.db (events, health), lists.db (master lists) and
	// broker.db (the embedded broker's sessions and retained messages).
	DataDir string `json:"data_dir"`
	// Listen is the embedded broker's TCP address, default "127.0.0.1:1883".
	// Ignored when Broker is set.
	Listen string `json:"listen"`
	// Broker is an external broker URL (tcp://host:port, ssl://host:port);
	// empty runs the embedded broker.
	Broker string `json:"broker"`
	// Username and PasswordFile are the hub's own MQTT account (ingest,
	// receipts, publish). The embedded broker needs them: it lets nobody in
	// without an account, the hub included. gatehub init makes them.
	Username     string `json:"username"`
	PasswordFile string `json:"password_file"`
	// CAFile pins an external broker's CA. The embedded broker's CA is the
	// hub's own, made at its first start in data_dir/tls.
	CAFile string `json:"ca_file"`
	// InsecurePlainTCPOnLoopback lets the embedded broker listen without TLS,
	// on a loopback address only (demos, tests). Clients still log in. It
	// also lets broker and gate_broker be tcp:// URLs to a loopback address;
	// tcp:// elsewhere is always refused.
	InsecurePlainTCPOnLoopback bool `json:"insecure_plain_tcp_on_loopback"`
	// TLSNames are the extra DNS names and IP addresses the embedded
	// broker's certificate is made for, besides localhost, the loopback
	// addresses, the listen address and gate_broker's host.
	TLSNames []string `json:"tls_names"`
	// GateBroker is the broker URL written into gate bundles, as gates reach
	// it (ssl://hub.example.org:8883); default: from listen, when that is a
	// specific address.
	GateBroker string `json:"gate_broker"`
	// MosquittoDir, with an external broker, is where gatehub gate add and
	// revoke write Mosquitto's password file (mosquitto.passwd) and ACL file
	// (mosquitto.acl) for the provisioned gates; default data_dir.
	MosquittoDir string `json:"mosquitto_dir"`
	// SigningKey is the Ed25519 list-signing key (PKCS#8 PEM), made by
	// gatehub keygen. Needed by publish only.
	SigningKey string `json:"signing_key"`
	// NextSigningPublicKey is, during a rotation of the list-signing key
	// only, the new key's public half (PEM file): gatehub gate add pins it
	// in a new gate's bundle next to the current key, so that a gate
	// provisioned during the change accepts lists signed by either.
	NextSigningPublicKey string `json:"next_signing_public_key,omitempty"`
	// CardKeySecret is the card-key HMAC secret file shared with the gates,
	// needed to enrol rows given by issuer key id and serial.
	CardKeySecret string `json:"card_key_secret"`
	// NextCardKeySecret is, in a demo and during a card-key rotation only,
	// the next secret's file (README "Rotating the card-key secret").
	NextCardKeySecret string `json:"next_card_key_secret,omitempty"`
	// HTTP is the dashboard address, e.g. "127.0.0.1:8080"; empty disables it.
	HTTP string `json:"http"`
	// UsersFile holds the dashboard's logins (gatehub user add); without it
	// the dashboard is served on a loopback address only, to whoever is on
	// the hub's own machine.
	UsersFile string `json:"users_file"`
	// HTTPTLSCert and HTTPTLSKey are the dashboard's certificate and key
	// (PEM). On a loopback address the dashboard speaks plain HTTP; anywhere
	// else it speaks only HTTPS, with these or, without them, a certificate
	// from the hub's own CA (data_dir/tls/ca.pem, which browsers must trust).
	HTTPTLSCert string `json:"http_tls_cert"`
	HTTPTLSKey  string `json:"http_tls_key"`
	// Log is debug, info, warn or error.
	Log string `json:"log"`
	// TimeZone is the IANA time zone records and the dashboard show times
	// in, default "Asia/Tokyo"; SiteTimeZones sets it per site.
	TimeZone      string            `json:"time_zone"`
	SiteTimeZones map[string]string `json:"site_time_zones"`

	// Lists and keys (issue 16: fresh signed lists).

	// ListValidity is how long a published list or config version is valid
	// (a Go duration, default "168h"): every manifest carries created plus
	// it as its expiry, and gatehub run renews the retained manifests once
	// half of it has passed. A gate refuses an expired version and reports
	// an expired list in force.
	ListValidity string `json:"list_validity,omitempty"`

	// Hub keys (issue 16: keys in the HSM).

	// HSM is the PKCS#11 token holding the list-signing key and the card-key
	// secret (gatehub hsm init); signing_key and card_key_secret are then
	// refused.
	HSM *HSMConfig `json:"hsm,omitempty"`
	// DemoFileKeys allows signing_key and card_key_secret as plain,
	// owner-only files, for demos and tests; the hub says so loudly at every
	// start. Without it, and without hsm, they are refused.
	DemoFileKeys bool `json:"demo_file_keys,omitempty"`

	// Several hub instances (issue 14: outgrowing one box).

	// DatabaseURL is a PostgreSQL URL (postgres://user:pass@host:5432/db)
	// holding the hub's events, gate health and list infos, shared by every
	// hub instance given it; empty keeps them in data_dir/hub.db (bbolt),
	// for one instance.
	DatabaseURL string `json:"database_url,omitempty"`
	// Instance names this hub instance (letters, digits, "-", "_" and "."):
	// its MQTT client id is mynagate-hub-ingest-INSTANCE. Default: the host
	// name with database_url, else none (mynagate-hub-ingest, as ever).
	Instance string `json:"instance,omitempty"`
	// SharedGroup makes the instances read the gates' topics through the
	// broker's shared subscriptions ($share/GROUP/...), so that each event
	// goes to one of them. It needs database_url.
	SharedGroup string `json:"shared_group,omitempty"`
	// RetentionDays is how long events are kept, by the mode of the gate
	// that recorded them (venue, shelter, kiosk; 0 keeps them for ever);
	// modes not given keep DefaultRetentionDays.
	RetentionDays map[string]int `json:"retention_days,omitempty"`

	zone     *time.Location
	zones    map[string]*time.Location
	validity time.Duration
}

// LoadConfig reads and checks a hub configuration file. Relative paths in it
// are relative to the file's directory.
func LoadConfig(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("hub: read config: %w", err)
	}
	var c Config
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("hub: config %s: %w", path, err)
	}
	dir := filepath.Dir(path)
	abs := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	abs(&c.DataDir)
	abs(&c.PasswordFile)
	abs(&c.CAFile)
	abs(&c.SigningKey)
	abs(&c.NextSigningPublicKey)
	abs(&c.CardKeySecret)
	abs(&c.NextCardKeySecret)
	abs(&c.UsersFile)
	abs(&c.HTTPTLSCert)
	abs(&c.HTTPTLSKey)
	abs(&c.MosquittoDir)
	if c.HSM != nil {
		abs(&c.HSM.PINFile)
	}
	if err := c.check(); err != nil {
		return nil, fmt.Errorf("hub: config %s: %w", path, err)
	}
	return &c, nil
}

func (c *Config) check() error {
	if c.Prefix == "" {
		c.Prefix = uplink.DefaultPrefix
	}
	if c.Listen == "" && c.Broker == "" {
		c.Listen = "127.0.0.1:1883"
	}
	if c.Log == "" {
		c.Log = "info"
	}
	var errs []error
	if c.DataDir == "" {
		errs = append(errs, errors.New("data_dir is required"))
	}
	if c.HTTP != "" {
		if _, _, err := net.SplitHostPort(c.HTTP); err != nil {
			errs = append(errs, fmt.Errorf("http %q: %w", c.HTTP, err))
		} else if !netaddr.IsLoopback(c.HTTP) && c.UsersFile == "" {
			errs = append(errs, fmt.Errorf("http %q is not a loopback address: set users_file (gatehub user add) so that the dashboard asks for a login", c.HTTP))
		}
	}
	if (c.HTTPTLSCert == "") != (c.HTTPTLSKey == "") {
		errs = append(errs, errors.New("http_tls_cert and http_tls_key go together"))
	}
	if c.Broker != "" && !strings.HasPrefix(c.Broker, "tcp://") && !strings.HasPrefix(c.Broker, "ssl://") {
		errs = append(errs, fmt.Errorf("broker %q: want tcp://host:port or ssl://host:port", c.Broker))
	}
	if c.Broker == "" {
		if _, _, err := net.SplitHostPort(c.Listen); err != nil {
			errs = append(errs, fmt.Errorf("listen %q: %w", c.Listen, err))
		}
	}
	if c.Broker == "" {
		if c.InsecurePlainTCPOnLoopback && !netaddr.IsLoopback(c.Listen) {
			errs = append(errs, fmt.Errorf("insecure_plain_tcp_on_loopback: listen %q is not a loopback address; plain TCP would carry passwords and events in clear", c.Listen))
		}
	}
	if c.GateBroker != "" && !strings.HasPrefix(c.GateBroker, "ssl://") && !strings.HasPrefix(c.GateBroker, "tcp://") {
		errs = append(errs, fmt.Errorf("gate_broker %q: want ssl://host:port", c.GateBroker))
	}
	errs = append(errs, c.checkPlainTCP("broker", c.Broker), c.checkPlainTCP("gate_broker", c.GateBroker))
	if c.MosquittoDir == "" {
		c.MosquittoDir = c.DataDir
	}
	switch c.Log {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log %q: want debug, info, warn or error", c.Log))
	}
	if c.TimeZone == "" {
		c.TimeZone = DefaultTimeZone
	}
	var err error
	if c.zone, err = time.LoadLocation(c.TimeZone); err != nil {
		errs = append(errs, fmt.Errorf("time_zone %q: %w; want an IANA name such as Asia/Tokyo", c.TimeZone, err))
	}
	c.zones = map[string]*time.Location{}
	for site, name := range c.SiteTimeZones {
		if c.zones[site], err = time.LoadLocation(name); err != nil {
			errs = append(errs, fmt.Errorf("site_time_zones[%q] %q: %w; want an IANA name such as Asia/Tokyo", site, name, err))
		}
	}
	errs = append(errs, c.checkLists(), c.checkKeys(), c.checkRetention(), c.checkInstances())
	return errors.Join(errs...)
}

// checkPlainTCP refuses a tcp:// broker URL (key names it) off loopback, and
// on loopback unless insecure_plain_tcp_on_loopback asks for it by name:
// plain TCP carries the passwords and the events in clear.
func (c *Config) checkPlainTCP(key, broker string) error {
	hostPort, plain := strings.CutPrefix(broker, "tcp://")
	switch {
	case !plain:
		return nil
	case !netaddr.IsLoopback(hostPort):
		return fmt.Errorf("%s %q: plain TCP off loopback would carry passwords and events in clear; use ssl://HOST:PORT (with ca_file for an external broker)", key, broker)
	case !c.InsecurePlainTCPOnLoopback:
		return fmt.Errorf("%s %q: plain TCP, even on loopback, needs \"insecure_plain_tcp_on_loopback\": true (demos, tests); else use ssl://HOST:PORT", key, broker)
	}
	return nil
}

// DefaultTimeZone is the time zone of records when the config names none.
const DefaultTimeZone = "Asia/Tokyo"

// Zone returns the time zone site's times are shown in.
func (c *Config) Zone(site string) *time.Location {
	if z := c.zones[site]; z != nil {
		return z
	}
	if c.zone != nil {
		return c.zone
	}
	z, err := time.LoadLocation(DefaultTimeZone)
	if err != nil {
		return time.UTC
	}
	return z
}

// BrokerURL returns the URL the hub's own clients connect to.
func (c *Config) BrokerURL() string {
	if c.Broker != "" {
		return c.Broker
	}
	host, port, _ := net.SplitHostPort(c.Listen)
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	scheme := "ssl://"
	if c.InsecurePlainTCPOnLoopback {
		scheme = "tcp://"
	}
	return scheme + net.JoinHostPort(host, port)
}

// GateBrokerURL returns the broker URL gates are given in their bundle.
func (c *Config) GateBrokerURL() (string, error) {
	if c.GateBroker != "" {
		return c.GateBroker, nil
	}
	if c.Broker != "" {
		return c.Broker, nil
	}
	host, _, _ := net.SplitHostPort(c.Listen)
	if host == "" || host == "0.0.0.0" || host == "::" {
		return "", fmt.Errorf("hub: listen %q names no address gates can reach; set gate_broker (ssl://HOST:PORT) in the hub config", c.Listen)
	}
	return c.BrokerURL(), nil
}

// clientTLS is the TLS setting of the hub's own clients: the external
// broker's pinned CA, or the hub's own CA for the embedded broker; nil for
// plain TCP.
func (c *Config) clientTLS() (*tls.Config, error) {
	if c.Broker != "" {
		return tlsConfig(c.CAFile)
	}
	if c.InsecurePlainTCPOnLoopback {
		return nil, nil
	}
	return tlsConfig(CAFile(c.DataDir))
}

// brokerNames are the names the embedded broker's certificate is made for.
func (c *Config) brokerNames() []string {
	names := []string{"localhost", "127.0.0.1", "::1"}
	if host, _, err := net.SplitHostPort(c.Listen); err == nil && host != "" && host != "0.0.0.0" && host != "::" {
		names = append(names, host)
	}
	if u, err := url.Parse(c.GateBroker); err == nil && u.Hostname() != "" {
		names = append(names, u.Hostname())
	}
	return append(names, c.TLSNames...)
}

// password reads a password file, trimming a final newline.
func password(path string) (string, error) {
	if path == "" {
		return "", nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("hub: read password file: %w", err)
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

// tlsConfig pins caFile's CA for an ssl:// broker; nil when caFile is empty.
func tlsConfig(caFile string) (*tls.Config, error) {
	if caFile == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("hub: read CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("hub: CA file %s holds no PEM certificate", caFile)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

// DefaultListValidity is how long a list version is valid when the config
// does not say: a week, so that a hub down over a weekend does not let the
// gates' lists expire, while a replayed version is useless after it.
const DefaultListValidity = 7 * 24 * time.Hour

// checkLists checks the list keys.
func (c *Config) checkLists() error {
	c.validity = DefaultListValidity
	if c.ListValidity == "" {
		return nil
	}
	d, err := time.ParseDuration(c.ListValidity)
	switch {
	case err != nil:
		return fmt.Errorf("list_validity %q: %w; want a duration such as 168h", c.ListValidity, err)
	case d < time.Hour || d > 90*24*time.Hour:
		return fmt.Errorf("list_validity %s: want 1h to 2160h (90 days)", d)
	}
	c.validity = d
	return nil
}

// Validity returns how long a published list version is valid.
func (c *Config) Validity() time.Duration {
	if c.validity == 0 {
		return DefaultListValidity
	}
	return c.validity
}

// checkInstances checks the settings of several hub instances.
func (c *Config) checkInstances() error {
	var errs []error
	if c.DatabaseURL != "" && !strings.HasPrefix(c.DatabaseURL, "postgres://") && !strings.HasPrefix(c.DatabaseURL, "postgresql://") {
		errs = append(errs, errors.New("database_url: want postgres://user:password@host:5432/database"))
	}
	if c.Instance == "" && c.DatabaseURL != "" {
		host, err := os.Hostname()
		if err != nil {
			errs = append(errs, fmt.Errorf("instance: no host name to default to (%w); set instance", err))
		}
		c.Instance = host
	}
	for _, f := range []struct{ name, v string }{{"instance", c.Instance}, {"shared_group", c.SharedGroup}} {
		if strings.Trim(f.v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") != "" {
			errs = append(errs, fmt.Errorf("%s %q: want letters, digits, -, _ and . only", f.name, f.v))
		}
	}
	if c.SharedGroup != "" && c.DatabaseURL == "" {
		errs = append(errs, errors.New("shared_group needs database_url: instances sharing the events must share the store"))
	}
	if c.SharedGroup != "" && c.Broker == "" {
		errs = append(errs, errors.New("shared_group needs an external broker (broker): the embedded one serves a single hub"))
	}
	return errors.Join(errs...)
}

// ClientID is this instance's MQTT client id.
func (c *Config) ClientID() string {
	if c.Instance == "" {
		return HubClientPrefix + "ingest"
	}
	return HubClientPrefix + "ingest-" + c.Instance
}
