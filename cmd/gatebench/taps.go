package main

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/mynagate/mynagate/agent"
	"github.com/mynagate/mynagate/event"
	"github.com/mynagate/mynagate/offline/cardkey"
	"github.com/mynagate/mynagate/offline/certcheck"
	"github.com/mynagate/mynagate/offline/pinless"
	"github.com/mynagate/mynagate/offline/policy"
	"github.com/mynagate/mynagate/offline/whitelist"
	"github.com/mynagate/mynagate/reader"
	"github.com/mynagate/mynagate/reader/jpki"
	"github.com/mynagate/mynagate/sync/outbox"
	"github.com/mynagate/mynagate/vcard"
	"github.com/mynagate/mynagate/vcard/pki"
)

type benchEnv struct {
	dir, vpcd, reader string
}

func (b benchEnv) pkiDir() (string, error) {
	d := filepath.Join(b.dir, "pki")
	if _, err := os.Stat(filepath.Join(d, "root.pem")); err == nil {
		return d, nil
	}
	return d, pki.Init(d, pki.Options{})
}

// profile loads a card profile, sized like a real user-auth certificate.
func (b benchEnv) profile(name string, extended bool) (*vcard.Profile, error) {
	d, err := b.pkiDir()
	if err != nil {
		return nil, err
	}
	p, err := vcard.LoadProfile(filepath.Join(d, name))
	if err != nil {
		return nil, err
	}
	p.Extended = extended
	return p, nil
}

// present keeps a card on the reader while fn runs.
func (b benchEnv) present(ctx context.Context, p *vcard.Profile, fn func() error) error {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- vcard.Present(ctx, b.vpcd, vcard.NewCard(p)) }()
	err := fn()
	cancel()
	if perr := <-done; perr != nil && err == nil && !errors.Is(perr, context.Canceled) {
		err = perr
	}
	wctx, wcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer wcancel()
	return errors.Join(err, reader.WaitRemoved(wctx, b.reader))
}

// certReadAPDUs counts the APDUs of SELECT AP + token info + certificate, on a
// reader whose capabilities are already learnt (the steady state of a gate).
func (b benchEnv) certReadAPDUs(ctx context.Context, emit func(row)) error {
	for _, tc := range []struct {
		name     string
		extended bool
	}{{"cert_read_apdus_short", false}, {"cert_read_apdus_extended", true}} {
		p, err := b.profile("card-001.json", tc.extended)
		if err != nil {
			return err
		}
		certLen := 0
		var n int
		var took time.Duration
		caps := &jpki.Caps{}
		for range 2 { // the first read learns the reader, the second is counted
			err = b.present(ctx, p, func() error {
				wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				defer cancel()
				return reader.Once(wctx, b.reader, func(tap reader.Tap) error {
					start := time.Now()
					defer func() { took = time.Since(start) }()
					c := jpki.New(tap.Card, caps)
					if err := c.SelectAP(); err != nil {
						return err
					}
					if _, err := c.ReadToken(); err != nil {
						return err
					}
					der, err := c.ReadCertificate(jpki.EFAuthCert)
					certLen, n = len(der), c.APDUs()
					return err
				})
			})
			if err != nil {
				return err
			}
		}
		note := fmt.Sprintf("SELECT AP + token info + %d-byte certificate, reader capabilities learnt", certLen)
		emit(row{Name: tc.name, Value: float64(n), Unit: "count", Note: note})
		emit(row{Name: strings.Replace(tc.name, "apdus", "ms", 1), Value: ms(took), Unit: "ms", Note: note + ", through pcscd+vpcd"})
	}
	return nil
}

