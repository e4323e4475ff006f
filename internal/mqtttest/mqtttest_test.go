package mqtttest

import (
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

func publish(t *testing.T, addr, topic, payload string) error {
	t.Helper()
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(addr).SetConnectTimeout(2 * time.Second))
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		return tok.Error()
	}
	defer c.Disconnect(50)
	tok := c.Publish(topic, 1, false, payload)
	tok.WaitTimeout(5 * time.Second)
	return tok.Error()
}

func TestSubscriberSurvivesRestart(t *testing.T) {
	b := Start(t)
	sub := Subscribe(t, b.Addr(), "t/#")
	if err := publish(t, b.Addr(), "t/1", "one"); err != nil {
		t.Fatal(err)
	}
	sub.WaitN(1, 10*time.Second)
	b.Restart()
	if err := publish(t, b.Addr(), "t/2", "two"); err != nil {
		t.Fatal(err)
	}
	got := sub.WaitN(2, 20*time.Second)
	if got[1].Topic != "t/2" || string(got[1].Payload) != "two" {
		t.Fatalf("second message %+v", got[1])
	}
}

func TestProxyCutAndRestore(t *testing.T) {
	b := Start(t)
	p := NewProxy(t, b.Addr())
	if err := publish(t, p.Addr(), "t", "x"); err != nil {
		t.Fatalf("through proxy: %v", err)
	}
	p.Cut()
	if err := publish(t, p.Addr(), "t", "x"); err == nil {
		t.Fatal("publish through a cut proxy succeeded")
	}
	p.Restore()
	if err := publish(t, p.Addr(), "t", "x"); err != nil {
		t.Fatalf("after restore: %v", err)
	}
}
