package main

import (
	"context"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/mynagate/mynagate/agent"
	"github.com/mynagate/mynagate/config"
	"github.com/mynagate/mynagate/event"
	"github.com/mynagate/mynagate/gate"
	"github.com/mynagate/mynagate/offline/certcheck"
	"github.com/mynagate/mynagate/offline/pinless"
	"github.com/mynagate/mynagate/offline/policy"
	"github.com/mynagate/mynagate/reader"
	"github.com/mynagate/mynagate/reader/jpki"
)

func init() {
	register("card verify", "prove the card on a reader present at an assurance level and check its certificate", cardVerifyCmd)
}

// verifyResult is what `card verify` prints.
type verifyResult struct {
	Valid     bool         `json:"valid"`
	Reason    event.Reason `json:"reason"`
	Serial    string       `json:"serial,omitempty"`
	Assurance string       `json:"assurance"`
	APDUs     int          `json:"apdus"`
	ElapsedMS float64      `json:"elapsed_ms"`
	// PINlessVersion and ExchangeMS report a PIN-less run: the protocol
	// version the card answered in and the live exchange the gate measured,
	// the figure pinless.max_exchange_ms bounds.
	PINlessVersion int     `json:"pinless_version,omitempty"`
	ExchangeMS     float64 `json:"pinless_exchange_ms,omitempty"`
	Detail         string  `json:"detail,omitempty"`
}

// recordingProver keeps the last proof, for the exchange time.
type recordingProver struct {
	agent.Prover
	last pinless.Proof
}

func (r *recordingProver) Prove(t pinless.Transport, c *x509.Certificate) (pinless.Proof, error) {
	p, err := r.Prover.Prove(t, c)
	r.last = p
	return p, err
}

// stringList is a repeatable flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func cardVerifyCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("gateagent card verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	level := fs.String("assurance", "cert", "level to prove: cert, pin or pinless")
	var roots stringList
	fs.Var(&roots, "roots", "pinned root PEM file (repeatable); default: the config's roots")
	pinFile := fs.String("pin-file", "", "file holding the card's 4-digit auth PIN (pin level); never pass a PIN on the command line")
	cfgPath := fs.String("config", "", "gate config: roots, and the HSM and institution certificate for pinless")
	readerName := fs.String("reader", "", "reader name or pattern (default: the first reader)")
	wait := fs.Duration("wait", 10*time.Second, "how long to wait for a card")
	asJSON := fs.Bool("json", false, "print one JSON object")
	if err := fs.Parse(args); err != nil {
		return err
	}
	a := &agent.Agent{Policy: policy.Policy{Accept: []string{*level}}, Log: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	if err := a.Policy.Validate(); err != nil {
		return err
	}
	var cfg *config.Config
	if *cfgPath != "" {
		var err error
		if cfg, err = config.Load(*cfgPath); err != nil {
			return err
		}
		if len(roots) == 0 {
			roots = cfg.Roots
		}
	}
	if len(roots) == 0 {
		return errors.New("no pinned roots: pass --roots FILE or --config FILE")
	}
	var rec *recordingProver
	r, err := certcheck.LoadRoots(roots...)
	if err != nil {
		return err
	}
	a.Roots = r
	switch *level {
	case policy.AssurancePIN:
		if *pinFile == "" {
			return errors.New("the pin level needs --pin-file")
		}
		a.PIN = pinFromFile(*pinFile)
	case policy.AssurancePINLess:
		if cfg == nil || cfg.HSM.Module == "" || cfg.PINLess.Certificate == "" {
			return errors.New("the pinless level needs --config with hsm and pinless (the institution key and certificate)")
		}
		h, err := gate.OpenHSM(cfg)
		if err != nil {
			return err
		}
		defer h.Close()
		auth, err := gate.OpenPINLess(cfg, h, a.Log)
		if err != nil {
			return err
		}
		rec = &recordingProver{Prover: auth}
		a.PINLess = rec
	}
	ctx, cancel := context.WithTimeout(ctx, *wait)
	defer cancel()
	var res verifyResult
	err = reader.Once(ctx, *readerName, func(tap reader.Tap) error {
		start := time.Now()
		card := jpki.New(tap.Card, nil)
		c := a.Check(ctx, card, tap.Reader, time.Now())
		res = verifyResult{Valid: c.Reason == event.ReasonAdmit, Reason: c.Reason, Assurance: c.Assurance,
			APDUs: card.APDUs(), ElapsedMS: float64(time.Since(start).Microseconds()) / 1000}
		if res.Assurance == "" {
			res.Assurance = *level
		}
		if c.Cert != nil {
			res.Serial = strings.ToUpper(c.Cert.SerialNumber.Text(16))
		}
		if c.Err != nil {
			res.Detail = c.Err.Error()
		}
		if rec != nil && rec.last.Version != 0 {
			res.PINlessVersion, res.ExchangeMS = rec.last.Version, float64(rec.last.Exchange.Microseconds())/1000
		}
		return nil
	})
	if err != nil {
		return err
	}
	verdict := "VALID"
	if !res.Valid {
		verdict = "INVALID"
	}
	text := fmt.Sprintf("%s  reason %s  assurance %s  serial %s  %d APDUs  %.1f ms", verdict, res.Reason, res.Assurance, orDash(res.Serial), res.APDUs, res.ElapsedMS)
	if res.PINlessVersion != 0 {
		text += fmt.Sprintf("\n  PIN-less version %d, live exchange %.1f ms (pinless.max_exchange_ms bounds it)", res.PINlessVersion, res.ExchangeMS)
	}
	if res.Detail != "" {
		text += "\n  " + res.Detail
	}
	if err := (printer{w: stdout, json: *asJSON}).emit(res, text); err != nil {
		return err
	}
	if !res.Valid {
		return fmt.Errorf("card not valid: %s", res.Reason)
	}
	return nil
}

// pinFromFile is the PIN pad of `card verify`: a file holding the PIN.
type pinFromFile string

// PIN reads the file.
func (f pinFromFile) PIN(context.Context, string, int) ([]byte, error) { return readPIN(string(f)) }

// readPIN reads a 4-digit PIN from a file only its owner may read.
func readPIN(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("PIN file %s has mode %#o; chmod 600 it", path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pin := []byte(strings.TrimSpace(string(b)))
	clear(b)
	return pin, nil
}
