package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/mynagate/mynagate/hub"
	"github.com/mynagate/mynagate/internal/cli"
	"github.com/mynagate/mynagate/offline/cardkey"
	"github.com/mynagate/mynagate/sync/lists"
)

func cmdConfigCheck(_ context.Context, args []string, stdout, stderr io.Writer) error {
	return cli.CheckFile("gatehub config check", "Checks the hub's config strictly and the files it names: the signing key and\nthe card-key secret parse (or are in the token of \"hsm\"), password and key files are readable by their\nowner only, the broker CA parses.",
		args, stdout, stderr, func(path string) (string, error) {
			cfg, err := hub.LoadConfig(path)
			if err != nil {
				return "", err
			}
			if err := checkHubFiles(cfg); err != nil {
				return "", err
			}
			broker := "embedded broker on " + cfg.Listen + " (TLS)"
			if cfg.InsecurePlainTCPOnLoopback {
				broker = "embedded broker on " + cfg.Listen + " (plain TCP, loopback only)"
			}
			if cfg.Broker != "" {
				broker = "external broker " + cfg.Broker
			}
			gates, err := hub.LoadGates(cfg.DataDir)
			if err != nil {
				return "", err
			}
			active := 0
			for _, g := range gates.List {
				if g.Active() {
					active++
				}
			}
			summary := fmt.Sprintf("%s, %d provisioned gate(s)", broker, active)
			if cfg.DatabaseURL != "" {
				// Not the URL: it may hold the database password.
				summary += ", store in PostgreSQL as instance " + cfg.Instance
				if cfg.SharedGroup != "" {
					summary += " of shared group " + cfg.SharedGroup
				}
			}
			return summary, nil
		})
}

// checkHubFiles checks the files a loaded hub config names, as the hub will
// open them: every problem is returned, joined.
func checkHubFiles(cfg *hub.Config) error {
	var errs []error
	secret := func(key, path string) bool {
		if path == "" {
			return false
		}
		if err := ownerOnly(path); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", key, err))
			return false
		}
		return true
	}
	if secret("signing_key", cfg.SigningKey) {
		if _, err := lists.LoadPrivateKey(cfg.SigningKey); err != nil {
			errs = append(errs, fmt.Errorf("signing_key: %w", err))
		}
	}
	if secret("card_key_secret", cfg.CardKeySecret) {
		if _, err := cardkey.LoadSecretFile(cfg.CardKeySecret); err != nil {
			errs = append(errs, fmt.Errorf("card_key_secret: %w", err))
		}
	}
	if secret("next_card_key_secret", cfg.NextCardKeySecret) {
		if _, err := cardkey.LoadSecretFile(cfg.NextCardKeySecret); err != nil {
			errs = append(errs, fmt.Errorf("next_card_key_secret: %w", err))
		}
	}
	secret("password_file", cfg.PasswordFile)
	if cfg.HSM != nil {
		errs = append(errs, checkHubToken(cfg))
	}
	if cfg.Broker == "" && (cfg.Username == "" || cfg.PasswordFile == "") {
		// gatehub run refuses to start the broker without them.
		errs = append(errs, errors.New("username and password_file are required with the embedded broker, which lets nobody in without an account; gatehub init makes them"))
	}
	if cfg.CAFile != "" {
		if b, err := os.ReadFile(cfg.CAFile); err != nil {
			errs = append(errs, fmt.Errorf("ca_file: %w", err))
		} else if !x509.NewCertPool().AppendCertsFromPEM(b) {
			errs = append(errs, fmt.Errorf("ca_file %s: no PEM certificate in it", cfg.CAFile))
		}
	}
	return errors.Join(errs...)
}

// checkHubToken opens the hub's token as gatehub run will and checks that
// both keys are in it.
func checkHubToken(cfg *hub.Config) error {
	keys, err := hub.OpenKeys(cfg, nil)
	if err != nil {
		return fmt.Errorf("hsm: %w", err)
	}
	defer keys.Close()
	var errs []error
	if _, err := keys.Signer(); err != nil {
		errs = append(errs, fmt.Errorf("hsm: signing key: %w", err))
	}
	if _, err := keys.CardKeyer(); err != nil {
		errs = append(errs, fmt.Errorf("hsm: card-key secret: %w", err))
	}
	if cfg.HSM.NextCardKeyLabel != "" {
		if _, err := keys.NextCardKeyer(); err != nil {
			errs = append(errs, fmt.Errorf("hsm: next card-key secret: %w", err))
		}
	}
	return errors.Join(errs...)
}

// ownerOnly checks that a secret file exists and that no one but its owner
// may read or change it.
func ownerOnly(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("%s has mode %#o; run chmod 600 %s (owner: the service user)", path, perm, path)
	}
	return nil
}
