package hub

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/storage/bolt"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/mynagate/mynagate/sync/receipts"
)

// Broker is the embedded MQTT broker.
type Broker struct {
	srv      *mqtt.Server
	ingest   *ingestHook
	receipts *receipts.Batcher
}

// StartBroker runs the embedded broker on cfg.Listen.
//
// Events are ingested into st inside the broker, before the PUBACK goes back
// to the gate (ingestHook), and each stored event is receipted to its gate
// (sync/receipts), as an external broker's hub does: a gate deletes an event
// from its outbox only on that receipt, once the event is fsync'd in the
// hub's store, so not even a power cut between broker and store loses one.
// Sessions, subscriptions and retained messages (the lists)
// are persisted in broker.db. Messages in flight to other subscribers (peer
// gates' anti-passback feed) are not persisted: paying an fsync per message
// per subscriber would cap the broker at a few hundred events a second, and
// that feed is advisory (the hub flags what it misses).
func StartBroker(cfg *Config, st *Store, log *slog.Logger) (*Broker, error) {
	// The inline client forwards events to other subscribers once stored.
	srv := mqtt.New(&mqtt.Options{Logger: log.With("component", "broker"), InlineClient: true})
	a, err := newAccess(cfg)
	if err != nil {
		return nil, err
	}
	if a.anonymous {
		log.Warn("hub: embedded broker allows anonymous clients; set users in the config before exposing it", "listen", cfg.Listen)
	}
	if err := srv.AddHook(a, nil); err != nil {
		return nil, fmt.Errorf("hub: broker access hook: %w", err)
	}
	rb := receipts.NewBatcher(cfg.Prefix, func(topic string, payload []byte) error {
		return srv.Publish(topic, payload, false, 1)
	}, log)
	ih := &ingestHook{store: st, prefix: cfg.Prefix, log: log, srv: srv, receipts: rb, fanout: make(chan packets.Packet, 4096), stop: make(chan struct{})}
	if err := srv.AddHook(ih, nil); err != nil {
		return nil, fmt.Errorf("hub: broker ingest hook: %w", err)
	}
	dbPath := filepath.Join(cfg.DataDir, "broker.db")
	if err := srv.AddHook(&brokerStore{Hook: new(bolt.Hook)}, &bolt.Options{Path: dbPath}); err != nil {
		return nil, fmt.Errorf("hub: broker storage %s: %w", dbPath, err)
	}
	if err := srv.AddListener(listeners.NewTCP(listeners.Config{ID: "tcp", Address: cfg.Listen})); err != nil {
		return nil, fmt.Errorf("hub: broker listen %s: %w; is another broker on that port?", cfg.Listen, err)
	}
	if err := srv.Serve(); err != nil {
		return nil, fmt.Errorf("hub: broker serve: %w", err)
	}
	go ih.forward()
	return &Broker{srv: srv, ingest: ih, receipts: rb}, nil
}

// Close stops the broker.
func (b *Broker) Close() error {
	b.receipts.Close()
	close(b.ingest.stop)
	if err := b.srv.Close(); err != nil {
		return fmt.Errorf("hub: broker close: %w", err)
	}
	return nil
}

// access authenticates clients and limits topics: the hub account may do
// anything; a gate may publish only under {prefix}/{site}/{gate}/ and read
// under {prefix}/{site}/.
type access struct {
	mqtt.HookBase
	anonymous bool
	hubUser   string
	passwords map[string][]byte
	gates     map[string]User
	prefix    string
}

func newAccess(cfg *Config) (*access, error) {
	a := &access{anonymous: len(cfg.Users) == 0, hubUser: cfg.Username, passwords: map[string][]byte{}, gates: map[string]User{}, prefix: cfg.Prefix}
	if a.anonymous {
		return a, nil
	}
	if cfg.Username != "" {
		pw, err := password(cfg.PasswordFile)
		if err != nil {
			return nil, err
		}
		a.passwords[cfg.Username] = []byte(pw)
	}
	for _, u := range cfg.Users {
		pw, err := password(u.PasswordFile)
		if err != nil {
			return nil, err
		}
		a.passwords[u.Username] = []byte(pw)
		a.gates[u.Username] = u
	}
	return a, nil
}

// ID names the hook.
func (a *access) ID() string { return "mynagate-access" }

// Provides says which hook events the access hook handles.
func (a *access) Provides(b byte) bool {
	return b == mqtt.OnConnectAuthenticate || b == mqtt.OnACLCheck
}

// OnConnectAuthenticate checks the username and password.
func (a *access) OnConnectAuthenticate(_ *mqtt.Client, pk packets.Packet) bool {
	if a.anonymous {
		return true
	}
	want, ok := a.passwords[string(pk.Connect.Username)]
	return ok && subtle.ConstantTimeCompare(want, pk.Connect.Password) == 1
}

