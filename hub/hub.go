package hub

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/mynagate/mynagate/internal/mqttsub"
	"github.com/mynagate/mynagate/sync/lists"
	"github.com/mynagate/mynagate/sync/receipts"
)

// Hub ingests what gates publish and serves the dashboard.
type Hub struct {
	cfg    *Config
	log    *slog.Logger
	store  *Store
	broker *Broker
	client paho.Client
	// receipts tells gates what is stored, with an external broker (the
	// embedded broker has its own).
	receipts *receipts.Batcher
	// gates is the registry of provisioned gates, followed as it changes;
	// refused counts what was turned away (logins, events).
	gates     *gateWatch
	refused   *refusals
	stopWatch chan struct{}
	// pub verifies published list manifests for the overview; nil when no
	// signing key is configured.
	pub ed25519.PublicKey
	// key signs list renewals (renewLoop): in the token, or a demo file; nil
	// when none is configured. keys holds the token open until close.
	key  crypto.Signer
	keys *Keys
	// enrol turns kiosks' enrolments into list entries and publishes them.
	enrol *enrolments
	// purgeLead and listLead are the leads among instances sharing a
	// PostgreSQL store; nil with the embedded store, where this instance
	// always leads.
	purgeLead, listLead *pgLeader
}

// New opens the hub's store and starts the embedded broker (unless an external
// one is configured). Run connects and ingests.
func New(cfg *Config, log *slog.Logger) (*Hub, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("hub: data dir: %w", err)
	}
	h := &Hub{cfg: cfg, log: log}
	h.enrol = &enrolments{h: h}
	keys, err := OpenKeys(cfg, log)
	if err != nil {
		return nil, err
	}
	h.keys = keys
	if k, err := keys.Signer(); err == nil {
		h.key = k
		h.pub, _ = lists.PublicKeyOf(k) // Signer returns Ed25519 keys only
	} else if !errors.Is(err, ErrNoKey) {
		keys.Close()
		return nil, fmt.Errorf("%w; gatehub run renews the lists with this key", err)
	}
	st, err := openStore(cfg, log)
	if err != nil {
		keys.Close()
		return nil, err
	}
	h.store = st
	if h.gates, err = newGateWatch(cfg.DataDir, log); err != nil {
		st.Close()
		keys.Close()
		return nil, err
	}
	h.refused = &refusals{}
	if cfg.Broker == "" {
		b, err := startBroker(cfg, st, h.gates, h.refused, log)
		if err != nil {
			st.Close()
			keys.Close()
			return nil, err
		}
		h.broker = b
	}
	h.stopWatch = make(chan struct{})
	go h.gates.run(h.stopWatch)
	return h, nil
}

