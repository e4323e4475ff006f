// Package uplink publishes a gate's outbox to the hub over MQTT: every event, in
// sequence order, at QoS 1, one JSON object per message on
// {prefix}/{site}/{gate}/events. An event leaves the outbox only after the broker's
// PUBACK, so a lost connection, a dead broker or a killed process loses nothing;
// what was in flight is sent again after reconnect and the hub deduplicates by id.
//
// The uplink reconnects forever (paho's exponential backoff, 1 s doubling to
// MaxReconnectInterval, plus random jitter so that a site's gates do not
// reconnect in lockstep after a power cut) and keeps the MQTT session across
// reconnects.
package uplink

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/mynagate/mynagate/sync/outbox"
)

// DefaultPrefix is the topic prefix when Config.Prefix is empty.
const DefaultPrefix = "mynagate/v1"

// window is how many events may wait for PUBACK at once: enough to keep a
// loopback or LAN link busy, far below MQTT's 65535 packet ids.
const window = 256

// Config says where and as whom a gate connects.
type Config struct {
	// Broker is the broker URL: tcp://host:port or ssl://host:port.
	Broker string
	// ClientID names the MQTT session; it must be stable for a gate so that the
	// broker keeps its session. Default "mynagate-{site}-{gate}".
	ClientID string
	// Prefix is the first part of every topic, default DefaultPrefix.
	Prefix string
	// Site and Gate name this gate in topics; neither may contain '/', '+' or '#'.
	Site, Gate string
	// Username and Password authenticate to the broker when set.
	Username, Password string
	// CAFile pins the broker's CA (PEM); CertFile and KeyFile are the gate's
	// client certificate for mutual TLS. Used with ssl:// brokers.
	CAFile, CertFile, KeyFile string

	// SoftwareVersion is reported in the status message.
	SoftwareVersion string
	// MaxReconnectInterval caps the reconnect backoff; default 30 s.
	MaxReconnectInterval time.Duration
	// StatusInterval is how often the retained status is refreshed while
	// connected; default 30 s.
	StatusInterval time.Duration
	// Lists reports the gate's list versions for the status message; nil
	// reports none. It is called from the uplink's goroutine and must not block.
	Lists func() map[string]ListStatus
	// Health, if set, reports the state of the gate's parts (printer, ...) for
	// the status message. It is called from the status loop, never on the tap
	// path, and should return within a few seconds.
	Health func() map[string]string
}

// Uplink moves events from an outbox to the broker. Create it with New and run
// it with Run.
type Uplink struct {
	cfg    Config
	ob     *outbox.Outbox
	log    *slog.Logger
	client mqtt.Client
	topic  string

	online atomic.Bool
	// ackLatency is the publish-to-PUBACK time of the last acknowledged event,
	// in nanoseconds.
	ackLatency atomic.Int64
	// confirmed is the highest seq whose PUBACK arrived with every lower
	// published seq also acknowledged: a new session resumes after it.
	confirmed atomic.Uint64

	mu            sync.Mutex
	cancelSession context.CancelFunc
	handlers      map[string]Handler // by topic filter
	running       bool
	// wake is signalled when the connection comes up.
	wake chan struct{}
	// statusNow is signalled to publish the status at once (on connect).
	statusNow chan struct{}
}

