package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/mynagate/mynagate/config"
	"github.com/mynagate/mynagate/event"
	"github.com/mynagate/mynagate/gate"
	"github.com/mynagate/mynagate/offline/hsm"
	"github.com/mynagate/mynagate/reader"
	"github.com/mynagate/mynagate/sync/uplink"
	"github.com/mynagate/mynagate/vcard"
	"github.com/mynagate/mynagate/vcard/pki"
)

func init() {
	register("demo", "run a gate on embedded defaults: virtual reader, virtual cards tapping, embedded broker", demoCmd)
}

// demoTap is one scripted tap of the demo.
type demoTap struct {
	profile string
	what    string
}

var demoScript = []demoTap{
	{"card-001.json", "a listed card"},
	{"card-005.json", "an unlisted card"},
	{"wrong-root.json", "a card from a wrong root"},
	{"pulled.json", "a card pulled out mid-read"},
	{"transit.json", "a transit card (no JPKI applet)"},
	{"expired.json", "a card with an expired certificate"},
	{"card-002.json", "another listed card (NFC, extended APDUs)"},
	{"no-pinless.json", "a card without PIN-less support"},
}

func demoCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("gateagent demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "", "working directory for the demo PKI, config and databases (default: a new temporary directory)")
	forever := fs.Bool("forever", false, "keep tapping the script in a loop until interrupted")
	vpcdAddr := fs.String("vpcd", "127.0.0.1:35963", "vpcd address the virtual cards connect to")
	readerName := fs.String("reader", "Virtual PCD 00 00", "PC/SC name of that vpcd slot")
	hold := fs.Duration("hold", 5*time.Second, "how long a card stays on the reader at most; like a holder, the demo lifts it as soon as the gate decides")
	asJSON := fs.Bool("json", false, "print each decided event as one JSON line")
	logLevel := fs.String("log", "warn", "log level on stderr: debug, info, warn, error")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" {
		d, err := os.MkdirTemp("", "mynagate-demo-")
		if err != nil {
			return err
		}
		*dir = d
	}
	pkiDir := filepath.Join(*dir, "pki")
	if err := pki.Init(pkiDir, pki.Options{}); err != nil {
		return fmt.Errorf("make the demo PKI: %w", err)
	}
	keys, err := demoKeys(*dir, pkiDir, stderr)
	if err != nil {
		return err
	}

	var mu sync.Mutex
	atHub := map[string]time.Time{}
	hubSaw := make(chan string, 64)
	broker, err := startDemoBroker(uplink.DefaultPrefix, func(_ string, payload []byte) {
		e, err := event.Decode(payload)
		if err != nil {
			fmt.Fprintf(stderr, "hub: bad event: %v\n", err)
			return
		}
		mu.Lock()
		_, dup := atHub[e.ID]
		atHub[e.ID] = time.Now()
		mu.Unlock()
		if !dup {
			hubSaw <- e.ID
		}
	})
	if err != nil {
		return err
	}
	defer broker.Close()

	cfgPath := filepath.Join(*dir, "gateagent.json")
	if err := writeDemoConfig(cfgPath, keys, broker.addr, *readerName, *logLevel); err != nil {
		return err
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return err
	}
	log := gate.NewLogger(stderr, cfg.Log)
	g, err := gate.Open(cfg, log, stdout)
	if err != nil {
		return err
	}
	defer g.Close()
	if err := importDemoList(g, pkiDir); err != nil {
		return err
	}
	decided := make(chan event.Event, 16)
	count := g.Agent().OnDecision
	g.Agent().OnDecision = func(e event.Event) { count(e); decided <- e }

	runCtx, stopGate := context.WithCancel(ctx)
	gateDone := make(chan error, 1)
	go func() { gateDone <- g.Run(runCtx) }()
	defer func() { stopGate(); <-gateDone }()

	fmt.Fprintf(stdout, "MynaGate demo: site %s, gate %s, reader %q, broker %s\nworking directory %s\n\n", cfg.Site, cfg.Gate, *readerName, broker.addr, *dir)
	out := printer{w: stdout, json: *asJSON}
	for round := 1; ; round++ {
		for _, step := range demoScript {
			if ctx.Err() != nil {
				return nil
			}
			e, err := demoOneTap(ctx, filepath.Join(pkiDir, step.profile), *vpcdAddr, *readerName, *hold, decided)
			if err != nil {
				return fmt.Errorf("tap %s: %w", step.profile, err)
			}
			text := fmt.Sprintf("tap %-16s %-42s → %-5s %-20s %6.1f ms  assurance %s%s", step.profile, step.what,
				strings.ToUpper(string(e.Decision)), e.Reason, e.LatencyMS, e.Assurance, weak(e))
			if err := out.emit(e, text); err != nil {
				return err
			}
			select {
			case id := <-hubSaw:
				if !*asJSON {
					fmt.Fprintf(stdout, "    hub received event seq %d (%s)\n", e.Seq, id)
				}
			case <-time.After(5 * time.Second):
				return fmt.Errorf("event seq %d did not reach the broker within 5 s", e.Seq)
			case <-ctx.Done():
				return nil
			}
		}
		if !*forever {
			fmt.Fprintf(stdout, "\n%d taps decided, recorded and received by the hub.\n", len(demoScript))
			return nil
		}
		fmt.Fprintf(stdout, "\nround %d done; tapping again (Ctrl-C stops)\n\n", round)
	}
}

