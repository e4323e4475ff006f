package main

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/mynagate/mynagate/config"
	"github.com/mynagate/mynagate/gate"
	"github.com/mynagate/mynagate/internal/mqtttest"
	"github.com/mynagate/mynagate/internal/pcsctest"
	"github.com/mynagate/mynagate/internal/taptest"
	"github.com/mynagate/mynagate/offline/hsm"
	"github.com/mynagate/mynagate/sync/lists"
	"github.com/mynagate/mynagate/vcard/pki"
)

// TestDoctor checks a healthy gate, then breaks it the ways operators do.
func TestDoctor(t *testing.T) {
	slot := pcsctest.Acquire(t, 0)
	broker := mqtttest.Start(t)
	dir := t.TempDir()
	secretFile, _ := writeSecret(t, dir)
	data := filepath.Join(dir, "data")
	os.Mkdir(data, 0o700)
	if code, _, errOut := run(t, "whitelist", "import", "--db", filepath.Join(data, "whitelist.db"), "--secret-file", secretFile, filepath.Join(taptest.PKI(t), "whitelist.csv")); code != 0 {
		t.Fatal(errOut)
	}
	writeCfg := func(mod func(map[string]any)) string {
		cfg := map[string]any{
			"site": "s", "gate": "g", "data_dir": data,
			"lanes":    []map[string]string{{"reader": slot.Reader}},
			"roots":    []string{filepath.Join(taptest.PKI(t), "root.pem")},
			"card_key": map[string]string{"secret_file": secretFile},
			"mqtt":     map[string]string{"broker": broker.Addr()},
			"hub_keys": []string{writeHubKey(t, dir)},
		}
		if mod != nil {
			mod(cfg)
		}
		b, _ := json.Marshal(cfg)
		p := filepath.Join(dir, "gate.json")
		os.WriteFile(p, b, 0o600)
		return p
	}
	remove := taptest.Present(t, slot, taptest.Profile(t, "card-001.json"))
	code, out, errOut := run(t, "doctor", "--config", writeCfg(nil))
	remove()
	if code != 0 {
		t.Fatalf("healthy gate: exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{"card answers: JPKIAPICCTOKEN2", "4 entries", "connected anonymously", "MiB free", "1 Ed25519 key(s) load", "metrics_listen not set"} {
		if !strings.Contains(out, want) {
			t.Errorf("doctor output lacks %q:\n%s", want, out)
		}
	}

	broker.Stop()
	os.Chmod(secretFile, 0o644)
	code, out, _ = run(t, "doctor", "--json", "--config", writeCfg(func(c map[string]any) {
		c["lanes"] = []map[string]string{{"reader": "ACS ACR1252*"}}
		c["hw"] = map[string]any{"relay": map[string]string{"pin": "GPIO_NOT_THERE"}}
	}))
	os.Chmod(secretFile, 0o600)
	if code != 1 {
		t.Fatalf("broken gate: exit %d", code)
	}
	failed := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var f finding
		if err := json.Unmarshal([]byte(line), &f); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		if !f.OK {
			failed[f.Part] = f.Hint
		}
	}
	for _, part := range []string{"broker", "card key", "lane lane-1", "hw.relay"} {
		if hint, ok := failed[part]; !ok || hint == "" {
			t.Errorf("%s: not reported as failed with a hint (failed: %v)", part, failed)
		}
	}
}

