package uplink

import (
	"errors"
	"fmt"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/mynagate/mynagate/internal/mqttsub"
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
	_, ok := u.handlers[filter]
	u.mu.Unlock()
	if !ok || !u.Online() {
		return
	}
	go u.subscribe(u.client, filter)
}

// filters returns every filter the gate subscribes to: the handlers' and the
// hub's receipts for this gate.
func (u *Uplink) filters() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	out := []string{u.receiptTop}
	for f := range u.handlers {
		out = append(out, f)
	}
	return out
}

// subscribe subscribes to filters and asks again for any the broker refuses
// (internal/mqttsub). Messages are dispatched by the routes Run set, not by
// the subscription, so a message that arrives before the SUBACK, or from the
// session the broker kept, is handled all the same.
func (u *Uplink) subscribe(c mqtt.Client, filters ...string) {
	mqttsub.Subscribe(c, filters, mqttsub.Options{Logger: u.log})
}
