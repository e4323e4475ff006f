package mqtttest

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// Message is one message a Sub received.
type Message struct {
	Topic    string
	Payload  []byte
	Retained bool
}

// Sub is a subscriber that collects every message on its topic filter, in
// arrival order. It uses a persistent session and reconnects, so that it keeps
// collecting across a broker Restart.
type Sub struct {
	t      testing.TB
	client mqtt.Client

	mu   sync.Mutex
	msgs []Message
	// changed is closed and replaced on every arrival.
	changed chan struct{}
}

var subCount atomic.Int64

// Subscribe connects to the broker at addr ("tcp://host:port") and subscribes to
// topic at QoS 1. The subscription is ready when Subscribe returns; the client is
// disconnected at cleanup.
func Subscribe(t testing.TB, addr, topic string) *Sub {
	t.Helper()
	s := &Sub{t: t, changed: make(chan struct{})}
	handler := func(_ mqtt.Client, m mqtt.Message) {
		s.mu.Lock()
		s.msgs = append(s.msgs, Message{Topic: m.Topic(), Payload: m.Payload(), Retained: m.Retained()})
		close(s.changed)
		s.changed = make(chan struct{})
		s.mu.Unlock()
	}
	opts := mqtt.NewClientOptions().
		AddBroker(addr).
		SetClientID(fmt.Sprintf("mqtttest-sub-%d-%d", time.Now().UnixNano(), subCount.Add(1))).
		SetCleanSession(false).
		SetAutoReconnect(true).
		SetMaxReconnectInterval(time.Second).
		SetConnectTimeout(5 * time.Second).
		// Order matters here: the collected order is what tests assert on.
		SetOrderMatters(true).
		SetOnConnectHandler(func(c mqtt.Client) {
			// The broker keeps the subscription in the persistent session;
			// resubscribing is harmless and covers a broker that lost it.
			go c.Subscribe(topic, 1, handler)
		})
	s.client = mqtt.NewClient(opts)
	if tok := s.client.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("mqtttest: subscriber connect %s: %v", addr, tok.Error())
	}
	if tok := s.client.Subscribe(topic, 1, handler); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("mqtttest: subscribe %s: %v", topic, tok.Error())
	}
	t.Cleanup(func() { s.client.Disconnect(100) })
	return s
}

// Messages returns a copy of what arrived so far.
func (s *Sub) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

// WaitN waits until at least n messages arrived and returns all of them; it fails
// the test if they do not arrive within timeout. Call it from the test goroutine.
func (s *Sub) WaitN(n int, timeout time.Duration) []Message {
	s.t.Helper()
	got, ok := s.Wait(n, timeout)
	if !ok {
		s.t.Fatalf("mqtttest: waited %v for %d messages, got %d", timeout, n, len(got))
	}
	return got
}

// Wait is WaitN without failing: it reports whether n messages arrived in time.
func (s *Sub) Wait(n int, timeout time.Duration) ([]Message, bool) {
	return s.WaitFor(timeout, func(msgs []Message) bool { return len(msgs) >= n })
}

// WaitFor waits until done holds for the messages received so far (checked on
// every arrival) and returns them with true, or with false after timeout.
// Outage tests use it to wait for n distinct ids when duplicates may arrive.
func (s *Sub) WaitFor(timeout time.Duration, done func([]Message) bool) ([]Message, bool) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		if done(s.msgs) {
			got := append([]Message(nil), s.msgs...)
			s.mu.Unlock()
			return got, true
		}
		changed := s.changed
		s.mu.Unlock()
		select {
		case <-changed:
		case <-deadline.C:
			return s.Messages(), false
		}
	}
}

// Publish sends one message at QoS 1 from a short-lived client and waits for the
// broker's acknowledgement, failing the test on error.
func Publish(t testing.TB, addr, topic string, payload []byte, retained bool) {
	t.Helper()
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(addr).SetConnectTimeout(5 * time.Second).
		SetClientID(fmt.Sprintf("mqtttest-pub-%d-%d", time.Now().UnixNano(), subCount.Add(1))))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("mqtttest: publisher connect %s: %v", addr, tok.Error())
	}
	defer c.Disconnect(50)
	if tok := c.Publish(topic, 1, retained, payload); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("mqtttest: publish %s: %v", topic, tok.Error())
	}
}
