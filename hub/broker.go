package hub

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/mynagate/mynagate/internal/netaddr"

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

// startBroker runs the embedded broker on cfg.Listen: TLS with a certificate
// from the hub's own CA (made in data_dir/tls at the first start), or plain
// TCP on a loopback address when the config asks for it by name. Only the
// hub's account and the gates of the registry get in, each with its own
// rights (access).
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
func startBroker(cfg *Config, st *Store, gates *gateWatch, refused *refusals, log *slog.Logger) (*Broker, error) {
	hubPass, err := password(cfg.PasswordFile)
	if err != nil {
		return nil, err
	}
	if cfg.Username == "" || hubPass == "" {
		return nil, errors.New("hub: the embedded broker needs the hub's username and password_file (it lets nobody in without an account); gatehub init makes them")
	}
	lc := listeners.Config{ID: "tcp", Address: cfg.Listen}
	if cfg.InsecurePlainTCPOnLoopback {
		if !netaddr.IsLoopback(cfg.Listen) {
			return nil, fmt.Errorf("hub: insecure_plain_tcp_on_loopback with listen %q: plain TCP is allowed on a loopback address only", cfg.Listen)
		}
		log.Warn("hub: embedded broker without TLS, on loopback only (insecure_plain_tcp_on_loopback): for demos and tests", "listen", cfg.Listen)
	} else {
		ca, err := ensureCA(cfg.DataDir)
		if err != nil {
			return nil, err
		}
		cert, err := ca.serverCert(cfg.brokerNames())
		if err != nil {
			return nil, err
		}
		lc.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	// The inline client forwards events to other subscribers once stored.
	srv := mqtt.New(&mqtt.Options{Logger: log.With("component", "broker"), InlineClient: true})
	a := &access{prefix: cfg.Prefix, hubUser: cfg.Username, hubPass: []byte(hubPass), gates: gates, refused: refused, log: log}
	if err := srv.AddHook(a, nil); err != nil {
		return nil, fmt.Errorf("hub: broker access hook: %w", err)
	}
	rb := receipts.NewBatcher(cfg.Prefix, func(topic string, payload []byte) error {
		return srv.Publish(topic, payload, false, 1)
	}, log)
	ih := &ingestHook{store: st, prefix: cfg.Prefix, log: log, srv: srv, receipts: rb, gates: gates, refused: refused,
		fanout: make(chan packets.Packet, 4096), stop: make(chan struct{})}
	if err := srv.AddHook(ih, nil); err != nil {
		return nil, fmt.Errorf("hub: broker ingest hook: %w", err)
	}
	dbPath := filepath.Join(cfg.DataDir, "broker.db")
	if err := srv.AddHook(&brokerStore{Hook: new(bolt.Hook)}, &bolt.Options{Path: dbPath}); err != nil {
		return nil, fmt.Errorf("hub: broker storage %s: %w", dbPath, err)
	}
	if err := srv.AddListener(listeners.NewTCP(lc)); err != nil {
		return nil, fmt.Errorf("hub: broker listen %s: %w; is another broker on that port?", cfg.Listen, err)
	}
	if err := srv.Serve(); err != nil {
		return nil, fmt.Errorf("hub: broker serve: %w", err)
	}
	// A revoked gate's live session is cut at once; its logins are refused
	// from then on (access).
	gates.onRevoke = func(g GateAccount) {
		for _, id := range g.ClientIDs() {
			if cl, ok := srv.Clients.Get(id); ok {
				log.Warn("hub: gate revoked; disconnecting it", "site", g.Site, "gate", g.Gate, "client", id)
				cl.Stop(errGateRevoked)
			}
		}
	}
	go ih.forward()
	return &Broker{srv: srv, ingest: ih, receipts: rb}, nil
}

// errGateRevoked is the cause of a revoked gate's disconnection.
var errGateRevoked = errors.New("gate revoked")

// Close stops the broker.
func (b *Broker) Close() error {
	b.receipts.Close()
	close(b.ingest.stop)
	if err := b.srv.Close(); err != nil {
		return fmt.Errorf("hub: broker close: %w", err)
	}
	return nil
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
	// gates and refused: an event is stored only from its own gate's
	// account, for a provisioned gate.
	gates   *gateWatch
	refused *refusals
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
	if len(parts) != 3 || (parts[2] != "events" && parts[2] != "private") {
		return pk, nil
	}
	site, gate := parts[0], parts[1]
	// access already keeps a gate to its own topic; this holds even if a
	// rule there changes, and catches a gate revoked while connected.
	if user := string(cl.Properties.Username); user != GateUsername(site, gate) || !h.gates.get().Known(site, gate) {
		h.refused.add("unknown_gate")
		h.log.Warn("hub: refused an event not from its own provisioned gate", "topic", pk.TopicName, "client", cl.ID)
		cl.Stop(errGateRevoked)
		return pk, packets.ErrRejectPacket
	}
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

// forward delivers stored events to the broker's other subscribers (the site's
// gates) on the gate's events topic, without staff's free note: that stays at
// the hub. An event with a note comes on {gate}/private, which no gate reads.
func (h *ingestHook) forward() {
	for {
		select {
		case pk := <-h.fanout:
			topic := peerTopic(pk.TopicName)
			if err := h.srv.Publish(topic, withoutNote(pk.Payload), false, 1); err != nil {
				h.log.Warn("hub: forward event to subscribers", "topic", pk.TopicName, "err", err)
			}
		case <-h.stop:
			return
		}
	}
}

// peerTopic returns the events topic the site's gates read for an event that
// came on topic ({prefix}/{site}/{gate}/events or .../private).
func peerTopic(topic string) string {
	if rest, ok := strings.CutSuffix(topic, "/private"); ok {
		return rest + "/events"
	}
	return topic
}

// withoutNote returns an event payload without its "note" field; a payload
// without one, or that does not parse, is returned as it is.
func withoutNote(payload []byte) []byte {
	if !bytes.Contains(payload, []byte(`"note"`)) {
		return payload
	}
	var fields map[string]json.RawMessage
	if json.Unmarshal(payload, &fields) != nil {
		return payload
	}
	if _, ok := fields["note"]; !ok {
		return payload
	}
	delete(fields, "note")
	b, err := json.Marshal(fields)
	if err != nil {
		return payload
	}
	return b
}
