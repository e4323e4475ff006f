package hub

import (
	"fmt"
	"os"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// MQTTPublisher publishes list messages with a short-lived client.
type MQTTPublisher struct {
	c paho.Client
}

// DialPublisher connects to the hub's broker with the hub's credentials.
func DialPublisher(cfg *Config) (*MQTTPublisher, error) {
	pw, err := password(cfg.PasswordFile)
	if err != nil {
		return nil, err
	}
	opts := paho.NewClientOptions().
		AddBroker(cfg.BrokerURL()).
		SetClientID(fmt.Sprintf("mynagate-hub-publish-%d", os.Getpid())).
		SetUsername(cfg.Username).
		SetPassword(pw).
		SetConnectTimeout(10 * time.Second).
		SetAutoReconnect(false)
	tc, err := cfg.clientTLS()
	if err != nil {
		return nil, err
	}
	if tc != nil {
		opts.SetTLSConfig(tc)
	}
	c := paho.NewClient(opts)
	tok := c.Connect()
	if !tok.WaitTimeout(15 * time.Second) {
		return nil, fmt.Errorf("hub: connect %s: no answer in 15 s; is gatehub run (or the broker) up?", cfg.BrokerURL())
	}
	if err := tok.Error(); err != nil {
		return nil, fmt.Errorf("hub: connect %s: %w; is gatehub run (or the broker) up, and are username and password_file right?", cfg.BrokerURL(), err)
	}
	return &MQTTPublisher{c: c}, nil
}

// Publish sends one message at QoS 1 and waits for the broker's PUBACK.
func (p *MQTTPublisher) Publish(topic string, payload []byte, retained bool) error {
	tok := p.c.Publish(topic, 1, retained, payload)
	if !tok.WaitTimeout(60 * time.Second) {
		return fmt.Errorf("publish %s: no acknowledgement in 60 s", topic)
	}
	if err := tok.Error(); err != nil {
		return fmt.Errorf("publish %s: %w", topic, err)
	}
	return nil
}

// Close disconnects.
func (p *MQTTPublisher) Close() { p.c.Disconnect(250) }
