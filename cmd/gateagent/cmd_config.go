package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/mynagate/mynagate/config"
	"github.com/mynagate/mynagate/gate"
	"github.com/mynagate/mynagate/internal/cli"
	"github.com/mynagate/mynagate/offline/certcheck"
	"github.com/mynagate/mynagate/offline/pinless"
	"github.com/mynagate/mynagate/sync/lists"
)

func init() {
	register("config check", "check a config file and the files it names, without starting the gate", configCheckCmd)
}

func configCheckCmd(_ context.Context, args []string, stdout, stderr io.Writer) error {
	return cli.CheckFile("gateagent config check", "Checks the config strictly (unknown keys, missing or contradictory settings)\nand the files it names: roots and hub keys parse, the institution certificate\nparses and is in date, secret files are readable by their owner only.",
		args, stdout, stderr, func(path string) (string, error) {
			cfg, err := config.Load(path)
			if err != nil {
				return "", err
			}
			if err := checkConfigFiles(cfg, time.Now()); err != nil {
				return "", err
			}
			return fmt.Sprintf("site %s, gate %s, mode %s, %d lane(s)", cfg.Site, cfg.Gate, cfg.Mode, len(cfg.Lanes)), nil
		})
}

// checkConfigFiles checks the files a loaded config names, as the gate will
// open them: every problem is returned, joined.
func checkConfigFiles(cfg *config.Config, now time.Time) error {
	var errs []error
	for i, r := range cfg.Roots {
		if _, err := certcheck.LoadRoots(r); err != nil {
			errs = append(errs, fmt.Errorf("roots[%d]: %w", i, err))
		}
	}
	for i, k := range cfg.HubKeys {
		if _, err := lists.LoadPublicKey(k); err != nil {
			errs = append(errs, fmt.Errorf("hub_keys[%d]: %w", i, err))
		}
	}
	for _, f := range []struct{ key, path string }{
		{"card_key.secret_file", cfg.CardKey.SecretFile},
		{"card_key.next_secret_file", cfg.CardKey.NextSecretFile},
		{"hsm.pin_file", cfg.HSM.PINFile},
		{"mqtt.password_file", cfg.MQTT.PasswordFile},
		{"mqtt.key_file", cfg.MQTT.KeyFile},
	} {
		if f.path != "" {
			if err := ownerOnly(f.path); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", f.key, err))
			}
		}
	}
	if m := cfg.HSM.Module; m != "" {
		if _, err := os.Stat(m); err != nil {
			errs = append(errs, fmt.Errorf("hsm.module: %w; install the PKCS#11 module (softhsm2, or the vendor's)", err))
		}
	}
	if cfg.PINLess.Certificate != "" {
		if _, err := institutionCertificate(cfg, now); err != nil {
			errs = append(errs, err)
		}
	}
	if cfg.MQTT.CAFile != "" {
		if b, err := os.ReadFile(cfg.MQTT.CAFile); err != nil {
			errs = append(errs, fmt.Errorf("mqtt.ca_file: %w", err))
		} else if !x509.NewCertPool().AppendCertsFromPEM(b) {
			errs = append(errs, fmt.Errorf("mqtt.ca_file %s: no PEM certificate in it", cfg.MQTT.CAFile))
		}
	}
	if (cfg.MQTT.CertFile == "") != (cfg.MQTT.KeyFile == "") {
		errs = append(errs, errors.New("mqtt: cert_file and key_file go together"))
	} else if cfg.MQTT.CertFile != "" {
		if _, err := tls.LoadX509KeyPair(cfg.MQTT.CertFile, cfg.MQTT.KeyFile); err != nil {
			errs = append(errs, fmt.Errorf("mqtt.cert_file and key_file: %w", err))
		}
	}
	return errors.Join(errs...)
}

// institutionCertificate reads and parses the PIN-less institution
// certificate and checks its institution code and validity at now.
func institutionCertificate(cfg *config.Config, now time.Time) (*pinless.Certificate, error) {
	der, err := os.ReadFile(cfg.PINLess.Certificate)
	if err != nil {
		return nil, fmt.Errorf("pinless.certificate: %w", err)
	}
	c, err := pinless.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("pinless.certificate %s: %w; is it the file the PIN-less authority issued?", cfg.PINLess.Certificate, err)
	}
	switch {
	case c.InstitutionCode != cfg.PINLess.InstitutionCode:
		return c, fmt.Errorf("pinless.certificate is for institution %q, pinless.institution_code is %q", c.InstitutionCode, cfg.PINLess.InstitutionCode)
	case now.Before(c.NotBefore):
		return c, fmt.Errorf("pinless.certificate is valid only from %s; check the clock or wait", c.NotBefore.Format(time.DateOnly))
	case !now.Before(gate.CertEnd(c)):
		return c, fmt.Errorf("pinless.certificate expired on %s; cards refuse this gate: request a renewed certificate from the PIN-less authority", c.NotAfter.Format(time.DateOnly))
	}
	return c, nil
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
