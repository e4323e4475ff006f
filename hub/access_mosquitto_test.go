package hub

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/mynagate/mynagate/hub/hubtest"
	"github.com/mynagate/mynagate/internal/mqtttest"
	"github.com/mynagate/mynagate/sync/uplink"
)

// TestMosquittoWithGateEntries runs the hub against Mosquitto over TLS, set
// up as the README says with the password and ACL files gatehub gate add
// writes, and tries the attacks Mosquitto's ACL must refuse.
func TestMosquittoWithGateEntries(t *testing.T) {
	cfg := testConfig(t)
	cfg.InsecurePlainTCPOnLoopback = false
	cfg.MosquittoDir = t.TempDir()
	cfg.Broker = "ssl://127.0.0.1:1" // an external broker; the port is known once it runs
	accounts := map[string]uplink.Config{}
	for _, g := range []string{"g1", "g2"} {
		_, pw, err := AddGate(cfg.DataDir, "stadium", g, false, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		accounts[g] = uplink.Config{Site: "stadium", Gate: g, Prefix: cfg.Prefix, Username: GateUsername("stadium", g), Password: pw, ClientID: GateClientID("stadium", g)}
	}
	b := startMosquitto(t, cfg)
	for g, c := range accounts {
		c.Broker, c.CAFile = cfg.Broker, cfg.CAFile
		accounts[g] = c
	}
	g1, g2 := accounts["g1"], accounts["g2"]
	h := startHub(t, cfg)
	p := cfg.Prefix

	anon := g1
	anon.Username, anon.Password = "", ""
	refusedConnect(t, "anonymous", anon)

	// g1 listens to what it may and what it may not (g2's receipts).
	heard := map[string]int{}
	var mu = make(chan struct{}, 1)
	mu <- struct{}{}
	// (Mosquitto ties no client id to an account: README "External broker".)
	listener := g1
	listener.ClientID += "-listen"
	cl := hubtest.Connect(t, listener)
	for _, f := range []string{p + "/stadium/g2/stored", "#", p + "/stadium/g1/stored"} {
		cl.Subscribe(f, 1, func(_ paho.Client, m paho.Message) {
			<-mu
			heard[m.Topic()]++
			mu <- struct{}{}
		}).WaitTimeout(10 * time.Second)
	}
	count := func(topic string) int {
		<-mu
		defer func() { mu <- struct{}{} }()
		return heard[topic]
	}
	// Forged: g1 publishing as g2, and over a retained list.
	hubtest.Publish(t, g1, p+"/stadium/g2/events", eventPayload(t, "stadium", "g2"), false)
	hubtest.Publish(t, g1, p+"/stadium/lists/whitelist/snapshot", []byte("forged"), true)
	// Genuine: g2's event, then g1's; g1's receipt comes after g2's.
	hubtest.Publish(t, g2, p+"/stadium/g2/events", eventPayload(t, "stadium", "g2"), false)
	waitFor(t, "g2's own event stored", func() bool { return gateStats(t, h, "g2").Events == 1 })
	hubtest.Publish(t, g1, p+"/stadium/g1/events", eventPayload(t, "stadium", "g1"), false)
	waitFor(t, "g1's receipt", func() bool { return count(p+"/stadium/g1/stored") > 0 })
	if n := count(p + "/stadium/g2/stored"); n != 0 {
		t.Fatalf("g1 read g2's receipts %d times", n)
	}
	// '#' is granted by Mosquitto, but delivers only what g1 may read.
	<-mu
	for topic := range heard {
		if !(&access{prefix: p}).gateMay(GateAccount{Site: "stadium", Gate: "g1"}, topic, false) {
			t.Errorf("g1 read %s", topic)
		}
	}
	mu <- struct{}{}
	if got, ok := hubtest.Subscribe(t, hubAccount(t, cfg), p+"/stadium/lists/whitelist/snapshot").Wait(1, 2*time.Second); ok {
		t.Fatalf("a gate's retained list reached the broker: %+v", got)
	}
	if g := gateStats(t, h, "g2"); g.Events != 1 {
		t.Fatalf("g2 has %d events: the forged one got in", g.Events)
	}

	// A last will aimed at another gate's status: the connection dies
	// abruptly, Mosquitto publishes the will only if the ACL lets g1 write
	// there.
	hubtest.Publish(t, g2, p+"/stadium/g2/status", []byte(`{"site":"stadium","gate":"g2","online":true}`), true)
	proxy := mqtttest.NewProxy(t, b.HostPort())
	wopts := paho.NewClientOptions().AddBroker(strings.Replace(proxy.Addr(), "tcp://", "ssl://", 1)).SetClientID(g1.ClientID+"-will").
		SetUsername(g1.Username).SetPassword(g1.Password).SetConnectTimeout(10*time.Second).SetAutoReconnect(false).
		SetWill(p+"/stadium/g2/status", `{"site":"stadium","gate":"g2","online":false}`, 1, true).SetTLSConfig(tlsFor(t, g1))
	if wc := paho.NewClient(wopts); wc.Connect().WaitTimeout(20*time.Second) && wc.IsConnected() {
		proxy.Cut()
		// The will, if published, precedes this receipt-bearing event.
		hubtest.Publish(t, g2, p+"/stadium/g2/events", eventPayload(t, "stadium", "g3"), false)
		waitFor(t, "g2's second event", func() bool { return gateStats(t, h, "g2").Events == 2 })
	}
	got, _ := hubtest.Subscribe(t, hubAccount(t, cfg), p+"/stadium/g2/status").Wait(1, 10*time.Second)
	if len(got) != 1 || !strings.Contains(string(got[0].Payload), `"online":true`) {
		t.Fatalf("g2's retained status after g1's will: %+v", got)
	}

	// Revoked: the files are rewritten without it; Mosquitto reads them
	// again at a restart (or SIGHUP, for new logins).
	if _, err := RevokeGate(cfg.DataDir, "stadium", "g1", time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := WriteMosquittoFiles(cfg); err != nil {
		t.Fatal(err)
	}
	passwd, _ := os.ReadFile(filepath.Join(cfg.MosquittoDir, MosquittoPasswd))
	if strings.Contains(string(passwd), "stadium/g1:") {
		t.Fatal("the revoked gate is still in the password file")
	}
	b.Restart()
	refusedConnect(t, "the revoked gate", g1)
	hubtest.Connect(t, g2)
}

// startMosquitto runs Mosquitto over TLS as the README's "An external
// Mosquitto" sets it up, with the password and ACL files gatehub gate add
// writes for the gates provisioned in cfg (cfg.MosquittoDir set), and points
// cfg at it.
func startMosquitto(t *testing.T, cfg *Config) *mqtttest.Broker {
	t.Helper()
	if err := WriteMosquittoFiles(cfg); err != nil {
		t.Fatal(err)
	}
	// The broker's certificate from a CA of the test's own.
	caDir := t.TempDir()
	ca, err := ensureCA(caDir)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.serverCert([]string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(caDir, "server.pem"), filepath.Join(caDir, "server-key.pem")
	var chain []byte
	for _, der := range cert.Certificate {
		chain = append(chain, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	os.WriteFile(certFile, chain, 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600)
	b := mqtttest.Start(t, func(testing.TB, string) string {
		return "certfile " + certFile + "\nkeyfile " + keyFile + "\nallow_anonymous false\npassword_file " +
			filepath.Join(cfg.MosquittoDir, MosquittoPasswd) + "\nacl_file " + filepath.Join(cfg.MosquittoDir, MosquittoACL)
	})
	cfg.Broker, cfg.CAFile = "ssl://"+b.HostPort(), CAFile(caDir)
	return b
}
