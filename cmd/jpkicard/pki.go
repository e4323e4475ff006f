package main

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/big"
	"os"
	"strings"
	"time"

	"github.com/mynagate/mynagate/vcard"
	"github.com/mynagate/mynagate/vcard/pki"
)

// pkiInit writes a test PKI and card profiles into DIR.
func pkiInit(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("pki init", flag.ContinueOnError)
	cards := fs.Int("cards", 5, "number of valid numbered cards (the last is left off the whitelist)")
	dir, err := parseDir(fs, args)
	if err != nil {
		return err
	}
	if err := pki.Init(dir, pki.Options{Cards: *cards}); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "test PKI written to %s (see %s/README.txt)\n", dir, dir)
	return nil
}

// pkiInstitution certifies an institution public key (from the HSM) with the
// test PIN-less authority of DIR.
func pkiInstitution(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("pki institution", flag.ContinueOnError)
	pubFile := fs.String("public-key", "", "institution public key, PEM PUBLIC KEY (ECDSA P-256)")
	out := fs.String("out", "", "where to write the certificate")
	code := fs.String("code", pki.InstitutionCode, "institution code, 8 digits")
	days := fs.Int("days", 365, "validity in days from today")
	dir, err := parseDir(fs, args)
	if err != nil {
		return err
	}
	if *pubFile == "" || *out == "" {
		return errors.New("pki institution: want DIR --public-key FILE --out FILE")
	}
	pub, err := os.ReadFile(*pubFile)
	if err != nil {
		return fmt.Errorf("pki institution: %w", err)
	}
	now := time.Now().UTC()
	cert, err := pki.IssueInstitution(dir, pki.InstitutionRequest{PublicKeyPEM: pub, Code: *code, NotBefore: now, NotAfter: now.AddDate(0, 0, *days)})
	if err != nil {
		return err
	}
	if err := os.WriteFile(*out, cert, 0o644); err != nil {
		return fmt.Errorf("pki institution: %w", err)
	}
	fmt.Fprintf(stdout, "institution certificate for %s written to %s (%d bytes)\n", *code, *out, len(cert))
	return nil
}

// repeated is a repeatable string flag.
type repeated []string

func (r *repeated) String() string     { return strings.Join(*r, ",") }
func (r *repeated) Set(v string) error { *r = append(*r, v); return nil }

// pkiCRL writes a PEM CRL signed by the test root of DIR, revoking the
// certificates of card profiles and serials given.
func pkiCRL(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("pki crl", flag.ContinueOnError)
	var cards, serials repeated
	fs.Var(&cards, "card", "card profile whose certificate to revoke (repeatable)")
	fs.Var(&serials, "serial", "certificate serial number to revoke, hex (repeatable)")
	out := fs.String("out", "", "where to write the CRL (PEM)")
	number := fs.Int64("number", 1, "CRL number; raise it for each new CRL")
	hours := fs.Int("hours", 24, "hours until the next update")
	dir, err := parseDir(fs, args)
	if err != nil {
		return err
	}
	if *out == "" {
		return errors.New("pki crl: want DIR --out FILE")
	}
	var sns []*big.Int
	for _, c := range cards {
		p, err := vcard.LoadProfile(c)
		if err != nil {
			return fmt.Errorf("pki crl: %w", err)
		}
		blk, _ := pem.Decode([]byte(p.Certificate))
		cert, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return fmt.Errorf("pki crl: %s: %w", c, err)
		}
		sns = append(sns, cert.SerialNumber)
	}
	for _, s := range serials {
		n, ok := new(big.Int).SetString(s, 16)
		if !ok || n.Sign() <= 0 {
			return fmt.Errorf("pki crl: serial %q: want a positive hex number", s)
		}
		sns = append(sns, n)
	}
	now := time.Now().UTC().Truncate(time.Second)
	der, err := pki.IssueCRL(dir, pki.CRLRequest{Serials: sns, Number: *number, ThisUpdate: now, NextUpdate: now.Add(time.Duration(*hours) * time.Hour)})
	if err != nil {
		return err
	}
	if err := os.WriteFile(*out, pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der}), 0o644); err != nil {
		return fmt.Errorf("pki crl: %w", err)
	}
	fmt.Fprintf(stdout, "CRL number %d revoking %d certificates written to %s (next update in %d h)\n", *number, len(sns), *out, *hours)
	return nil
}

// parseDir parses flags around one DIR argument, which may come first (as
// the usage lines show) or after the flags.
func parseDir(fs *flag.FlagSet, args []string) (string, error) {
	var dir string
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		dir, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return "", err
	}
	if dir == "" && fs.NArg() == 1 {
		return fs.Arg(0), nil
	}
	if dir == "" || fs.NArg() != 0 {
		return "", fmt.Errorf("%s: want exactly one DIR", fs.Name())
	}
	return dir, nil
}