// OnACLCheck limits a gate to its own and its site's topics.
func (a *access) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	if a.anonymous {
		return true
	}
	user := string(cl.Properties.Username)
	if user == a.hubUser && user != "" {
		return true
	}
	u, ok := a.gates[user]
	if !ok {
		return false
	}
	if write {
		return strings.HasPrefix(topic, a.prefix+"/"+u.Site+"/"+u.Gate+"/")
	}
	return strings.HasPrefix(topic, a.prefix+"/"+u.Site+"/")
}

// brokerStore is mochi's bbolt storage without in-flight messages (see
// StartBroker).
type brokerStore struct{ *bolt.Hook }

// Provides leaves out the per-message hooks.
func (h *brokerStore) Provides(b byte) bool {
	switch b {
	case mqtt.OnQosPublish, mqtt.OnQosComplete, mqtt.OnQosDropped, mqtt.StoredInflightMessages, mqtt.OnSysInfoTick, mqtt.StoredSysInfo:
		return false
	}
	return h.Hook.Provides(b)
}

// ingestHook stores events as the broker receives them and acknowledges them
// only once stored.
//
// A QoS 1 event is taken out of mochi's normal path (ErrRejectPacket: no
// PUBACK, no delivery yet) and handed to the store's group commit; when the
// commit is done the hook writes the PUBACK itself, in arrival order, and
// forwards the event to the other subscribers (peer gates) through the
// broker's inline client. The gate can thus keep many events in flight, and a
// commit covers many of them, while none is acknowledged before it is on disk.
type ingestHook struct {
	mqtt.HookBase
	store  *Store
	prefix string
	log    *slog.Logger
	srv    *mqtt.Server
	// receipts tells gates what is stored.
	receipts *receipts.Batcher
	// fanout queues stored events for forward, in order.
	fanout chan packets.Packet
	stop   chan struct{}
}

// ID names the hook.
func (h *ingestHook) ID() string { return "mynagate-ingest" }

// Provides says the hook sees publishes.
func (h *ingestHook) Provides(b byte) bool { return b == mqtt.OnPublish }

// OnPublish ingests {prefix}/{site}/{gate}/events messages (see ingestHook).
// If the store fails, the gate's connection is dropped without an
// acknowledgement, so the gate keeps the event and sends it again.
func (h *ingestHook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if cl.Net.Inline {
		return pk, nil // our own forward
	}
	rest, ok := strings.CutPrefix(pk.TopicName, h.prefix+"/")
	if !ok {
		return pk, nil
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 3 || parts[2] != "events" {
		return pk, nil
	}
	site, gate := parts[0], parts[1]
	if pk.FixedHeader.Qos == 0 {
		// Nothing to acknowledge: store and receipt it on the way through.
		h.store.IngestThen(site, gate, pk.Payload, time.Now(), func(in Ingested, err error) {
			h.logFailure(pk, err)
			if err == nil {
				h.receipts.Add(site, gate, receipts.Receipt{Seq: in.Seq, ID: in.ID})
			}
		})
		return pk, nil
	}
	h.store.IngestThen(site, gate, pk.Payload, time.Now(), func(in Ingested, err error) {
		if err != nil && !errors.Is(err, ErrInvalidEvent) {
			h.logFailure(pk, err)
			cl.Stop(err)
			return
		}
		if err != nil {
			h.logFailure(pk, err)
		}
		ack := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: pk.PacketID}
		if werr := cl.WritePacket(ack); werr != nil {
			// The gate resends after it reconnects; the hub drops the copy.
			h.log.Debug("hub: acknowledge event", "client", cl.ID, "err", werr)
		}
		if err != nil {
			return
		}
		h.receipts.Add(site, gate, receipts.Receipt{Seq: in.Seq, ID: in.ID})
		if !in.Dup {
			select {
			case h.fanout <- pk:
			case <-h.stop:
			}
		}
	})
	return pk, packets.ErrRejectPacket
}

func (h *ingestHook) logFailure(pk packets.Packet, err error) {
	switch {
	case err == nil:
	case errors.Is(err, ErrInvalidEvent):
		h.log.Warn("hub: dropped a message that is not a valid event", "topic", pk.TopicName, "err", err)
	default:
		h.log.Error("hub: event not stored; dropping the gate's connection so that it resends", "topic", pk.TopicName, "err", err)
	}
}

// forward delivers stored events to the broker's other subscribers.
func (h *ingestHook) forward() {
	for {
		select {
		case pk := <-h.fanout:
			if err := h.srv.Publish(pk.TopicName, pk.Payload, false, 1); err != nil {
				h.log.Warn("hub: forward event to subscribers", "topic", pk.TopicName, "err", err)
			}
		case <-h.stop:
			return
		}
	}
}