// New checks cfg and prepares the MQTT client; it does not connect. log may be
// nil.
func New(cfg Config, ob *outbox.Outbox, log *slog.Logger) (*Uplink, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if ob == nil {
		return nil, errors.New("uplink: new: nil outbox")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	for _, f := range []struct{ name, v string }{{"site", cfg.Site}, {"gate", cfg.Gate}} {
		if err := topicLevel(f.v); err != nil {
			return nil, fmt.Errorf("uplink: config %s %q: %w", f.name, f.v, err)
		}
	}
	u, err := url.Parse(cfg.Broker)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("uplink: config broker %q: want tcp://host:port or ssl://host:port", cfg.Broker)
	}
	if cfg.ClientID == "" {
		cfg.ClientID = "mynagate-" + cfg.Site + "-" + cfg.Gate
	}
	if cfg.MaxReconnectInterval <= 0 {
		cfg.MaxReconnectInterval = 30 * time.Second
	}
	if cfg.StatusInterval <= 0 {
		cfg.StatusInterval = 30 * time.Second
	}
	up := &Uplink{
		cfg:       cfg,
		ob:        ob,
		log:       log.With("component", "uplink", "broker", cfg.Broker),
		topic:     cfg.Prefix + "/" + cfg.Site + "/" + cfg.Gate + "/events",
		handlers:  map[string]Handler{},
		wake:      make(chan struct{}, 1),
		statusNow: make(chan struct{}, 1),
	}
	will, err := json.Marshal(Status{Site: cfg.Site, Gate: cfg.Gate, Online: false, Software: cfg.SoftwareVersion})
	if err != nil {
		return nil, fmt.Errorf("uplink: encode will: %w", err)
	}
	opts := mqtt.NewClientOptions().
		AddBroker(cfg.Broker).
		SetClientID(cfg.ClientID).
		SetUsername(cfg.Username).
		SetPassword(cfg.Password).
		// The broker keeps subscriptions (lists, peers) and queues their
		// messages while the gate is away.
		SetCleanSession(false).
		SetAutoReconnect(true).
		SetConnectRetry(true).
		SetConnectRetryInterval(2*time.Second).
		SetMaxReconnectInterval(30*time.Second).
		SetConnectTimeout(10*time.Second).
		SetKeepAlive(30*time.Second).
		SetPingTimeout(10*time.Second).
		SetWriteTimeout(10*time.Second).
		// Each message gets its own goroutine; handlers return quickly, so a
		// slow list download cannot stall PUBACKs or the reverse.
		SetOrderMatters(false).
		// The outbox is the durable buffer; paho's store only holds what is
		// in flight, and the ordered store resends it in publish order after
		// a reconnect so that first sightings at the hub stay in seq order.
		SetStore(mqtt.NewOrderedMemoryStore()).
		SetOnConnectHandler(up.onConnect).
		SetConnectionLostHandler(up.onLost).
		SetConnectionNotificationHandler(up.onNotification).
		// If the gate vanishes, the broker publishes its offline status.
		SetBinaryWill(up.StatusTopic(), will, 1, true).
		SetDefaultPublishHandler(func(_ mqtt.Client, m mqtt.Message) {
			up.log.Debug("uplink: message on a topic with no handler", "topic", m.Topic())
		})
	if u.Scheme == "ssl" || u.Scheme == "tls" || u.Scheme == "mqtts" || cfg.CAFile != "" || cfg.CertFile != "" {
		tc, err := tlsConfig(cfg)
		if err != nil {
			return nil, err
		}
		opts.SetTLSConfig(tc)
	}
	up.client = mqtt.NewClient(opts)
	return up, nil
}

// topicLevel checks a name used as one MQTT topic level.
func topicLevel(s string) error {
	switch {
	case s == "":
		return errors.New("must not be empty")
	case strings.ContainsAny(s, "/+#\x00"):
		return errors.New("must not contain '/', '+', '#' or NUL")
	}
	return nil
}

func tlsConfig(cfg Config) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("uplink: read CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("uplink: CA file %s holds no PEM certificate", cfg.CAFile)
		}
		tc.RootCAs = pool
	}
	if cfg.CertFile != "" || cfg.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("uplink: load client certificate %s / %s: %w", cfg.CertFile, cfg.KeyFile, err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// Online reports whether the gate has a broker connection now. The agent stamps
// event.Offline with its negation.
func (u *Uplink) Online() bool { return u.online.Load() }

// PublishLatency is the time from publishing the last acknowledged event to
// its PUBACK; zero before the first.
func (u *Uplink) PublishLatency() time.Duration { return time.Duration(u.ackLatency.Load()) }

// Topic returns the topic events are published on.
func (u *Uplink) Topic() string { return u.topic }

func (u *Uplink) onConnect(c mqtt.Client) {
	u.mu.Lock()
	u.online.Store(true)
	filters := make(map[string]Handler, len(u.handlers))
	for f, h := range u.handlers {
		filters[f] = h
	}
	u.mu.Unlock()
	u.log.Info("uplink connected")
	for _, ch := range []chan struct{}{u.wake, u.statusNow} {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	// Resubscribe even though the session is persistent: a broker that lost
	// its state (restarted without persistence) would otherwise go silent.
	// In a goroutine: the connect handler must not wait on the network.
	for f, h := range filters {
		go u.subscribe(c, f, h)
	}
}

func (u *Uplink) onLost(_ mqtt.Client, err error) {
	u.mu.Lock()
	u.online.Store(false)
	if u.cancelSession != nil {
		u.cancelSession()
	}
	u.mu.Unlock()
	u.log.Warn("uplink connection lost; taps are kept on disk and sent after reconnect", "err", err)
}

// onNotification logs failed attempts with a hint and adds the jitter.
func (u *Uplink) onNotification(_ mqtt.Client, n mqtt.ConnectionNotification) {
	switch n := n.(type) {
	case mqtt.ConnectionNotificationConnecting:
		if n.IsReconnect || n.Attempt > 0 {
			time.Sleep(rand.N(time.Second))
		}
	case mqtt.ConnectionNotificationBrokerFailed:
		u.log.Warn("uplink: connect failed; is the broker up and reachable? the backlog is kept on disk", "err", n.Reason)
	case mqtt.ConnectionNotificationFailed:
		u.log.Warn("uplink: connect failed; is the broker up and reachable? the backlog is kept on disk", "err", n.Reason)
	}
}

// Run connects and publishes until ctx is done, then publishes an offline
// status and disconnects. It returns nil on cancellation; connection failures are
// retried, not returned. Run may be called once.
func (u *Uplink) Run(ctx context.Context) error {
	u.mu.Lock()
	if u.running {
		u.mu.Unlock()
		return errors.New("uplink: Run called twice")
	}
	u.running = true
	u.mu.Unlock()
	acks := make(chan uint64, 4*window)
	ackDone := make(chan struct{})
	go u.acker(acks, ackDone)
	statusDone := make(chan struct{})
	go u.statusLoop(ctx, statusDone)
	defer func() {
		close(acks)
		<-ackDone
		<-statusDone
		if u.online.Load() {
			// A clean disconnect does not fire the will.
			u.publishStatus(false, time.Second)
		}
		u.client.Disconnect(250)
		u.online.Store(false)
	}()
	u.client.Connect() // with ConnectRetry, completion is reported via onConnect
	for {
		if !u.online.Load() {
			select {
			case <-ctx.Done():
				return nil
			case <-u.wake:
				continue
			}
		}
		sctx, cancel := context.WithCancel(ctx)
		u.mu.Lock()
		if !u.online.Load() {
			u.mu.Unlock()
			cancel()
			continue
		}
		u.cancelSession = cancel
		u.mu.Unlock()
		err := u.session(sctx, cancel, acks)
		u.mu.Lock()
		u.cancelSession = nil
		u.mu.Unlock()
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			u.log.Warn("uplink: publishing stopped; retrying from the last acknowledged event", "err", err)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(time.Second):
			}
		}
	}
}