// TestDoctorBroker logs in to a real Mosquitto that demands passwords: a
// wrong password is an authentication error, a stopped broker is out of reach,
// and the hub keys are checked against the hub's retained list manifest.
func TestDoctorBroker(t *testing.T) {
	broker := mqtttest.Start(t, mqtttest.WithPasswords(map[string]string{"north-3": "right", "hub": "hub"}))
	dir := t.TempDir()
	pw := filepath.Join(dir, "mqtt.password")
	hubPub, hubKey, _ := ed25519.GenerateKey(nil)
	otherPub, _, _ := ed25519.GenerateKey(nil)
	keyFile := func(name string, k ed25519.PublicKey) string {
		b, _ := lists.MarshalPublicKey(k)
		p := filepath.Join(dir, name)
		os.WriteFile(p, b, 0o644)
		return p
	}
	cfg := &config.Config{Site: "s", Gate: "g", MQTT: config.MQTT{Broker: broker.Addr(), Username: "north-3", PasswordFile: pw},
		HubKeys: []string{keyFile("hub.pub", hubPub)}}

	os.WriteFile(pw, []byte("wrong\n"), 0o600)
	fs := checkBroker(cfg)
	if len(fs) != 1 || fs[0].OK || !strings.Contains(fs[0].Verdict, `authentication refused for user "north-3"`) || !strings.Contains(fs[0].Hint, "mqtt.password_file") {
		t.Errorf("wrong password: %+v", fs)
	}

	os.WriteFile(pw, []byte("right\n"), 0o600)
	fs = checkBroker(cfg)
	if len(fs) != 2 || !fs[0].OK || !strings.Contains(fs[0].Verdict, `connected as "north-3"`) || !fs[1].OK || !strings.Contains(fs[1].Verdict, "no whitelist snapshot") {
		t.Errorf("right password, nothing published: %+v", fs)
	}

	// The hub publishes a signed snapshot, retained, as gatehub publish does.
	signed, err := lists.Build(hubKey, lists.Manifest{Site: "s", List: "whitelist", Kind: lists.Snapshot, Version: 7, Created: time.Now()}, lists.EncodePayload(&lists.Change{}), lists.DefaultChunkSize)
	if err != nil {
		t.Fatal(err)
	}
	pub := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(broker.Addr()).SetUsername("hub").SetPassword("hub").SetProtocolVersion(4))
	if tok := pub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("hub client: %v", tok.Error())
	}
	if tok := pub.Publish(lists.ManifestTopic("mynagate/v1", "s", "whitelist", lists.Snapshot, 0), 1, true, signed.Envelope); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publish: %v", tok.Error())
	}
	pub.Disconnect(50)
	fs = checkBroker(cfg)
	if len(fs) != 2 || !fs[1].OK || !strings.Contains(fs[1].Verdict, "the hub keys verify the hub's whitelist snapshot v7") {
		t.Errorf("matching hub key: %+v", fs)
	}
	cfg.HubKeys = []string{keyFile("other.pub", otherPub)}
	fs = checkBroker(cfg)
	if len(fs) != 2 || fs[1].OK || !strings.Contains(fs[1].Verdict, "signed with a key not in hub_keys") || fs[1].Hint == "" {
		t.Errorf("another hub key: %+v", fs)
	}

	broker.Stop()
	fs = checkBroker(cfg)
	if len(fs) != 1 || fs[0].OK || !strings.Contains(fs[0].Verdict, "unreachable") || strings.Contains(fs[0].Verdict, "authentication") {
		t.Errorf("stopped broker: %+v", fs)
	}
}

