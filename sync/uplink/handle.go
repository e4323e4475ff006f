package uplink

import (
	"errors"
	"fmt"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// Handler receives one message from a subscription. It runs on its own
// goroutine and must return quickly: hand slow work (applying a list) to a
// worker of your own.
type Handler func(topic string, payload []byte)

// Handle subscribes h to filter (QoS 1) on every connection. Register handlers
// before Run; the broker keeps the subscription in the gate's persistent
// session, so messages published while the gate was away arrive after
// reconnect.
func (u *Uplink) Handle(filter string, h Handler) error {
	if filter == "" || h == nil {
		return errors.New("uplink: handle: empty filter or nil handler")
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.running {
		return fmt.Errorf("uplink: handle %s: register handlers before Run", filter)
	}
	u.handlers[filter] = h
	return nil
}

// Resubscribe subscribes to filter again so that the broker resends its retained
// messages: how a gate asks for the latest list snapshot after it found a gap
// in the deltas. It does nothing while offline (the next connect resubscribes
// anyway) and does not wait for the broker.
func (u *Uplink) Resubscribe(filter string) {
	u.mu.Lock()
	h, ok := u.handlers[filter]
	u.mu.Unlock()
	if !ok || !u.Online() {
		return
	}
	go u.subscribe(u.client, filter, h)
}

func (u *Uplink) subscribe(c mqtt.Client, filter string, h Handler) {
	tok := c.Subscribe(filter, 1, func(_ mqtt.Client, m mqtt.Message) { h(m.Topic(), m.Payload()) })
	if !tok.WaitTimeout(30 * time.Second) {
		u.log.Warn("uplink: subscribe not acknowledged; retried at the next connect", "filter", filter)
		return
	}
	if err := tok.Error(); err != nil {
		u.log.Warn("uplink: subscribe failed; retried at the next connect", "filter", filter, "err", err)
	}
}
