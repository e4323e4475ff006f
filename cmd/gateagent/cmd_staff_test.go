package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mynagate/mynagate/event"
	"github.com/mynagate/mynagate/internal/mqtttest"
	"github.com/mynagate/mynagate/internal/pcsctest"
	"github.com/mynagate/mynagate/internal/taptest"
	"github.com/mynagate/mynagate/offline/hsm/hsmtest"
	"github.com/mynagate/mynagate/vcard/pki"
)

// TestShelterWithoutHSMAndStaffCLI is a shelter station whose HSM token is
// missing: it starts anyway, checks in a card at the cert level flagged to
// reconcile (pcscd+vpcd) and out again on a second tap, and records a staff check-in and check-out typed on
// the box (`gateagent staff`) through the control socket; every record reaches
// the broker with the station's place, the note included.
func TestShelterWithoutHSMAndStaffCLI(t *testing.T) {
	slot := pcsctest.Acquire(t, 0)
	broker := mqtttest.Start(t)
	tok := hsmtest.NewToken(t, "shelter-nohsm")
	dir := t.TempDir()
	run := shortDir(t)
	pkiDir := taptest.PKI(t)
	cfg := map[string]any{
		"site": "example-city", "gate": "es2-a", "mode": "shelter", "place": "elementary-school-2", "data_dir": filepath.Join(dir, "data"),
		"lanes":   []map[string]string{{"name": "entrance", "reader": slot.Reader, "kind": "checkin"}},
		"roots":   []string{filepath.Join(pkiDir, "root.pem")},
		"hsm":     map[string]any{"module": tok.Module, "token_label": "not-plugged-in", "pin_file": tok.PINFile},
		"mqtt":    map[string]string{"broker": broker.Addr()},
		"policy":  map[string]any{"accept": []string{"cert"}},
		"control": map[string]string{"socket": filepath.Join(run, "gateagent.sock")},
	}
	// A record with staff's note goes to the hub-only .../private topic.
	sub := mqtttest.Subscribe(t, broker.Addr(), "mynagate/v1/example-city/es2-a/+")
	cfgPath, _, stderr := startDaemon(t, dir, cfg)
	for i := range 2 { // a second tap checks the same card out: keyed for this run
		remove := taptest.Present(t, slot, taptest.Profile(t, "card-001.json"))
		eventMsgs(t, sub, i+1)
		remove()
	}

	staff := func(args ...string) string { return staffOK(t, cfgPath, args...) }
	if out := staff("staff", "checkin", "--slip", "0042", "--note", "子ども・保護者同伴"); !strings.Contains(out, "recorded: checkin at elementary-school-2") {
		t.Fatalf("staff checkin printed %q", out)
	}
	staff("staff", "checkout", "--slip", "0042")
	if code, _, errOut := run2("staff", "open", "--reason", "forgotten_card", "--config", cfgPath); code == 0 || !strings.Contains(errOut, "no entry lane") {
		t.Fatalf("staff open at a shelter: code %d, %s", code, errOut)
	}

	msgs := eventMsgs(t, sub, 4)
	var got []string
	for _, m := range msgs {
		e, err := event.Decode(m.Payload)
		if err != nil {
			t.Fatal(err)
		}
		if e.Place != "elementary-school-2" || e.Decision != event.Admit {
			t.Errorf("event %+v", e)
		}
		got = append(got, strings.Join([]string{string(e.Kind), string(e.Reason), e.Assurance, boolStr(e.Reconcile), e.Slip, e.Note}, "/"))
	}
	want := []string{"checkin/not_listed/cert/reconcile//", "checkout/not_listed/cert/reconcile//", "checkin/staff/staff//0042/子ども・保護者同伴", "checkout/staff/staff//0042/"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if !strings.Contains(stderr.String(), "HSM unavailable") {
		t.Errorf("no log line says the HSM is unavailable:\n%s", stderr.String())
	}
}

// TestShelterEmergencyFallbackWithoutHSM is the shelter station of the
// finding: configs/shelter.json's accept ["pinless","cert"] with an
// institution certificate, an emergency declared with fallback ["cert"], and
// the HSM token missing. The station starts anyway and checks a card in at
// the cert level (pcscd+vpcd), recorded as such.
func TestShelterEmergencyFallbackWithoutHSM(t *testing.T) {
	slot := pcsctest.Acquire(t, 0)
	broker := mqtttest.Start(t)
	tok := hsmtest.NewToken(t, "shelter-fallback")
	dir := t.TempDir()
	pkiDir := taptest.PKI(t)
	// The institution key lives in the missing token; any P-256 key stands
	// in for it in the certificate.
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	inst, err := pki.IssueInstitution(pkiDir, pki.InstitutionRequest{PublicKeyPEM: pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})})
	if err != nil {
		t.Fatal(err)
	}
	instPath := filepath.Join(dir, "institution.cvc")
	if err := os.WriteFile(instPath, inst, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := map[string]any{
		"site": "example-city", "gate": "es2-a", "mode": "shelter", "place": "elementary-school-2", "data_dir": filepath.Join(dir, "data"),
		"lanes":   []map[string]string{{"name": "entrance", "reader": slot.Reader, "kind": "checkin"}},
		"roots":   []string{filepath.Join(pkiDir, "root.pem")},
		"hsm":     map[string]any{"module": tok.Module, "token_label": "not-plugged-in", "pin_file": tok.PINFile},
		"mqtt":    map[string]string{"broker": broker.Addr()},
		"pinless": map[string]string{"certificate": instPath, "institution_code": pki.InstitutionCode},
		"policy":  map[string]any{"accept": []string{"pinless", "cert"}, "emergency": true, "fallback": []string{"cert"}},
	}
	sub := mqtttest.Subscribe(t, broker.Addr(), "mynagate/v1/example-city/es2-a/events")
	_, _, stderr := startDaemon(t, dir, cfg)
	remove := taptest.Present(t, slot, taptest.Profile(t, "card-001.json"))
	msgs := eventMsgs(t, sub, 1)
	remove()
	e, err := event.Decode(msgs[0].Payload)
	if err != nil {
		t.Fatal(err)
	}
	if e.Kind != event.KindCheckin || e.Decision != event.Admit || e.Assurance != "cert" || e.Place != "elementary-school-2" {
		t.Fatalf("check-in %+v, want admitted at the cert level", e)
	}
	if !strings.Contains(stderr.String(), "HSM unavailable") {
		t.Errorf("no log line says the HSM is unavailable:\n%s", stderr.String())
	}
}

