package main

import (
	"fmt"
	"log/slog"
	"strings"

	mqttserver "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/mynagate/mynagate/event"
	"github.com/mynagate/mynagate/sync/receipts"
)

// demoBroker is the embedded MQTT broker of `gateagent demo`: loopback only, no
// authentication, and an inline subscriber standing in for the hub, which
// receipts every event it is handed so that the gate's outbox drains as it
// would with a real hub.
type demoBroker struct {
	srv      *mqttserver.Server
	addr     string
	receipts *receipts.Batcher
}

// startDemoBroker listens on a free loopback port and calls onEvent with every
// event published on {prefix}/+/+/events, then receipts it.
func startDemoBroker(prefix string, onEvent func(topic string, payload []byte)) (*demoBroker, error) {
	srv := mqttserver.New(&mqttserver.Options{InlineClient: true, Logger: slog.New(slog.DiscardHandler)})
	if err := srv.AddHook(new(loopbackOnly), nil); err != nil {
		return nil, fmt.Errorf("demo broker: %w", err)
	}
	tcp := listeners.NewTCP(listeners.Config{ID: "demo", Address: "127.0.0.1:0"})
	if err := srv.AddListener(tcp); err != nil {
		return nil, fmt.Errorf("demo broker: listen on loopback: %w", err)
	}
	if err := srv.Serve(); err != nil {
		return nil, fmt.Errorf("demo broker: serve: %w", err)
	}
	rb := receipts.NewBatcher(prefix, func(topic string, payload []byte) error {
		return srv.Publish(topic, payload, false, 1)
	}, nil)
	filter := prefix + "/+/+/events"
	err := srv.Subscribe(filter, 1, func(_ *mqttserver.Client, _ packets.Subscription, pk packets.Packet) {
		onEvent(pk.TopicName, pk.Payload)
		parts := strings.Split(strings.TrimPrefix(pk.TopicName, prefix+"/"), "/")
		if e, err := event.Decode(pk.Payload); err == nil && len(parts) == 3 {
			rb.Add(parts[0], parts[1], receipts.Receipt{Seq: e.Seq, ID: e.ID})
		}
	})
	if err != nil {
		rb.Close()
		srv.Close()
		return nil, fmt.Errorf("demo broker: subscribe %s: %w", filter, err)
	}
	return &demoBroker{srv: srv, addr: "tcp://" + tcp.Address(), receipts: rb}, nil
}

func (b *demoBroker) Close() {
	b.receipts.Close()
	b.srv.Close()
}

// loopbackOnly lets every client in: the demo broker listens on 127.0.0.1 only.
// (mochi's own allow hook would pull a YAML parser into the gate binary.)
type loopbackOnly struct{ mqttserver.HookBase }

func (*loopbackOnly) ID() string { return "loopback-only" }

func (*loopbackOnly) Provides(b byte) bool {
	return b == mqttserver.OnConnectAuthenticate || b == mqttserver.OnACLCheck
}

func (*loopbackOnly) OnConnectAuthenticate(*mqttserver.Client, packets.Packet) bool { return true }

func (*loopbackOnly) OnACLCheck(*mqttserver.Client, string, bool) bool { return true }