// inflight is a published event waiting for its PUBACK.
type inflight struct {
	seq  uint64
	tok  mqtt.Token
	sent time.Time
}

// session publishes from just after the last confirmed event until ctx ends or a
// publish fails. Confirmations are consumed in publish order, so confirmed only
// ever covers a gap-free prefix.
func (u *Uplink) session(ctx context.Context, cancel context.CancelFunc, acks chan<- uint64) error {
	queue := make(chan inflight, window)
	confirmErr := make(chan error, 1)
	go func() { confirmErr <- u.confirm(ctx, cancel, queue, acks) }()
	err := u.publish(ctx, queue)
	close(queue)
	if cerr := <-confirmErr; cerr != nil {
		return cerr
	}
	return err
}

func (u *Uplink) publish(ctx context.Context, queue chan<- inflight) error {
	after := u.confirmed.Load()
	for {
		evs, err := u.ob.Pending(after, window)
		if err != nil {
			return fmt.Errorf("uplink: read backlog: %w", err)
		}
		if len(evs) == 0 {
			select {
			case <-ctx.Done():
				return nil
			case <-u.ob.Notify():
				continue
			}
		}
		for i := range evs {
			payload, err := json.Marshal(&evs[i])
			if err != nil {
				return fmt.Errorf("uplink: encode event seq %d: %w", evs[i].Seq, err)
			}
			tok := u.client.Publish(u.topic, 1, false, payload)
			select {
			case queue <- inflight{seq: evs[i].Seq, tok: tok, sent: time.Now()}:
			case <-ctx.Done():
				return nil
			}
			after = evs[i].Seq
		}
	}
}

func (u *Uplink) confirm(ctx context.Context, cancel context.CancelFunc, queue <-chan inflight, acks chan<- uint64) error {
	for p := range queue {
		select {
		case <-p.tok.Done():
		case <-ctx.Done():
			return nil
		}
		if err := p.tok.Error(); err != nil {
			cancel()
			return fmt.Errorf("uplink: publish seq %d: %w", p.seq, err)
		}
		u.confirmed.Store(p.seq)
		u.ackLatency.Store(int64(time.Since(p.sent)))
		acks <- p.seq
	}
	return nil
}

// acker removes acknowledged events from the outbox, many per commit.
func (u *Uplink) acker(acks <-chan uint64, done chan<- struct{}) {
	defer close(done)
	batch := make([]uint64, 0, 4*window)
	for s := range acks {
		batch = append(batch[:0], s)
	more:
		for len(batch) < cap(batch) {
			select {
			case s, ok := <-acks:
				if !ok {
					break more
				}
				batch = append(batch, s)
			default:
				break more
			}
		}
		if err := u.ob.Ack(batch...); err != nil {
			// The events stay in the outbox and are sent again after a
			// restart; the hub drops the duplicates.
			u.log.Error("uplink: remove acknowledged events from the outbox; check the disk", "err", err, "events", len(batch))
		}
	}
}
