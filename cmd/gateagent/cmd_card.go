package main

import (
	"context"
	"crypto/x509"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/mynagate/mynagate/config"
	"github.com/mynagate/mynagate/offline/cardkey"
	"github.com/mynagate/mynagate/reader"
	"github.com/mynagate/mynagate/reader/jpki"
)

func init() {
	register("card read", "read the card on a reader: certificate serial, issuer, validity, card key", cardReadCmd)
}

// cardInfo is what `card read` prints. It carries no personal data: the
// user-auth certificate holds none, and the card key is pseudonymous.
type cardInfo struct {
	Reader    string  `json:"reader"`
	Token     string  `json:"token_label"`
	Serial    string  `json:"serial"`
	Issuer    string  `json:"issuer"`
	NotBefore string  `json:"not_before"`
	NotAfter  string  `json:"not_after"`
	CardKey   string  `json:"card_key,omitempty"`
	APDUs     int     `json:"apdus"`
	ElapsedMS float64 `json:"elapsed_ms"`
}

func cardReadCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("gateagent card read", flag.ContinueOnError)
	fs.SetOutput(stderr)
	readerName := fs.String("reader", "", "reader name or pattern (default: the first reader)")
	cfgPath := fs.String("config", "", "gate config, for the card-key secret")
	secretFile := fs.String("secret-file", "", "card-key secret file (demo only), instead of --config")
	wait := fs.Duration("wait", 10*time.Second, "how long to wait for a card")
	asJSON := fs.Bool("json", false, "print one JSON object")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var keyer cardkey.Keyer
	if *cfgPath != "" {
		cfg, err := config.Load(*cfgPath)
		if err != nil {
			return err
		}
		*secretFile = cfg.CardKey.SecretFile
	}
	if *secretFile != "" {
		var err error
		if keyer, err = cardkey.LoadSecretFile(*secretFile); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, *wait)
	defer cancel()
	var info cardInfo
	err := reader.Once(ctx, *readerName, func(tap reader.Tap) error {
		start := time.Now()
		c := jpki.New(tap.Card, nil)
		defer func() { info.APDUs = c.APDUs() }()
		if err := c.SelectAP(); err != nil {
			return fmt.Errorf("select JPKI applet: %w", err)
		}
		tok, err := c.ReadToken()
		if err != nil {
			return fmt.Errorf("read token info: %w", err)
		}
		der, err := c.ReadCertificate(jpki.EFAuthCert)
		if err != nil {
			return fmt.Errorf("read user-auth certificate: %w; hold the card still and try again", err)
		}
		info.ElapsedMS = float64(time.Since(start).Microseconds()) / 1000
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			return fmt.Errorf("parse user-auth certificate: %w", err)
		}
		info.Reader, info.Token = tap.Reader, tok.Label
		info.Serial = strings.ToUpper(cert.SerialNumber.Text(16))
		info.Issuer = cert.Issuer.String()
		info.NotBefore = cert.NotBefore.UTC().Format(time.RFC3339)
		info.NotAfter = cert.NotAfter.UTC().Format(time.RFC3339)
		if keyer != nil {
			k, err := cardkey.ForCert(keyer, cert)
			if err != nil {
				return fmt.Errorf("card key: %w", err)
			}
			info.CardKey = k.String()
		}
		return nil
	})
	if err != nil {
		return err
	}
	text := fmt.Sprintf("reader      %s\ntoken       %s\nserial      %s\nissuer      %s\nnot before  %s\nnot after   %s\ncard key    %s\napdus       %d\nelapsed     %.1f ms",
		info.Reader, info.Token, info.Serial, info.Issuer, info.NotBefore, info.NotAfter, orDash(info.CardKey), info.APDUs, info.ElapsedMS)
	return printer{w: stdout, json: *asJSON}.emit(info, text)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