func weak(e event.Event) string {
	if e.Decision == event.Admit && e.Assurance == "cert" {
		return " (weak: a copied certificate would pass)"
	}
	return ""
}

// demoOneTap presents one card until the gate has decided (or the hold time is
// over) and returns the decision. Like a holder who lifts the card at the
// beep, it takes the card away as soon as the decision is there, so a slow
// machine lengthens a tap instead of pulling the card in the middle of it.
func demoOneTap(ctx context.Context, profilePath, vpcdAddr, readerName string, hold time.Duration, decided <-chan event.Event) (event.Event, error) {
	p, err := vcard.LoadProfile(profilePath)
	if err != nil {
		return event.Event{}, err
	}
	tapCtx, cancel := context.WithTimeout(ctx, hold)
	defer cancel()
	presented := make(chan error, 1)
	go func() { presented <- vcard.Present(tapCtx, vpcdAddr, vcard.NewCard(p)) }()
	var e event.Event
	select {
	case e = <-decided:
		cancel()
		<-presented
	case err := <-presented:
		if err != nil && !errors.Is(err, vcard.ErrPulled) {
			return event.Event{}, err
		}
		// The card is gone; the decision follows shortly.
		select {
		case e = <-decided:
		case <-time.After(15 * time.Second):
			return event.Event{}, errors.New("no decision within 15 s of the tap; is the vpcd reader attached to pcscd? (gateagent doctor)")
		case <-ctx.Done():
			return event.Event{}, ctx.Err()
		}
	}
	waitCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return e, reader.WaitRemoved(waitCtx, readerName)
}

// writeDemoConfig writes the demo gate's config, so that the demo runs through
// the same loading and checks as a real gate and leaves a config to look at.
func writeDemoConfig(path string, keys map[string]any, broker, readerName, logLevel string) error {
	cfg := map[string]any{
		"site": "demo-site", "gate": "gate-1", "mode": config.ModeVenue, "data_dir": "data",
		"lanes":   []map[string]string{{"name": "lane-1", "reader": readerName, "kind": string(event.KindEntry), "zone": "north"}},
		"roots":   []string{"pki/root.pem"},
		"mqtt":    map[string]string{"broker": broker},
		"hw":      map[string]any{"printer": map[string]string{"transport": "file", "path": "receipts.escpos"}},
		"receipt": map[string]string{"event": "MynaGate デモ公演", "gate_label": "デモゲート1"},
		"log":     logLevel,
	}
	for k, v := range keys {
		cfg[k] = v
	}
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o600)
}

// demoKeys provisions the demo gate's keys and returns their config keys. With
// SoftHSM2 (scripts/demo installs it) the gate works as in production: a token
// holds the card-key secret and an institution key generated inside it, which
// the test PIN-less authority certifies, and the gate admits at the pinless
// level with cert as the emergency fallback. Without SoftHSM2 it falls back,
// loudly, to a secret file and the cert level.
func demoKeys(dir, pkiDir string, stderr io.Writer) (map[string]any, error) {
	secret := make([]byte, 32)
	rand.Read(secret)
	hcfg, err := hsm.CreateSoftHSMToken(filepath.Join(dir, "softhsm"), "mynagate-demo", "246810")
	if err != nil {
		fmt.Fprintf(stderr, "WARNING: no SoftHSM2 (%v)\nWARNING: the demo keeps its card-key secret in a FILE and proves cards at the weak cert level only\n", err)
		path := filepath.Join(dir, "cardkey.secret")
		if err := os.WriteFile(path, []byte(hex.EncodeToString(secret)+"\n"), 0o600); err != nil {
			return nil, err
		}
		return map[string]any{
			"card_key": map[string]string{"secret_file": path},
			"policy":   map[string]any{"accept": []string{"cert"}},
		}, nil
	}
	h, err := hsm.Open(hcfg)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	pub, err := h.InitInstitutionKey(hsm.DefaultInstitutionKeyLabel)
	if err != nil {
		return nil, err
	}
	pubPEM, err := hsm.PublicKeyPEM(pub)
	if err != nil {
		return nil, err
	}
	inst, err := pki.IssueInstitution(pkiDir, pki.InstitutionRequest{PublicKeyPEM: pubPEM})
	if err != nil {
		return nil, err
	}
	instPath := filepath.Join(dir, "institution.cvc")
	if err := os.WriteFile(instPath, inst, 0o644); err != nil {
		return nil, err
	}
	if err := h.ImportCardKeySecret(hsm.DefaultCardKeyLabel, secret); err != nil {
		return nil, err
	}
	clear(secret)
	return map[string]any{
		"hsm":     map[string]any{"module": hcfg.Module, "token_label": hcfg.TokenLabel, "pin_file": hcfg.PINFile},
		"pinless": map[string]string{"certificate": instPath, "institution_code": pki.InstitutionCode},
		"policy":  map[string]any{"accept": []string{"pinless"}, "fallback": []string{"cert"}},
	}, nil
}

// importDemoList imports the test PKI's whitelist with the gate's own keyer.
func importDemoList(g *gate.Gate, pkiDir string) error {
	f, err := os.Open(filepath.Join(pkiDir, "whitelist.csv"))
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := g.Whitelist().ImportCSV(f, g.Keyer(), nil); err != nil {
		return fmt.Errorf("import the demo whitelist: %w", err)
	}
	return nil
}
