package mqtttest

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/mynagate/mynagate/event"
	"github.com/mynagate/mynagate/sync/receipts"
)

// Receipter stands in for the hub in the uplink's own tests: it keeps the id
// of every event published under a prefix and answers each with a receipt
// (sync/receipts), as the hub does once an event is in its store. Tests of
// the end-to-end promise use the real hub instead.
type Receipter struct {
	client  mqtt.Client
	batcher *receipts.Batcher
	prefix  string
	deaf    atomic.Bool

	mu   sync.Mutex
	seen map[string]bool
	msgs int
}

// StartReceipter connects a receipter to the broker at addr for events under
// prefix ("mynagate/v1"); it is stopped at cleanup.
func StartReceipter(t testing.TB, addr, prefix string) *Receipter {
	t.Helper()
	r := &Receipter{prefix: prefix, seen: map[string]bool{}}
	// Events with staff's note come on {gate}/private, the others on
	// {gate}/events; the hub reads both.
	filters := map[string]byte{prefix + "/+/+/events": 1, prefix + "/+/+/private": 1}
	opts := mqtt.NewClientOptions().
		AddBroker(addr).
		SetClientID(fmt.Sprintf("mqtttest-receipter-%d-%d", time.Now().UnixNano(), subCount.Add(1))).
		SetCleanSession(false).
		SetAutoReconnect(true).
		SetMaxReconnectInterval(time.Second).
		SetConnectTimeout(5 * time.Second).
		SetOrderMatters(true).
		SetOnConnectHandler(func(c mqtt.Client) { go c.SubscribeMultiple(filters, nil) })
	r.client = mqtt.NewClient(opts)
	for f := range filters {
		r.client.AddRoute(f, r.onEvent)
	}
	r.batcher = receipts.NewBatcher(prefix, func(topic string, payload []byte) error {
		// Not waited for, as the hub does not: a lost receipt costs a resend.
		r.client.Publish(topic, 1, false, payload)
		return nil
	}, nil)
	if tok := r.client.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("mqtttest: receipter connect %s: %v", addr, tok.Error())
	}
	if tok := r.client.SubscribeMultiple(filters, nil); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("mqtttest: receipter subscribe %v: %v", filters, tok.Error())
	}
	t.Cleanup(func() {
		r.batcher.Close()
		r.client.Disconnect(100)
	})
	return r
}

// Deaf makes the receipter drop events unseen and unanswered while on, as a
// hub that is down would miss them.
func (r *Receipter) Deaf(on bool) { r.deaf.Store(on) }

// Distinct returns how many distinct event ids were received and receipted,
// and how many event messages arrived in all (with duplicates).
func (r *Receipter) Distinct() (distinct, messages int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.seen), r.msgs
}

func (r *Receipter) onEvent(_ mqtt.Client, m mqtt.Message) {
	if r.deaf.Load() {
		return
	}
	e, err := event.Decode(m.Payload())
	if err != nil {
		return
	}
	parts := strings.Split(strings.TrimPrefix(m.Topic(), r.prefix+"/"), "/")
	if len(parts) != 3 {
		return
	}
	r.mu.Lock()
	r.seen[e.ID] = true
	r.msgs++
	r.mu.Unlock()
	r.batcher.Add(parts[0], parts[1], receipts.Receipt{Seq: e.Seq, ID: e.ID})
}
