package mqtttest

import (
	"errors"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"
)

func TestWithPasswords(t *testing.T) {
	b := Start(t, WithPasswords(map[string]string{"gate": "right", "hub": "other"}))
	for _, tc := range []struct {
		user, pw string
		want     error
	}{
		{"gate", "right", nil},
		{"hub", "other", nil},
		{"gate", "wrong", packets.ErrorRefusedNotAuthorised},
		{"", "", packets.ErrorRefusedNotAuthorised},
	} {
		c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(b.Addr()).SetUsername(tc.user).SetPassword(tc.pw).SetConnectTimeout(5 * time.Second).
			// Without a fixed version paho retries a refused CONNECT as MQTT 3.1,
			// whose answer (identifier rejected) hides the first one.
			SetProtocolVersion(4))
		tok := c.Connect()
		if !tok.WaitTimeout(10 * time.Second) {
			t.Fatalf("%s/%s: no CONNACK", tc.user, tc.pw)
		}
		if err := tok.Error(); !errors.Is(err, tc.want) {
			t.Errorf("%s/%s: %v, want %v", tc.user, tc.pw, err, tc.want)
		}
		if tc.want == nil {
			c.Disconnect(50)
		}
	}
}
