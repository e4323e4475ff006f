package hub

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/mynagate/mynagate/event"
	"github.com/mynagate/mynagate/hub/hubtest"
	"github.com/mynagate/mynagate/internal/mqtttest"
	"github.com/mynagate/mynagate/sync/uplink"
)

// tlsHub starts a hub whose embedded broker is set up as in production: TLS
// with the hub's own CA, logins required.
func tlsHub(t *testing.T) (*Config, *Hub) {
	t.Helper()
	cfg := testConfig(t)
	cfg.InsecurePlainTCPOnLoopback = false
	if !strings.HasPrefix(cfg.BrokerURL(), "ssl://") {
		t.Fatalf("broker URL %s: want ssl://", cfg.BrokerURL())
	}
	return cfg, startHub(t, cfg)
}

// refusedConnect checks that the broker refuses c's connection.
func refusedConnect(t *testing.T, what string, c uplink.Config) {
	t.Helper()
	cl, err := hubtest.Dial(c)
	if err == nil {
		cl.Disconnect(50)
		t.Fatalf("%s: the broker let it in", what)
	}
}

func eventPayload(t *testing.T, site, gate string) []byte {
	t.Helper()
	e := event.Event{ID: "01JATTACK0000000000000000" + gate[len(gate)-1:], Seq: 1, At: time.Now(), Site: site, Gate: gate, Kind: event.KindEntry,
		Decision: event.Admit, Reason: event.ReasonAdmit, ServiceID: "T-forged", Assurance: "pinless"}
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// publishRefused publishes as c, which the broker must refuse: with MQTT
// 3.1.1 it drops the connection instead of acknowledging.
func publishRefused(t *testing.T, what string, c uplink.Config, topic string, payload []byte, retained bool) {
	t.Helper()
	cl := hubtest.Connect(t, c)
	tok := cl.Publish(topic, 1, retained, payload)
	tok.WaitTimeout(10 * time.Second)
	waitFor(t, what+": the broker to drop the connection", func() bool { return !cl.IsConnectionOpen() })
}

func TestBrokerRefusesAttacks(t *testing.T) {
	cfg, h := tlsHub(t)
	g1 := gateAccount(t, cfg, "stadium", "g1")
	g2 := gateAccount(t, cfg, "stadium", "g2")
	a1 := gateAccount(t, cfg, "arena", "a1")
	p := cfg.Prefix

	// Each gate's account gets in, over TLS, once the running hub has read
	// the registry.
	waitFor(t, "the hub to let g1 in", func() bool {
		cl, err := hubtest.Dial(g1)
		if err == nil {
			cl.Disconnect(50)
		}
		return err == nil
	})

	t.Run("anonymous", func(t *testing.T) {
		anon := g1
		anon.Username, anon.Password = "", ""
		refusedConnect(t, "anonymous", anon)
		wrong := g1
		wrong.Password = "guessed"
		refusedConnect(t, "a wrong password", wrong)
	})
	t.Run("plain TCP to the TLS listener", func(t *testing.T) {
		plain := g1
		plain.Broker, plain.CAFile = strings.Replace(plain.Broker, "ssl://", "tcp://", 1), ""
		refusedConnect(t, "plain TCP", plain)
	})
	t.Run("another gate's or the hub's client id", func(t *testing.T) {
		// gateagent doctor checks the login as {id}-doctor, beside the
		// daemon's session.
		doctor := g1
		doctor.ClientID += "-doctor"
		hubtest.Connect(t, doctor).Disconnect(50)
		for _, id := range []string{g2.ClientID, g2.ClientID + "-doctor", "mynagate-hub-ingest", "mynagate-hub-publish-1", "anything"} {
			c := g1
			c.ClientID = id
			refusedConnect(t, "client id "+id, c)
		}
		// The hub's account keeps to its own ids, so it cannot take a
		// gate's session either.
		hc := hubAccount(t, cfg)
		hc.ClientID = g1.ClientID
		refusedConnect(t, "the hub's account with a gate's id", hc)
	})
	t.Run("a last will aimed elsewhere", func(t *testing.T) {
		for _, topic := range []string{p + "/stadium/g2/status", p + "/stadium/lists/whitelist/snapshot", p + "/arena/a1/status"} {
			opts := paho.NewClientOptions().AddBroker(g1.Broker).SetClientID(g1.ClientID).SetUsername(g1.Username).SetPassword(g1.Password).
				SetConnectTimeout(10*time.Second).SetAutoReconnect(false).SetWill(topic, `{"online":false}`, 1, true).
				SetTLSConfig(tlsFor(t, g1))
			cl := paho.NewClient(opts)
			if tok := cl.Connect(); tok.WaitTimeout(20*time.Second) && tok.Error() == nil {
				cl.Disconnect(50)
				t.Fatalf("will on %s: the broker let it in", topic)
			}
		}
	})
	t.Run("subscribing beyond the gate's rights", func(t *testing.T) {
		cl := hubtest.Connect(t, g1)
		for _, f := range []string{"#", p + "/#", p + "/stadium/#", p + "/+/+/events", p + "/arena/lists/#", p + "/stadium/g2/stored", p + "/stadium/+/stored", p + "/stadium/+/#", p + "/stadium/g2/private", p + "/stadium/+/private"} {
			tok := cl.Subscribe(f, 1, func(paho.Client, paho.Message) {})
			if !tok.WaitTimeout(10 * time.Second) {
				t.Fatalf("subscribe %s: no answer", f)
			}
			if code := tok.(*paho.SubscribeToken).Result()[f]; code < 0x80 {
				t.Errorf("subscribe %s: granted QoS %d, want refused", f, code)
			}
		}
		for _, f := range []string{p + "/stadium/lists/#", p + "/stadium/+/events", p + "/stadium/g1/stored"} {
			tok := cl.Subscribe(f, 1, func(paho.Client, paho.Message) {})
			if !tok.WaitTimeout(10*time.Second) || tok.(*paho.SubscribeToken).Result()[f] >= 0x80 {
				t.Errorf("subscribe %s: refused, want granted", f)
			}
		}
	})
	t.Run("publishing under another gate or site", func(t *testing.T) {
		publishRefused(t, "g1 as g2", g1, p+"/stadium/g2/events", eventPayload(t, "stadium", "g2"), false)
		publishRefused(t, "g1 into arena", g1, p+"/arena/a1/events", eventPayload(t, "arena", "a1"), false)
		publishRefused(t, "g1 as a new gate", g1, p+"/stadium/phantom/events", eventPayload(t, "stadium", "phantom"), false)
		publishRefused(t, "g1 as g2, privately", g1, p+"/stadium/g2/private", eventPayload(t, "stadium", "g2"), false)
		publishRefused(t, "a receipt", g1, p+"/stadium/g2/stored", []byte(`{"v":1,"stored":[{"seq":1,"id":"x"}]}`), false)
	})
	t.Run("overwriting a retained list or another gate's status", func(t *testing.T) {
		hubtest.Publish(t, hubAccount(t, cfg), p+"/stadium/lists/whitelist/snapshot", []byte("genuine"), true)
		hubtest.Publish(t, g2, p+"/stadium/g2/status", []byte(`{"site":"stadium","gate":"g2","online":true}`), true)
		publishRefused(t, "a retained list", g1, p+"/stadium/lists/whitelist/snapshot", []byte("forged"), true)
		publishRefused(t, "another gate's status", g1, p+"/stadium/g2/status", []byte(`{"site":"stadium","gate":"g2","online":false}`), true)
		publishRefused(t, "another site's status", a1, p+"/stadium/g2/status", []byte(`{"site":"stadium","gate":"g2","online":false}`), true)
		got, _ := hubtest.Subscribe(t, hubAccount(t, cfg), p+"/stadium/lists/whitelist/snapshot").Wait(1, 10*time.Second)
		if len(got) != 1 || string(got[0].Payload) != "genuine" {
			t.Fatalf("retained list: %+v, want the hub's", got)
		}
		got, _ = hubtest.Subscribe(t, hubAccount(t, cfg), p+"/stadium/g2/status").Wait(1, 10*time.Second)
		if len(got) != 1 || !strings.Contains(string(got[0].Payload), `"online":true`) {
			t.Fatalf("retained status: %+v, want g2's own", got)
		}
	})

	v, err := h.Store().View()
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range v.Gates {
		if g.Events != 0 || g.Site == "arena" || g.Gate == "phantom" {
			t.Fatalf("the store took a forged event or made a gate: %+v", g.GateStats)
		}
	}
	if n := h.refused.snapshot(); n["login"] == 0 || n["not_own_topic"] < 3 {
		t.Fatalf("refusals %v: want logins and events counted", n)
	}
}

func tlsFor(t *testing.T, c uplink.Config) *tls.Config {
	t.Helper()
	tc, err := tlsConfig(c.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	return tc
}

func TestRevokedGateIsShutOut(t *testing.T) {
	cfg, _ := tlsHub(t)
	g1 := gateAccount(t, cfg, "stadium", "g1")
	var cl paho.Client
	waitFor(t, "the hub to let g1 in", func() bool {
		var err error
		cl, err = hubtest.Dial(g1)
		return err == nil
	})
	defer cl.Disconnect(50)
	if _, err := RevokeGate(cfg.DataDir, "stadium", "g1", time.Now()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the revoked gate's session to be cut", func() bool { return !cl.IsConnectionOpen() })
	refusedConnect(t, "a revoked gate", g1)
	if _, err := RevokeGate(cfg.DataDir, "stadium", "nope", time.Now()); !errors.Is(err, ErrNoGate) {
		t.Fatalf("revoke an unknown gate: %v", err)
	}
	// Provisioning the gate again issues new credentials; the old ones stay
	// out.
	g1new := gateAccount(t, cfg, "stadium", "g1")
	waitFor(t, "the re-provisioned gate to get in", func() bool {
		c, err := hubtest.Dial(g1new)
		if err == nil {
			c.Disconnect(50)
		}
		return err == nil
	})
	refusedConnect(t, "the stolen credentials", g1)
}

// TestExternalBrokerRefusesUnknownGates: with an external broker, whose ACL
// keeps gates to their topics, the hub still stores nothing for a gate it has
// not provisioned, and makes no site or gate for it.
func TestExternalBrokerRefusesUnknownGates(t *testing.T) {
	b := mqtttest.Start(t)
	cfg := testConfig(t)
	cfg.Listen, cfg.Broker = "", b.Addr()
	h := startHub(t, cfg)
	gateAccount(t, cfg, "stadium", "g1")
	waitFor(t, "the hub to know g1", func() bool { return h.gates.get().Known("stadium", "g1") })
	pub := uplink.Config{Broker: b.Addr(), ClientID: "attacker"}
	waitFor(t, "a refused event to be counted", func() bool {
		hubtest.Publish(t, pub, cfg.Prefix+"/evil/g9/events", eventPayload(t, "evil", "g9"), false)
		return h.refused.snapshot()["unknown_gate"] > 0
	})
	hubtest.Publish(t, pub, cfg.Prefix+"/stadium/g1/events", eventPayload(t, "stadium", "g1"), false)
	waitFor(t, "the provisioned gate's event", func() bool { return gateStats(t, h, "g1").Events == 1 })
	v, err := h.Store().View()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range v.Sites {
		if s.Site == "evil" {
			t.Fatalf("a site was made for an unknown gate: %+v", v.Sites)
		}
	}
}