// startDaemon writes cfg and runs `gateagent run` on it until the test ends,
// returning the config's path and the daemon's output once it is connected.
func startDaemon(t *testing.T, dir string, cfg map[string]any) (string, *syncBuffer, *syncBuffer) {
	t.Helper()
	b, _ := json.Marshal(cfg)
	cfgPath := filepath.Join(dir, "gateagent.json")
	os.WriteFile(cfgPath, b, 0o600)
	ctx, stop := context.WithCancel(context.Background())
	var stdout, stderr syncBuffer
	exited := make(chan int, 1)
	go func() { exited <- dispatch(ctx, []string{"run", "--config", cfgPath}, &stdout, &stderr) }()
	t.Cleanup(func() {
		stop()
		select {
		case code := <-exited:
			if code != 0 {
				t.Errorf("run exited %d: %s", code, stderr.String())
			}
		case <-time.After(15 * time.Second):
			t.Error("run did not stop within 15 s")
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(stderr.String(), "uplink connected") {
		if time.Now().After(deadline) {
			t.Fatalf("the daemon did not start:\n%s", stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return cfgPath, &stdout, &stderr
}

// staffOK runs a `gateagent staff` command until it succeeds (the socket may
// still be coming up) and returns what it printed.
func staffOK(t *testing.T, cfgPath string, args ...string) string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		code, out, errOut := run2(append(args, "--config", cfgPath)...)
		if code == 0 {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("gateagent %v: %s", args, errOut)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// shortDir is a temporary directory for unix sockets, whose paths must stay
// short.
func shortDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "ga")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// TestVenueStaffOverride: at a venue gate, `gateagent staff open` records an
// admitted entry with its reason, counts it in the gate's metrics and opens
// the turnstile once.
func TestVenueStaffOverride(t *testing.T) {
	broker := mqtttest.Start(t)
	dir := t.TempDir()
	secretFile, _ := writeSecret(t, dir)
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", mqtttest.FreePort(t))
	cfg := map[string]any{
		"site": "arena", "gate": "north-3", "mode": "venue", "data_dir": filepath.Join(dir, "data"),
		"lanes":          []map[string]string{{"name": "north-3-in", "reader": "No reader at this test gate", "kind": "entry"}},
		"roots":          []string{filepath.Join(taptest.PKI(t), "root.pem")},
		"card_key":       map[string]string{"secret_file": secretFile},
		"mqtt":           map[string]string{"broker": broker.Addr()},
		"metrics_listen": metricsAddr,
		"control":        map[string]string{"socket": filepath.Join(shortDir(t), "gateagent.sock")},
	}
	sub := mqtttest.Subscribe(t, broker.Addr(), "mynagate/v1/arena/north-3/private")
	cfgPath, stdout, _ := startDaemon(t, dir, cfg)
	if out := staffOK(t, cfgPath, "staff", "open", "--reason", "paper_ticket", "--note", "紙チケット確認済"); !strings.Contains(out, "turnstile opened once: paper_ticket recorded at lane north-3-in") {
		t.Fatalf("staff open printed %q", out)
	}
	if code, _, errOut := run2("staff", "open", "--reason", "vip", "--config", cfgPath); code == 0 || !strings.Contains(errOut, "forgotten_card, paper_ticket or other") {
		t.Fatalf("an unknown reason: code %d, %s", code, errOut)
	}
	e, err := event.Decode(sub.WaitN(1, 15*time.Second)[0].Payload)
	if err != nil {
		t.Fatal(err)
	}
	if e.Kind != event.KindEntry || e.Decision != event.Admit || e.Reason != event.ReasonStaff || e.Staff != "paper_ticket" ||
		e.Note != "紙チケット確認済" || e.Lane != "north-3-in" || e.Card != "" {
		t.Fatalf("override event %+v", e)
	}
	if n := strings.Count(stdout.String(), "turnstile open"); n != 1 {
		t.Fatalf("turnstile opened %d times:\n%s", n, stdout.String())
	}
	resp, err := http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(body), `mynagate_taps_total{decision="admit",lane="north-3-in",reason="staff"} 1`) {
		t.Fatalf("the override is not counted:\n%s", body)
	}
}

// eventMsgs waits for n event messages (on .../events or .../private) among
// what sub collects, and returns them in arrival order.
func eventMsgs(t *testing.T, sub *mqtttest.Sub, n int) []mqtttest.Message {
	t.Helper()
	var got []mqtttest.Message
	deadline := time.Now().Add(30 * time.Second)
	for {
		got = got[:0]
		for _, m := range sub.Messages() {
			if strings.HasSuffix(m.Topic, "/events") || strings.HasSuffix(m.Topic, "/private") {
				got = append(got, m)
			}
		}
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d event messages, want %d", len(got), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func run2(args ...string) (int, string, string) {
	var out, errOut syncBuffer
	code := dispatch(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func boolStr(b bool) string {
	if b {
		return "reconcile"
	}
	return ""
}
