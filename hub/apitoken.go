package hub

import (
	"bytes"
	"context"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/mynagate/mynagate/internal/netaddr"
)

// apiTokenName is the local API token's file in the data dir.
const apiTokenName = "api.token"

// APITokenFile is where a running hub with a dashboard login keeps the local
// API token: a fresh random value written at every start, readable by the
// hub's own user only. A tool on the hub's machine that can read it (gatehub
// events) presents it as "Authorization: Bearer TOKEN" and is let in with the
// viewer role, for reading only.
func APITokenFile(dataDir string) string { return filepath.Join(dataDir, apiTokenName) }

// writeAPIToken makes a fresh local API token and writes it owner-only.
func writeAPIToken(dataDir string) (string, error) {
	t := token()
	if err := writeFileAtomic(APITokenFile(dataDir), []byte(t+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("hub: write the local API token: %w; check that the data dir is writable", err)
	}
	return t, nil
}

// bearerOK reports whether r carries the local API token.
func bearerOK(r *http.Request, want string) bool {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// APIClient asks the running hub's dashboard API from the hub's own machine,
// as the hub's CLI does while the hub holds hub.db.
type APIClient struct {
	// Base is the dashboard's URL, e.g. "https://127.0.0.1:8443".
	Base   string
	client *http.Client
	token  string
}

// NewAPIClient is a client for the dashboard of the hub cfg describes: HTTPS
// trusting only the dashboard's own certificate (http_tls_cert) or the hub's
// CA when the dashboard is off loopback, plain HTTP on loopback; it presents
// the local API token when the hub wrote one.
func NewAPIClient(cfg *Config) (*APIClient, error) {
	host, port, err := net.SplitHostPort(cfg.HTTP)
	if err != nil {
		return nil, fmt.Errorf("hub: http %q in the config: %w", cfg.HTTP, err)
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	c := &APIClient{Base: "http://" + net.JoinHostPort(host, port), client: &http.Client{}}
	if !netaddr.IsLoopback(cfg.HTTP) {
		tc, err := dashboardTrust(cfg, host)
		if err != nil {
			return nil, err
		}
		c.Base = "https://" + net.JoinHostPort(host, port)
		c.client.Transport = &http.Transport{TLSClientConfig: tc}
	}
	b, err := os.ReadFile(APITokenFile(cfg.DataDir))
	switch {
	case err == nil:
		c.token = strings.TrimSpace(string(b))
	case errors.Is(err, os.ErrNotExist):
	default:
		return nil, fmt.Errorf("hub: read the local API token: %w; run this as the hub's user", err)
	}
	return c, nil
}

// dashboardTrust trusts exactly the configured dashboard certificate, or
// else certificates from the hub's CA naming host.
func dashboardTrust(cfg *Config, host string) (*tls.Config, error) {
	if cfg.HTTPTLSCert == "" {
		tc, err := tlsConfig(CAFile(cfg.DataDir))
		if err != nil {
			return nil, fmt.Errorf("%w; the dashboard's certificate comes from the hub's CA, made by gatehub run", err)
		}
		tc.ServerName = host
		return tc, nil
	}
	b, err := os.ReadFile(cfg.HTTPTLSCert)
	if err != nil {
		return nil, fmt.Errorf("hub: read the dashboard certificate: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("hub: dashboard certificate %s holds no PEM certificate", cfg.HTTPTLSCert)
	}
	want := blk.Bytes
	// The certificate is pinned: the hub must present this very one, whatever
	// names it carries (the CLI may reach the dashboard by another address).
	return &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: true,
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) == 0 || !bytes.Equal(raw[0], want) {
				return fmt.Errorf("hub: the dashboard did not present the certificate in %s", cfg.HTTPTLSCert)
			}
			return nil
		}}, nil
}

// Get asks for path with query v, presenting the local API token.
func (c *APIClient) Get(ctx context.Context, path string, v url.Values) (*http.Response, error) {
	u := c.Base + path
	if len(v) > 0 {
		u += "?" + v.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	return c.client.Do(req)
}
