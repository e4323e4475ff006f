package pki

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"time"
)

// CRLRequest asks the test root for a certificate revocation list.
type CRLRequest struct {
	// Serials are the revoked certificates' serial numbers.
	Serials []*big.Int
	// Number is the CRL number; 0 means 1.
	Number int64
	// ThisUpdate and NextUpdate date the CRL; zero values mean now and one
	// day later (J-LIS publishes daily).
	ThisUpdate, NextUpdate time.Time
}

// IssueCRL signs a DER CRL with the test root that Init wrote into dir
// (root.pem, root.key), revoking req.Serials as key compromise at ThisUpdate.
func IssueCRL(dir string, req CRLRequest) ([]byte, error) {
	root, err := loadRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("pki: issue CRL: %w (run jpkicard pki init first)", err)
	}
	if req.Number == 0 {
		req.Number = 1
	}
	if req.ThisUpdate.IsZero() {
		req.ThisUpdate = time.Now().UTC().Truncate(time.Second)
	}
	if req.NextUpdate.IsZero() {
		req.NextUpdate = req.ThisUpdate.Add(24 * time.Hour)
	}
	entries := make([]x509.RevocationListEntry, len(req.Serials))
	for i, s := range req.Serials {
		entries[i] = x509.RevocationListEntry{SerialNumber: s, RevocationTime: req.ThisUpdate, ReasonCode: 1}
	}
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number: big.NewInt(req.Number), ThisUpdate: req.ThisUpdate, NextUpdate: req.NextUpdate,
		RevokedCertificateEntries: entries,
	}, root.cert, root.key)
	if err != nil {
		return nil, fmt.Errorf("pki: issue CRL: %w", err)
	}
	return der, nil
}

func loadRoot(dir string) (authority, error) {
	cb, err := os.ReadFile(filepath.Join(dir, "root.pem"))
	if err != nil {
		return authority{}, err
	}
	kb, err := os.ReadFile(filepath.Join(dir, "root.key"))
	if err != nil {
		return authority{}, err
	}
	cblk, _ := pem.Decode(cb)
	kblk, _ := pem.Decode(kb)
	if cblk == nil || kblk == nil {
		return authority{}, errors.New("root.pem or root.key is not PEM")
	}
	cert, err := x509.ParseCertificate(cblk.Bytes)
	if err != nil {
		return authority{}, fmt.Errorf("root.pem: %w", err)
	}
	k, err := x509.ParsePKCS8PrivateKey(kblk.Bytes)
	if err != nil {
		return authority{}, fmt.Errorf("root.key: %w", err)
	}
	key, ok := k.(*rsa.PrivateKey)
	if !ok {
		return authority{}, fmt.Errorf("root.key is a %T, want RSA", k)
	}
	return authority{cert: cert, key: key}, nil
}
