package hub

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// The hub's own certificate authority signs its broker's server certificate;
// gates pin it (the bundle carries it). Its key is kept owner-only in the data
// directory; the server certificate and key are made afresh at each start, in
// memory only, for the names the config gives.
const (
	tlsDir    = "tls"
	caCertPEM = "ca.pem"
	caKeyPEM  = "ca-key.pem"
)

// CAFile returns the path of the hub CA's certificate in dataDir.
func CAFile(dataDir string) string { return filepath.Join(dataDir, tlsDir, caCertPEM) }

// hubCA is the hub's certificate authority.
type hubCA struct {
	cert    *x509.Certificate
	certPEM []byte
	key     *ecdsa.PrivateKey
}

// EnsureCA loads the hub's CA from dataDir, making it first if there is none.
// Two processes making it at once agree on one: the directory is renamed into
// place, and the loser loads the winner's.
func EnsureCA(dataDir string) ([]byte, error) {
	ca, err := ensureCA(dataDir)
	if err != nil {
		return nil, err
	}
	return ca.certPEM, nil
}

func ensureCA(dataDir string) (*hubCA, error) {
	dir := filepath.Join(dataDir, tlsDir)
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		if err := makeCA(dataDir); err != nil {
			return nil, err
		}
	}
	return loadCA(dir)
}

func makeCA(dataDir string) error {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return fmt.Errorf("hub: data dir: %w", err)
	}
	tmp, err := os.MkdirTemp(dataDir, ".tls-")
	if err != nil {
		return fmt.Errorf("hub: make CA: %w", err)
	}
	defer os.RemoveAll(tmp)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("hub: make CA key: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "MynaGate hub CA", Organization: []string{"MynaGate"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(20, 0, 0),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return fmt.Errorf("hub: make CA certificate: %w", err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("hub: encode CA key: %w", err)
	}
	if err := os.WriteFile(filepath.Join(tmp, caKeyPEM), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		return fmt.Errorf("hub: write CA key: %w", err)
	}
	if err := os.WriteFile(filepath.Join(tmp, caCertPEM), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return fmt.Errorf("hub: write CA certificate: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dataDir, tlsDir)); err != nil && !errors.Is(err, os.ErrExist) {
		// ErrExist covers ENOTEMPTY: another process installed its CA first.
		return fmt.Errorf("hub: install CA: %w", err)
	}
	return nil
}

func loadCA(dir string) (*hubCA, error) {
	certPEM, err := os.ReadFile(filepath.Join(dir, caCertPEM))
	if err != nil {
		return nil, fmt.Errorf("hub: read CA certificate: %w", err)
	}
	keyPath := filepath.Join(dir, caKeyPEM)
	fi, err := os.Stat(keyPath)
	if err != nil {
		return nil, fmt.Errorf("hub: CA key: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("hub: CA key %s is readable by others (mode %o); chmod 600 it, and re-provision the gates if others may have read it", keyPath, fi.Mode().Perm())
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, fmt.Errorf("hub: read CA key: %w", err)
	}
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return nil, fmt.Errorf("hub: CA files in %s are not PEM; remove the directory only if no gate has been provisioned yet", dir)
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("hub: parse CA certificate: %w", err)
	}
	k, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("hub: parse CA key: %w", err)
	}
	key, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, errors.New("hub: CA key is not an ECDSA key")
	}
	return &hubCA{cert: cert, certPEM: certPEM, key: key}, nil
}

// serverCert issues the broker's certificate for names (DNS names or IP
// addresses).
func (ca *hubCA) serverCert(names []string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("hub: make server key: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: "MynaGate hub broker"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(2, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if n != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("hub: issue server certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der, ca.cert.Raw}, PrivateKey: key}, nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return n
}