// openStore opens the store the config names: PostgreSQL at database_url,
// else data_dir/hub.db.
func openStore(cfg *Config, log *slog.Logger) (*Store, error) {
	if cfg.DatabaseURL == "" {
		return OpenStore(filepath.Join(cfg.DataDir, "hub.db"), log)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return OpenPGStore(ctx, cfg.DatabaseURL, cfg.Instance, log)
}

// Store returns the hub's store.
func (h *Hub) Store() *Store { return h.store }

// Run ingests events and statuses and serves the dashboard until ctx is done,
// then closes everything.
func (h *Hub) Run(ctx context.Context) error {
	defer h.close()
	pw, err := password(h.cfg.PasswordFile)
	if err != nil {
		return err
	}
	opts := paho.NewClientOptions().
		AddBroker(h.cfg.BrokerURL()).
		// A fixed id per instance and a persistent session: events
		// published while the hub is down wait in the broker (as many as
		// its queue holds; the gates resend whatever it dropped, since they
		// have no receipt). In a shared group the session is clean: a
		// stopped instance must not keep its share of the events queued
		// for itself, the others take them (and the gates resend what was
		// in flight to it).
		SetClientID(h.cfg.ClientID()).
		SetCleanSession(h.cfg.SharedGroup != "").
		SetUsername(h.cfg.Username).
		SetPassword(pw).
		SetAutoReconnect(true).
		SetConnectRetry(true).
		SetConnectRetryInterval(2 * time.Second).
		SetMaxReconnectInterval(30 * time.Second).
		// Handlers run one at a time, in arrival order, and an event
		// handler waits only while the store's write queue is full: that
		// slows the broker down to the disk's pace instead of piling up
		// goroutines. Every message is acknowledged to the broker once
		// handled, stored or not, so the broker's in-flight window never
		// fills up; what counts for the gate is the receipt, sent only
		// after the commit.
		SetOrderMatters(true).
		// Messages the broker had queued for the session may arrive before
		// the SUBACK: the routes below exist before connecting, and
		// anything else is acknowledged and logged.
		SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) {
			h.log.Debug("hub: message on a topic it does not read", "topic", m.Topic())
		}).
		SetOnConnectHandler(func(c paho.Client) {
			h.log.Info("hub: connected to broker", "broker", h.cfg.BrokerURL())
			go h.subscribe(c)
		}).
		SetConnectionLostHandler(func(_ paho.Client, err error) {
			h.log.Warn("hub: broker connection lost; reconnecting", "err", err)
		})
	if tc, err := h.cfg.clientTLS(); err != nil {
		return err
	} else if tc != nil {
		opts.SetTLSConfig(tc)
	}
	h.client = paho.NewClient(opts)
	for filter, handler := range h.routes() {
		h.client.AddRoute(filter, handler)
	}
	if h.broker == nil {
		h.receipts = receipts.NewBatcher(h.cfg.Prefix, func(topic string, payload []byte) error {
			// Not waited for: a lost receipt costs a resend.
			h.client.Publish(topic, 1, false, payload)
			return nil
		}, h.log)
		defer h.receipts.Close()
	}
	h.client.Connect()
	defer h.client.Disconnect(250)

	if h.cfg.DatabaseURL != "" {
		h.purgeLead = &pgLeader{url: h.cfg.DatabaseURL, key: lockPurge, what: "retention purge", log: h.log}
		lists := filepath.Join(h.cfg.DataDir, "lists.db")
		h.listLead = &pgLeader{url: h.cfg.DatabaseURL, key: lockLists, what: "list renewal", log: h.log, eligible: func() bool {
			_, err := os.Stat(lists)
			return err == nil
		}}
		go h.purgeLead.run(ctx)
		go h.listLead.run(ctx)
	}
	if h.key != nil {
		go h.renewLoop(ctx)
	}
	go h.enrol.run(ctx)
	go h.purgeLoop(ctx)
	var srv *http.Server
	if h.cfg.HTTP != "" {
		if srv, err = h.serveDashboard(); err != nil {
			return err
		}
	}
	<-ctx.Done()
	if srv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}
	return nil
}

func (h *Hub) close() {
	close(h.stopWatch)
	if h.broker != nil {
		if err := h.broker.Close(); err != nil {
			h.log.Error("hub: stop broker", "err", err)
		}
	}
	if err := h.store.Close(); err != nil {
		h.log.Error("hub: close store", "err", err)
	}
	if err := h.keys.Close(); err != nil {
		h.log.Error("hub: close the key token", "err", err)
	}
}

// routes are the hub's handlers by topic filter.
func (h *Hub) routes() map[string]paho.MessageHandler {
	p := h.cfg.Prefix
	r := map[string]paho.MessageHandler{
		p + "/+/+/status":         h.onStatus,
		p + "/+/lists/+/snapshot": h.onManifest,
		p + "/+/lists/+/delta/+":  h.onManifest,
	}
	if h.broker == nil {
		// The embedded broker ingests events itself (StartBroker).
		r[p+"/+/+/events"] = h.onEvent
		r[p+"/+/+/private"] = h.onPrivate
	}
	if g := h.cfg.SharedGroup; g != "" {
		// Each message to one instance of the group. paho routes a
		// $share/GROUP/ filter by the filter after it.
		shared := make(map[string]paho.MessageHandler, len(r))
		for f, handler := range r {
			shared["$share/"+g+"/"+f] = handler
		}
		return shared
	}
	return r
}

// subscribe subscribes to every route, asking again for refused ones.
func (h *Hub) subscribe(c paho.Client) {
	filters := make([]string, 0, 4)
	for f := range h.routes() {
		filters = append(filters, f)
	}
	mqttsub.Subscribe(c, filters, mqttsub.Options{Logger: h.log})
}