// TestDoctorInstitution checks the institution certificate against the key
// in a real SoftHSM2 token.
func TestDoctorInstitution(t *testing.T) {
	dir := t.TempDir()
	tok, instPath := provisionPINLess(t, dir, 400)
	cfg := &config.Config{
		HSM:     config.HSM{Module: tok.Module, TokenLabel: tok.TokenLabel, PINFile: tok.PINFile, MaxSessions: tok.MaxSessions, InstitutionKeyLabel: "mynagate-institution"},
		PINLess: config.PINLess{Certificate: instPath, InstitutionCode: pki.InstitutionCode},
	}
	h, err := gate.OpenHSM(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	now := time.Now()
	f := checkInstitution(cfg, h, now)
	if !f.OK || !strings.Contains(f.Verdict, "day(s) left") || !strings.Contains(f.Verdict, "certifies the HSM key") {
		t.Errorf("matching certificate: %+v", f)
	}
	// Close to its end the doctor asks for a renewal.
	c, _ := institutionCertificate(cfg, now)
	f = checkInstitution(cfg, h, gate.CertEnd(c).Add(-36*time.Hour))
	if f.OK || !strings.Contains(f.Verdict, "(1 day(s) left)") || !strings.Contains(f.Hint, "renewed certificate") {
		t.Errorf("certificate ending tomorrow: %+v", f)
	}
	if f = checkInstitution(cfg, h, gate.CertEnd(c)); f.OK || !strings.Contains(f.Verdict, "expired") {
		t.Errorf("expired certificate: %+v", f)
	}
	// A certificate for another key (another gate's) does not match.
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pub, _ := hsm.PublicKeyPEM(&other.PublicKey)
	der, err := pki.IssueInstitution(taptest.PKI(t), pki.InstitutionRequest{PublicKeyPEM: pub})
	if err != nil {
		t.Fatal(err)
	}
	otherPath := filepath.Join(dir, "other.cvc")
	os.WriteFile(otherPath, der, 0o644)
	cfg.PINLess.Certificate = otherPath
	if f = checkInstitution(cfg, h, now); f.OK || !strings.Contains(f.Verdict, "certifies another key") {
		t.Errorf("another gate's certificate: %+v", f)
	}
}

// TestDoctorMetricsPort tells a free port, the running gate's endpoint and
// a port another program holds apart.
func TestDoctorMetricsPort(t *testing.T) {
	addr := fmt.Sprintf("127.0.0.1:%d", mqtttest.FreePort(t))
	if f := checkMetricsPort(addr); !f.OK || !strings.Contains(f.Verdict, "is free") {
		t.Errorf("free port: %+v", f)
	}
	serve := func(body string) func() {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, body) })}
		go srv.Serve(l)
		return func() { srv.Close() }
	}
	stop := serve("# TYPE mynagate_online gauge\nmynagate_online 1\n")
	if f := checkMetricsPort(addr); !f.OK || !strings.Contains(f.Verdict, "serves the gate's metrics") {
		t.Errorf("our endpoint: %+v", f)
	}
	stop()
	stop = serve("<html>a printer's web page</html>")
	defer stop()
	if f := checkMetricsPort(addr); f.OK || !strings.Contains(f.Verdict, "taken by another program") || f.Hint == "" {
		t.Errorf("another program: %+v", f)
	}
	if f := checkMetricsPort("192.0.2.1:9464"); f.OK || !strings.Contains(f.Hint, "address of this machine") {
		t.Errorf("foreign address: %+v", f)
	}
}

// TestDoctorProbesOnlyNamedReaders puts a card on a vpcd slot: a lane naming
// the slot has its card probed, a lane with "*" is satisfied by any reader
// and probes none.
func TestDoctorProbesOnlyNamedReaders(t *testing.T) {
	slot := pcsctest.Acquire(t, 0)
	remove := taptest.Present(t, slot, taptest.Profile(t, "card-001.json"))
	defer remove()
	for _, tc := range []struct {
		reader string
		ok     bool
		want   string
		not    string
	}{
		{slot.Reader, true, slot.Reader + ": card answers: JPKIAPICCTOKEN2", ""},
		{"*", true, "any reader: pcscd sees", "card answers"},
		{"ACS ACR1252*", false, `no reader matches "ACS ACR1252*"`, "card answers"},
	} {
		fs := checkReaders(&config.Config{Lanes: []config.Lane{{Name: "in", Reader: tc.reader}}})
		if len(fs) != 1 || fs[0].OK != tc.ok || fs[0].Part != "lane in" || !strings.Contains(fs[0].Verdict, tc.want) || (tc.not != "" && strings.Contains(fs[0].Verdict, tc.not)) {
			t.Errorf("lane reader %q: %+v", tc.reader, fs)
		}
	}
}