// tapToDecision times card presented on vpcd → decision journaled, through
// pcscd, with a fresh card per tap as at a gate.
func (b benchEnv) tapToDecision(ctx context.Context, taps int, level string, emit func(row)) error {
	d, err := b.pkiDir()
	if err != nil {
		return err
	}
	sub := filepath.Join(b.dir, level)
	if err := os.MkdirAll(sub, 0o700); err != nil {
		return err
	}
	secret := make([]byte, 32)
	rand.Read(secret)
	keyer := cardkey.NewSoftware(secret)
	roots, err := certcheck.LoadRoots(filepath.Join(d, "root.pem"))
	if err != nil {
		return err
	}
	list, err := whitelist.Open(filepath.Join(sub, "whitelist.db"), whitelist.Options{})
	if err != nil {
		return err
	}
	defer list.Close()
	f, err := os.Open(filepath.Join(d, "whitelist.csv"))
	if err != nil {
		return err
	}
	_, err = list.ImportCSV(f, keyer, nil)
	f.Close()
	if err != nil {
		return err
	}
	ob, err := outbox.Open(filepath.Join(sub, "outbox.db"), outbox.Options{})
	if err != nil {
		return err
	}
	defer ob.Close()
	decided := make(chan event.Event, 1)
	a := &agent.Agent{
		Site: "bench", Gate: "g1", Lanes: []agent.Lane{{Name: "l1", Reader: b.reader, Kind: event.KindEntry}},
		Policy: policy.Policy{Accept: []string{level}},
		Roots:  roots, Keyer: keyer, List: list, Journal: ob,
		Log:        slog.New(slog.DiscardHandler),
		OnDecision: func(e event.Event) { decided <- e },
	}
	if level == policy.AssurancePINLess {
		if a.PINLess, err = softwareInstitution(d); err != nil {
			return err
		}
	}
	wctx, stop := context.WithCancel(ctx)
	watched := make(chan struct{})
	go func() {
		(&reader.Watcher{Patterns: []string{b.reader}, Log: slog.New(slog.DiscardHandler)}).Run(wctx, a.Tap)
		close(watched)
	}()
	defer func() { stop(); <-watched }()
	p, err := b.profile("card-001.json", false)
	if err != nil {
		return err
	}
	var total, inside []float64
	for i := range taps + 1 {
		start := time.Now()
		var e event.Event
		err := b.present(ctx, p, func() error {
			select {
			case e = <-decided:
				return nil
			case <-time.After(5 * time.Second):
				return errors.New("no decision within 5 s")
			}
		})
		if err != nil {
			return err
		}
		if e.Decision != event.Admit {
			return fmt.Errorf("tap %d: %s", i, e.Reason)
		}
		if i == 0 {
			continue // the first tap also learns the reader's capabilities
		}
		total = append(total, ms(e.At.Sub(start))+e.LatencyMS)
		inside = append(inside, e.LatencyMS)
	}
	suffix := ""
	if level != policy.AssuranceCert {
		suffix = "_" + level
	}
	note := fmt.Sprintf("%d taps of a listed card at the %s level, short APDUs, through pcscd+vpcd; includes pcscd's card-presence polling", taps, level)
	emit(row{Name: "tap_to_decision" + suffix + "_ms_p50", Value: pct(total, 50), Unit: "ms", Note: note})
	emit(row{Name: "tap_to_decision" + suffix + "_ms_p95", Value: pct(total, 95), Unit: "ms", Note: note})
	note = fmt.Sprintf("%s level: from pcscd reporting the card to the decision on disk (the gate's own work)", level)
	emit(row{Name: "card_seen_to_decision" + suffix + "_ms_p50", Value: pct(inside, 50), Unit: "ms", Note: note})
	emit(row{Name: "card_seen_to_decision" + suffix + "_ms_p95", Value: pct(inside, 95), Unit: "ms", Note: note})
	return nil
}

// softwareInstitution is the test PKI's institution key as a software signer:
// the bench times the protocol and the card, not an HSM.
func softwareInstitution(pkiDir string) (*pinless.Authenticator, error) {
	kb, err := os.ReadFile(filepath.Join(pkiDir, "institution.key"))
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(kb)
	if blk == nil {
		return nil, errors.New("institution.key is not PEM")
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, err
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("institution.key holds a %T", k)
	}
	cert, err := os.ReadFile(filepath.Join(pkiDir, "institution.cvc"))
	if err != nil {
		return nil, err
	}
	return pinless.NewAuthenticator(cert, pki.InstitutionCode, signer)
}

// versusOpenSC runs `gateagent card read` and `pkcs15-tool --read-certificate
// 01` alternately on the same presented card, each as a whole command.
func (b benchEnv) versusOpenSC(ctx context.Context, gateagent string, runs int, emit func(row)) error {
	tool, err := exec.LookPath("pkcs15-tool")
	if err != nil {
		return fmt.Errorf("pkcs15-tool not found; install the Debian package opensc (scripts/setup does)")
	}
	p, err := b.profile("card-001.json", false)
	if err != nil {
		return err
	}
	var ours, theirs []float64
	err = b.present(ctx, p, func() error {
		time.Sleep(time.Second) // let pcscd see the card before the first command
		for i := range runs + 1 {
			t0 := time.Now()
			if out, err := exec.CommandContext(ctx, gateagent, "card", "read", "--reader", b.reader, "--json").CombinedOutput(); err != nil {
				return fmt.Errorf("gateagent card read: %v: %s", err, out)
			}
			t1 := time.Now()
			out, err := exec.CommandContext(ctx, tool, "--reader", b.reader, "--read-certificate", "01").CombinedOutput()
			if err != nil || !strings.Contains(string(out), "BEGIN CERTIFICATE") {
				return fmt.Errorf("pkcs15-tool --read-certificate 01: %v: %s", err, out)
			}
			t2 := time.Now()
			if i > 0 {
				ours, theirs = append(ours, ms(t1.Sub(t0))), append(theirs, ms(t2.Sub(t1)))
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	o, t := pct(ours, 50), pct(theirs, 50)
	emit(row{Name: "card_read_command_ms_p50", Value: o, Unit: "ms", Note: "whole `gateagent card read`, process start to exit"})
	emit(row{Name: "opensc_read_certificate_ms_p50", Value: t, Unit: "ms", Note: "whole `pkcs15-tool --read-certificate 01`, same card, same run"})
	emit(row{Name: "cert_read_vs_opensc_ratio", Value: o / t, Unit: "ratio", Note: fmt.Sprintf("medians of %d alternating runs; below 1 means faster than OpenSC", runs)})
	return nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// pct returns the p-th percentile (nearest rank).
func pct(v []float64, p float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	i := int(p/100*float64(len(s))+0.5) - 1
	return s[max(0, min(i, len(s)-1))]
}
