// Package gatebundle is the one-time provisioning bundle a hub writes for a
// gate (gatehub gate add) and the gate reads (gateagent enrol): where the
// broker is and how to trust it, the gate's account, the hub's list-signing
// keys to pin, and the list versions the gate must not go below.
//
// A bundle holds the gate's password in clear: it is written owner-only, and
// gateagent enrol deletes it once the gate is set up.
package gatebundle

import (
	"bytes"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"
)

// Version is the bundle format version.
const Version = 1

// Bundle is what a gate needs to join its hub.
type Bundle struct {
	V    int    `json:"v"`
	Site string `json:"site"`
	Gate string `json:"gate"`
	// Broker is the broker URL as the gate reaches it (ssl://host:port).
	Broker string `json:"broker"`
	Prefix string `json:"prefix"`
	// ClientID is the one MQTT client id the gate's account may use.
	ClientID string `json:"client_id"`
	Username string `json:"username"`
	Password string `json:"password"`
	// CAPEM is the CA the broker's certificate must chain to; empty only
	// for a plain-TCP broker.
	CAPEM string `json:"ca_pem,omitempty"`
	// HubKeys are the hub's list-signing public keys (PEM) to pin.
	HubKeys []string `json:"hub_keys"`
	// MinListVersions are the site's published list versions at
	// provisioning: the gate refuses anything older.
	MinListVersions map[string]uint64 `json:"min_list_versions"`
	Created         time.Time         `json:"created"`
}

// Parse decodes a bundle strictly and checks it.
func Parse(b []byte) (*Bundle, error) {
	var bu Bundle
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&bu); err != nil {
		return nil, fmt.Errorf("gatebundle: %w", err)
	}
	if dec.More() {
		return nil, errors.New("gatebundle: trailing data after the bundle")
	}
	if err := bu.check(); err != nil {
		return nil, fmt.Errorf("gatebundle: %w", err)
	}
	return &bu, nil
}

func (b *Bundle) check() error {
	var errs []error
	if b.V != Version {
		errs = append(errs, fmt.Errorf("version %d: this gateagent reads version %d; use the gateagent matching the hub", b.V, Version))
	}
	for _, f := range []struct{ name, v string }{{"site", b.Site}, {"gate", b.Gate}, {"client_id", b.ClientID}, {"username", b.Username}, {"password", b.Password}, {"prefix", b.Prefix}} {
		if f.v == "" {
			errs = append(errs, fmt.Errorf("%s is empty", f.name))
		}
	}
	for _, f := range []struct{ name, v string }{{"site", b.Site}, {"gate", b.Gate}} {
		if strings.ContainsAny(f.v, "/+#\x00") {
			errs = append(errs, fmt.Errorf("%s %q: must not contain '/', '+', '#' or NUL", f.name, f.v))
		}
	}
	u, err := url.Parse(b.Broker)
	switch {
	case err != nil:
		errs = append(errs, fmt.Errorf("broker %q: %w", b.Broker, err))
	case u.Scheme == "ssl" && b.CAPEM == "":
		errs = append(errs, errors.New("ca_pem is empty for an ssl:// broker"))
	case u.Scheme != "ssl" && u.Scheme != "tcp":
		errs = append(errs, fmt.Errorf("broker %q: want ssl://host:port", b.Broker))
	case u.Host == "":
		errs = append(errs, fmt.Errorf("broker %q: no host", b.Broker))
	}
	if b.CAPEM != "" {
		if blk, _ := pem.Decode([]byte(b.CAPEM)); blk == nil || blk.Type != "CERTIFICATE" {
			errs = append(errs, errors.New("ca_pem holds no PEM certificate"))
		}
	}
	if len(b.HubKeys) == 0 {
		errs = append(errs, errors.New("hub_keys is empty: the gate would accept no list"))
	}
	for i, k := range b.HubKeys {
		if blk, _ := pem.Decode([]byte(k)); blk == nil || blk.Type != "PUBLIC KEY" {
			errs = append(errs, fmt.Errorf("hub_keys[%d] holds no PEM public key", i))
		}
	}
	for name := range b.MinListVersions {
		if name == "" || strings.ContainsAny(name, "/+#\x00") {
			errs = append(errs, fmt.Errorf("min_list_versions: bad list name %q", name))
		}
	}
	return errors.Join(errs...)
}

// Marshal encodes a bundle after checking it.
func (b *Bundle) Marshal() ([]byte, error) {
	if err := b.check(); err != nil {
		return nil, fmt.Errorf("gatebundle: %w", err)
	}
	out, err := json.MarshalIndent(b, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("gatebundle: encode: %w", err)
	}
	return append(out, '\n'), nil
}

// WriteNew writes b to path, owner-only, refusing to replace a file.
func (b *Bundle) WriteNew(path string) error {
	out, err := b.Marshal()
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("gatebundle: write %s: %w", path, err)
	}
	if _, err := f.Write(out); err != nil {
		f.Close()
		return fmt.Errorf("gatebundle: write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("gatebundle: write %s: %w", path, err)
	}
	return f.Close()
}

// Read reads a bundle file, refusing one that others may read: its password
// would be theirs too.
func Read(path string) (*Bundle, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("gatebundle: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("gatebundle: %s has mode %#o: others may have read the gate's password; run gatehub gate revoke and gate add for a new bundle", path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("gatebundle: %w", err)
	}
	bu, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return bu, nil
}