// topicParts splits {prefix}/{a}/{b}/{c...}.
func (h *Hub) topicParts(topic string) []string {
	rest, ok := strings.CutPrefix(topic, h.cfg.Prefix+"/")
	if !ok {
		return nil
	}
	return strings.Split(rest, "/")
}

// onEvent stores an event from an external broker and receipts it to its
// gate once committed. A message that is not a valid event is dropped with a
// log line; one the store could not take gets no receipt, so its gate sends it
// again.
func (h *Hub) onEvent(_ paho.Client, m paho.Message) { h.ingest(m, nil) }

// onPrivate stores an event that carries staff's note, sent by its gate to
// {prefix}/{site}/{gate}/private where no other gate reads, and receipts it
// like any event. Once it is stored, the hub publishes it without the note on
// the gate's events topic for the site's other gates (the embedded broker
// does the same in ingestHook.forward); the hub reads that copy back as a
// duplicate of the stored event, so the note is kept.
func (h *Hub) onPrivate(_ paho.Client, m paho.Message) {
	h.ingest(m, func(site, gate string) {
		// Not waited for, as a receipt: the gate's peers learn of the event
		// a little later if the publish is lost, as with a lost receipt.
		h.client.Publish(h.cfg.Prefix+"/"+site+"/"+gate+"/events", 1, false, withoutNote(m.Payload()))
	})
}

// ingest stores and receipts an event from an external broker; stored, if
// set, is called once a new event (not a duplicate) is committed.
func (h *Hub) ingest(m paho.Message, stored func(site, gate string)) {
	parts := h.topicParts(m.Topic())
	if len(parts) != 3 {
		return
	}
	site, gate := parts[0], parts[1]
	// With an external broker, its ACL is what keeps a gate to its own
	// topics (README "Security model"); the hub still stores nothing for a
	// gate it has not provisioned, so no phantom gate or site appears.
	if !h.gates.get().Known(site, gate) {
		h.refused.add("unknown_gate")
		h.log.Warn("hub: refused an event for a gate that is not provisioned", "topic", m.Topic())
		return
	}
	h.store.IngestThen(site, gate, m.Payload(), time.Now(), func(in Ingested, err error) {
		switch {
		case err == nil:
			h.receipts.Add(site, gate, receipts.Receipt{Seq: in.Seq, ID: in.ID})
			if stored != nil && !in.Dup {
				stored(site, gate)
			}
		case errors.Is(err, ErrStoreClosed):
			// The hub is stopping; the gate resends to the next one.
		case errors.Is(err, ErrInvalidEvent):
			h.log.Warn("hub: dropped a message that is not a valid event", "topic", m.Topic(), "err", err)
		default:
			h.log.Error("hub: event not stored; its gate sends it again", "topic", m.Topic(), "err", err)
		}
	})
}

func (h *Hub) onStatus(_ paho.Client, m paho.Message) {
	parts := h.topicParts(m.Topic())
	if len(parts) != 3 || len(m.Payload()) == 0 {
		return
	}
	if !h.gates.get().Known(parts[0], parts[1]) {
		h.log.Warn("hub: dropped a status of a gate that is not provisioned", "topic", m.Topic())
		return
	}
	if !json.Valid(m.Payload()) {
		h.log.Warn("hub: dropped a status that is not JSON", "topic", m.Topic())
		return
	}
	if err := h.store.PutStatus(parts[0], parts[1], m.Payload(), time.Now()); err != nil {
		h.log.Error("hub: status not stored", "err", err)
	}
}

func (h *Hub) onManifest(_ paho.Client, m paho.Message) {
	if h.pub == nil || len(m.Payload()) == 0 {
		return
	}
	man, err := lists.ParseManifest(m.Payload(), []ed25519.PublicKey{h.pub})
	if err != nil {
		h.log.Warn("hub: a list manifest on the broker does not verify with the hub's key", "topic", m.Topic(), "err", err)
		return
	}
	err = h.store.PutList(ListInfo{Site: man.Site, List: man.List, Version: man.Version, Kind: string(man.Kind), Created: man.Created, Published: time.Now()})
	if err != nil {
		h.log.Error("hub: list info not stored", "err", err)
	}
}
