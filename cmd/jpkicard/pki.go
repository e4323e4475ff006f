package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

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
