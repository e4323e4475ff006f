// Package hubtest connects test clients to a hub's broker with an account
// (uplink.Config's broker, CA, username, password and client id): the broker
// lets nobody in without one.
package hubtest

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/mynagate/mynagate/sync/uplink"
)

// Connect connects a plain client with c's account, failing the test if the
// broker still refuses after 30 s (a hub reads a newly provisioned gate from
// its registry within a second); Dial tries once and returns the error.
func Connect(t testing.TB, c uplink.Config) paho.Client {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		cl, err := Dial(c)
		if err == nil {
			t.Cleanup(func() { cl.Disconnect(50) })
			return cl
		}
		if time.Now().After(deadline) {
			t.Fatalf("hubtest: connect as %s (%s): %v", c.Username, c.ClientID, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Dial connects a client with c's account, without retrying.
func Dial(c uplink.Config) (paho.Client, error) {
	opts := paho.NewClientOptions().AddBroker(c.Broker).SetClientID(c.ClientID).SetUsername(c.Username).SetPassword(c.Password).
		SetCleanSession(true).SetAutoReconnect(false).SetConnectTimeout(10 * time.Second).SetOrderMatters(true)
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
		opts.SetTLSConfig(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12})
	}
	cl := paho.NewClient(opts)
	tok := cl.Connect()
	if !tok.WaitTimeout(20 * time.Second) {
		return nil, fmt.Errorf("connect %s: no answer in 20 s", c.Broker)
	}
	return cl, tok.Error()
}

// Publish sends one message at QoS 1 as c and waits for the broker's
// acknowledgement.
func Publish(t testing.TB, c uplink.Config, topic string, payload []byte, retained bool) {
	t.Helper()
	cl := Connect(t, c)
	defer cl.Disconnect(50)
	if tok := cl.Publish(topic, 1, retained, payload); !tok.WaitTimeout(20*time.Second) || tok.Error() != nil {
		t.Fatalf("hubtest: publish %s as %s: %v", topic, c.Username, tok.Error())
	}
}

// Message is one message a Sub received.
type Message struct {
	Topic   string
	Payload []byte
}

// Sub collects what a subscription receives.
type Sub struct {
	mu   sync.Mutex
	msgs []Message
}

// Subscribe subscribes to filter as c at QoS 1; the subscription is in place
// when it returns.
func Subscribe(t testing.TB, c uplink.Config, filter string) *Sub {
	t.Helper()
	s := &Sub{}
	cl := Connect(t, c)
	tok := cl.Subscribe(filter, 1, func(_ paho.Client, m paho.Message) {
		s.mu.Lock()
		s.msgs = append(s.msgs, Message{Topic: m.Topic(), Payload: m.Payload()})
		s.mu.Unlock()
	})
	if !tok.WaitTimeout(20*time.Second) || tok.Error() != nil {
		t.Fatalf("hubtest: subscribe %s as %s: %v", filter, c.Username, tok.Error())
	}
	return s
}

// Wait waits up to timeout for n messages and returns what arrived, and
// whether that is n or more.
func (s *Sub) Wait(n int, timeout time.Duration) ([]Message, bool) {
	deadline := time.Now().Add(timeout)
	for {
		s.mu.Lock()
		got := append([]Message(nil), s.msgs...)
		s.mu.Unlock()
		if len(got) >= n || time.Now().After(deadline) {
			return got, len(got) >= n
		}
		time.Sleep(20 * time.Millisecond)
	}
}
