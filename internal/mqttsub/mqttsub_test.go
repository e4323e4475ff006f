package mqttsub

import (
	"fmt"
	"log/slog"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	mqttserver "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/mynagate/mynagate/internal/mqtttest"
)

// startMochi runs the embedded broker's engine with n retained messages under
// lists/ so that a subscription to lists/# keeps it busy sending.
func startMochi(t *testing.T, n int) string {
	t.Helper()
	srv := mqttserver.New(&mqttserver.Options{InlineClient: true, Logger: slog.New(slog.DiscardHandler)})
	if err := srv.AddHook(new(allowAll), nil); err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", mqtttest.FreePort(t))
	if err := srv.AddListener(listeners.NewTCP(listeners.Config{ID: "t", Address: addr})); err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	for i := range n {
		if err := srv.Publish(fmt.Sprintf("lists/l/%d", i), make([]byte, 1024), true, 1); err != nil {
			t.Fatal(err)
		}
	}
	return "tcp://" + addr
}

// client connects a paho client that collects events and ignores list messages
// without acknowledging them quickly, as a gate busy applying a list would.
func client(t *testing.T, addr string, events chan<- string) mqtt.Client {
	t.Helper()
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(addr).SetClientID(fmt.Sprintf("t-%d", time.Now().UnixNano())).
		SetOrderMatters(true))
	c.AddRoute("lists/#", func(mqtt.Client, mqtt.Message) { time.Sleep(20 * time.Millisecond) })
	c.AddRoute("site/+/events", func(_ mqtt.Client, m mqtt.Message) { events <- m.Topic() })
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(50) })
	return c
}

// TestBrokerRefusesASubscribeWhileSending pins the broker behaviour this
// package works around: with retained messages in flight to the client, a
// second SUBSCRIBE is refused. If this test fails, mochi-mqtt has stopped
// sharing packet ids between directions and the retry is no longer needed
// for it.
func TestBrokerRefusesASubscribeWhileSending(t *testing.T) {
	addr := startMochi(t, 200)
	c := client(t, addr, make(chan string, 1))
	c.Subscribe("lists/#", 1, nil).WaitTimeout(10 * time.Second)
	refusals := 0
	for range 20 {
		tok := c.Subscribe("site/+/events", 1, nil)
		tok.WaitTimeout(10 * time.Second)
		if tok.(*mqtt.SubscribeToken).Result()["site/+/events"] > maxGranted {
			refusals++
		}
	}
	if refusals == 0 {
		t.Fatal("the broker granted every SUBSCRIBE made while it was sending retained messages")
	}
	t.Logf("%d of 20 refused", refusals)
}

// TestSubscribeRetriesRefusals: lists first, then peers' events, as the gate
// used to: with Subscribe both are granted and the events arrive.
func TestSubscribeRetriesRefusals(t *testing.T) {
	for _, order := range [][]string{{"lists/#", "site/+/events"}, {"site/+/events", "lists/#"}} {
		t.Run(order[0], func(t *testing.T) {
			addr := startMochi(t, 200)
			events := make(chan string, 16)
			c := client(t, addr, events)
			for _, f := range order {
				if !Subscribe(c, []string{f}, Options{}) {
					t.Fatalf("subscribe %s: not granted", f)
				}
			}
			pub := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(addr).SetClientID(fmt.Sprintf("p-%d", time.Now().UnixNano())))
			if tok := pub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
				t.Fatal(tok.Error())
			}
			defer pub.Disconnect(50)
			pub.Publish("site/g2/events", 1, false, []byte("{}")).WaitTimeout(10 * time.Second)
			select {
			case <-events:
			case <-time.After(30 * time.Second):
				t.Fatal("no peer event after both subscriptions were granted")
			}
		})
	}
}

// TestSubscribeGivesUpWhenDisconnected: a client that is not connected gets
// false at once, and the next connect asks again.
func TestSubscribeGivesUpWhenDisconnected(t *testing.T) {
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker("tcp://127.0.0.1:1"))
	if Subscribe(c, []string{"a"}, Options{}) {
		t.Fatal("granted without a connection")
	}
}

// allowAll lets every client in (mochi's own allow hook would pull in a YAML
// parser).
type allowAll struct{ mqttserver.HookBase }

func (*allowAll) ID() string { return "allow-all" }

func (*allowAll) Provides(b byte) bool {
	return b == mqttserver.OnConnectAuthenticate || b == mqttserver.OnACLCheck
}

func (*allowAll) OnConnectAuthenticate(*mqttserver.Client, packets.Packet) bool { return true }

func (*allowAll) OnACLCheck(*mqttserver.Client, string, bool) bool { return true }
