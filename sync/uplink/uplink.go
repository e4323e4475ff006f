// Package uplink publishes a gate's outbox to the hub over MQTT: every event, in
// sequence order, at QoS 1, one JSON object per message on
// {prefix}/{site}/{gate}/events. An event leaves the outbox only on the hub's
// receipt (sync/receipts), never on the broker's PUBACK alone, so a lost
// connection, a broker that drops or forgets messages, a crashed hub or a killed
// gate loses nothing: what the hub has not receipted within ConfirmTimeout is
// sent again, and the hub deduplicates by id.
//
// At most 256 events are out at once, waiting for the broker's PUBACK or the
// hub's receipt. An event with no receipt when a later one has one was
// dropped by the broker and is sent again at once; one with no receipt
// ConfirmTimeout after its PUBACK is sent again, backing off. While the hub
// is silent, the uplink resends only a few of the oldest events per tick,
// rather than flood a broker whose subscriber is away; the first receipt
// after the silence sends the rest.
//
// The uplink reconnects forever (paho's exponential backoff, 1 s doubling to
// MaxReconnectInterval, plus random jitter so that a site's gates do not
// reconnect in lockstep after a power cut) and keeps the MQTT session across
// reconnects.
package uplink

import (
	"cmp"
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
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/mynagate/mynagate/sync/outbox"
	"github.com/mynagate/mynagate/sync/receipts"
)

// DefaultPrefix is the topic prefix when Config.Prefix is empty.
const DefaultPrefix = "mynagate/v1"

const (
	// brokerWindow is how many events may wait for PUBACK at once: enough to
	// keep a loopback or LAN link busy, far below MQTT's 65535 packet ids.
	brokerWindow = 256
	// hubWindow is how many events may be published and not yet receipted by
	// the hub: enough to keep the hub's group commit busy, and small enough
	// that a few gates bursting together stay within Mosquitto's default
	// queue of 1,000 messages for the hub (past it, it drops them).
	hubWindow = 256
	// probe is how many events are resent per tick while the hub is silent.
	probe = 64
	// gapSlack is how long an event the broker acknowledged may go without
	// a receipt once an event sent after it was receipted, before it counts
	// as lost and is sent again: a broker delivers a client's messages in
	// order and the hub receipts them in order, so a receipt for a later
	// event means the broker dropped the earlier one (Mosquitto does past
	// its queue of 1,000). The slack covers receipts handled out of order on
	// the gate (paho hands each message to its own goroutine) and hub
	// instances that commit out of step.
	gapSlack = 2 * time.Second
	// tick is how often overdue events are looked for.
	tick = 250 * time.Millisecond
)

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
	// ConfirmTimeout is how long an event the broker acknowledged may wait
	// for the hub's receipt before it is sent again; default 30 s. Each
	// further resend of the same event waits twice as long, up to 16 times.
	ConfirmTimeout time.Duration
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
	// private is the topic of events that carry staff's note: only the
	// hub reads it, and passes the event on to the site's gates without
	// the note (README "Staff records without a card").
	private string

	online atomic.Bool
	// ready is set once paho has taken what it resends on this connection
	// (resume.go): only then does the uplink publish.
	ready atomic.Bool
	// ackLatency is the publish-to-PUBACK time of the last acknowledged event,
	// and hubLatency the first-publish-to-receipt time of the last receipted
	// one, in nanoseconds.
	ackLatency, hubLatency atomic.Int64
	// resent counts publishes of events published before in this run.
	resent atomic.Uint64

	mu       sync.Mutex
	handlers map[string]Handler // by topic filter
	running  bool
	// wake is signalled when the connection comes up.
	wake chan struct{}
	// statusNow is signalled to publish the status at once (on connect).
	statusNow chan struct{}
	// pubacks carries completed publish tokens, receipted the hub's
	// receipts, to the publishing loop.
	pubacks    chan pubDone
	receipted  chan []receipts.Receipt
	receiptTop string

	// fmu guards the flight table, which only the publishing loop changes.
	fmu sync.Mutex
	fl  flights

	failures *connectFailures
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
	if cfg.ConfirmTimeout <= 0 {
		cfg.ConfirmTimeout = 30 * time.Second
	}
	up := &Uplink{
		cfg:        cfg,
		ob:         ob,
		log:        log.With("component", "uplink", "broker", cfg.Broker),
		topic:      cfg.Prefix + "/" + cfg.Site + "/" + cfg.Gate + "/events",
		private:    cfg.Prefix + "/" + cfg.Site + "/" + cfg.Gate + "/private",
		handlers:   map[string]Handler{},
		wake:       make(chan struct{}, 1),
		statusNow:  make(chan struct{}, 1),
		pubacks:    make(chan pubDone, brokerWindow),
		receipted:  make(chan []receipts.Receipt, 64),
		receiptTop: receipts.Topic(cfg.Prefix, cfg.Site, cfg.Gate),
		fl:         flights{byseq: map[uint64]*flight{}},
	}
	up.failures = &connectFailures{log: up.log, every: 5 * time.Minute}
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
		// MQTT 3.1.1 only: paho would otherwise retry a refused login as
		// 3.1 and report the broker's "not authorised" as "identifier
		// rejected".
		SetProtocolVersion(4).
		SetKeepAlive(30*time.Second).
		SetPingTimeout(10*time.Second).
		SetWriteTimeout(10*time.Second).
		// Each message gets its own goroutine; handlers return quickly, so a
		// slow list download cannot stall PUBACKs or the reverse.
		SetOrderMatters(false).
		// The outbox is the durable buffer; paho's store only holds what is
		// in flight, and resends it in publish order after a reconnect. The
		// uplink does not publish those events again itself: their tokens
		// complete when paho resends them.
		SetStore(&resumeStore{Store: mqtt.NewOrderedMemoryStore(), connected: func() bool { return up.client.IsConnectionOpen() }, listed: up.resumed}).
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

// HubLatency is the time from first publishing the last receipted event to the
// hub's receipt for it; zero before the first.
func (u *Uplink) HubLatency() time.Duration { return time.Duration(u.hubLatency.Load()) }

// Resent is how many times the uplink published an event again since Run
// started: the hub had not receipted it in time, the broker had dropped it, or
// its publish failed. paho's own redelivery of unacknowledged publishes after
// a reconnect is not counted.
func (u *Uplink) Resent() uint64 { return u.resent.Load() }

// InFlight is how many events are published and not yet receipted by the
// hub: waiting for the broker's PUBACK or, acknowledged, for the receipt.
func (u *Uplink) InFlight() int {
	u.fmu.Lock()
	defer u.fmu.Unlock()
	return len(u.fl.byseq)
}

// Topic returns the topic events are published on; one that carries staff's
// note goes to {prefix}/{site}/{gate}/private instead, read by the hub alone.
func (u *Uplink) Topic() string { return u.topic }

func (u *Uplink) onConnect(c mqtt.Client) {
	u.online.Store(true)
	u.log.Info("uplink connected")
	time.AfterFunc(resumeWait, func() {
		if u.online.Load() {
			u.resumed()
		}
	})
	for _, ch := range []chan struct{}{u.wake, u.statusNow} {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	// Resubscribe even though the session is persistent: a broker that lost
	// its state (restarted without persistence) would otherwise go silent.
	// One SUBSCRIBE for every filter; the routes were set before connecting,
	// so messages the broker had queued for the session are handled whenever
	// they arrive. In a goroutine: the connect handler must not wait on the
	// network.
	go u.subscribe(c, u.filters()...)
}

func (u *Uplink) onLost(_ mqtt.Client, err error) {
	u.online.Store(false)
	u.ready.Store(false)
	u.log.Warn("uplink connection lost; taps are kept on disk and sent after reconnect", "err", err)
}

// onNotification adds the reconnect jitter and reports failed attempts
// (connectFailures).
func (u *Uplink) onNotification(_ mqtt.Client, n mqtt.ConnectionNotification) {
	switch n := n.(type) {
	case mqtt.ConnectionNotificationConnecting:
		if n.IsReconnect || n.Attempt > 0 {
			time.Sleep(rand.N(time.Second))
		}
	case mqtt.ConnectionNotificationBrokerFailed:
		u.failures.failed(n.Reason, time.Now())
	case mqtt.ConnectionNotificationFailed:
		u.failures.failed(n.Reason, time.Now())
	case mqtt.ConnectionNotificationConnected:
		u.failures.connected()
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
	for f, h := range u.handlers {
		u.client.AddRoute(f, func(_ mqtt.Client, m mqtt.Message) { h(m.Topic(), m.Payload()) })
	}
	u.mu.Unlock()
	u.client.AddRoute(u.receiptTop, u.onReceipt)
	acks := make(chan []receipts.Receipt, 64)
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
		u.ready.Store(false)
	}()
	u.client.Connect() // with ConnectRetry, completion is reported via onConnect
	u.loop(ctx, acks)
	return nil
}

// onReceipt takes a receipt message from the hub to the publishing loop.
func (u *Uplink) onReceipt(_ mqtt.Client, m mqtt.Message) {
	rs, err := receipts.Parse(m.Payload())
	if err != nil {
		u.log.Warn("uplink: ignored a malformed receipt; the events it names are sent again", "topic", m.Topic(), "err", err)
		return
	}
	u.receipted <- rs
}

// pubDone is a publish whose token completed.
type pubDone struct {
	seq uint64
	tok mqtt.Token
}

// flight is an event taken from the outbox and published at least once.
type flight struct {
	seq     uint64
	id      string
	at      time.Time // tap time
	payload []byte
	// private: the event carries a note and goes to the hub-only topic.
	private bool
	first   time.Time // first publish
	sent    time.Time // last publish
	// tok is the last publish's token while it waits for PUBACK; acked is
	// when that PUBACK came (zero while waiting, or after a failed publish).
	tok   mqtt.Token
	acked time.Time
	tries int
	// sendNo numbers the flight's last send among all sends of this run.
	sendNo uint64
	// lost is set when the hub is back after a silence: due at once.
	lost bool
}

// awaitingHub reports whether the broker has the flight and the hub's receipt
// is what it waits for.
func (f *flight) awaitingHub() bool { return f.tok == nil && !f.acked.IsZero() }

// flights is the publishing loop's table of events in flight.
type flights struct {
	byseq map[uint64]*flight
	// next is the highest seq taken from the outbox; more says the outbox
	// may hold events after it.
	next uint64
	more bool
	// inBroker counts flights waiting for PUBACK.
	inBroker int
	// lastReceipt is when the hub last answered (or Run started).
	lastReceipt time.Time
	// sends counts sends; receiptedNo is the highest sendNo receipted.
	sends, receiptedNo uint64
}

// loop is the publishing loop: it owns the flight table.
func (u *Uplink) loop(ctx context.Context, acks chan<- []receipts.Receipt) {
	tickEvery := min(tick, u.cfg.ConfirmTimeout/4)
	tick := time.NewTicker(tickEvery)
	defer tick.Stop()
	u.fmu.Lock()
	u.fl.lastReceipt = time.Now()
	u.fl.more = true
	u.fmu.Unlock()
	for {
		if u.publishing() {
			if err := u.fill(ctx); err != nil {
				u.log.Error("uplink: read the backlog; retried shortly, check the disk", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-u.wake:
			u.setMore()
		case <-u.ob.Notify():
			u.setMore()
		case d := <-u.pubacks:
			u.pubacked(d)
		case rs := <-u.receipted:
			u.receipt(ctx, rs)
			acks <- rs
		case <-tick.C:
			if u.publishing() {
				u.resendDue(ctx, time.Now())
			}
		}
	}
}

// publishing reports whether events may be published now: connected, and
// paho's resume of the connection under way (resume.go).
func (u *Uplink) publishing() bool { return u.online.Load() && u.ready.Load() }

func (u *Uplink) setMore() {
	u.fmu.Lock()
	u.fl.more = true
	u.fmu.Unlock()
}

// fill publishes events from the outbox that were never published in this
// run, while both windows have room.
func (u *Uplink) fill(ctx context.Context) error {
	u.fmu.Lock()
	defer u.fmu.Unlock()
	for u.fl.more && u.publishing() {
		room := min(hubWindow-len(u.fl.byseq), brokerWindow-u.fl.inBroker)
		if room <= 0 {
			return nil
		}
		evs, err := u.ob.Pending(u.fl.next, room)
		if err != nil {
			return fmt.Errorf("uplink: read backlog: %w", err)
		}
		if len(evs) < room {
			u.fl.more = false
		}
		for i := range evs {
			payload, err := json.Marshal(&evs[i])
			if err != nil {
				return fmt.Errorf("uplink: encode event seq %d: %w", evs[i].Seq, err)
			}
			f := &flight{seq: evs[i].Seq, id: evs[i].ID, at: evs[i].At, payload: payload, private: evs[i].Note != ""}
			u.fl.byseq[f.seq] = f
			u.fl.next = f.seq
			u.send(ctx, f)
		}
	}
	return nil
}

// send publishes f; the caller holds fmu.
func (u *Uplink) send(ctx context.Context, f *flight) {
	now := time.Now()
	if f.first.IsZero() {
		f.first = now
	} else {
		u.resent.Add(1)
	}
	f.sent, f.acked, f.lost = now, time.Time{}, false
	f.tries++
	u.fl.sends++
	f.sendNo = u.fl.sends
	topic := u.topic
	if f.private {
		topic = u.private
	}
	tok := u.client.Publish(topic, 1, false, f.payload)
	f.tok = tok
	u.fl.inBroker++
	go func() {
		select {
		case <-tok.Done():
		case <-ctx.Done():
			return
		}
		select {
		case u.pubacks <- pubDone{seq: f.seq, tok: tok}:
		case <-ctx.Done():
		}
	}()
}

// pubacked records a completed publish: now the hub's receipt is awaited, or,
// if the publish failed, the event is due again.
func (u *Uplink) pubacked(d pubDone) {
	u.fmu.Lock()
	defer u.fmu.Unlock()
	f := u.fl.byseq[d.seq]
	if f == nil || f.tok != d.tok {
		return // receipted meanwhile, or an older publish of it
	}
	f.tok = nil
	u.fl.inBroker--
	u.fl.more = true
	if err := d.tok.Error(); err != nil {
		u.log.Debug("uplink: publish failed; sent again", "seq", f.seq, "err", err)
		return
	}
	f.acked = time.Now()
	u.ackLatency.Store(int64(f.acked.Sub(f.sent)))
}

// receipt drops the receipted events from the table. The first receipt after
// the hub was silent makes every waiting event due at once: the hub is back,
// and whatever the broker dropped meanwhile must come again.
func (u *Uplink) receipt(ctx context.Context, rs []receipts.Receipt) {
	now := time.Now()
	u.fmu.Lock()
	wasQuiet := u.quiet(now)
	for _, r := range rs {
		f := u.fl.byseq[r.Seq]
		if f == nil || f.id != r.ID {
			continue
		}
		if f.tok != nil {
			u.fl.inBroker--
		}
		delete(u.fl.byseq, r.Seq)
		u.hubLatency.Store(int64(now.Sub(f.first)))
		u.fl.receiptedNo = max(u.fl.receiptedNo, f.sendNo)
	}
	u.fl.lastReceipt = now
	u.fl.more = true
	if wasQuiet {
		for _, f := range u.fl.byseq {
			if f.awaitingHub() {
				f.tries, f.lost = 0, true
			}
		}
	}
	u.fmu.Unlock()
	if wasQuiet {
		u.log.Info("uplink: the hub answers again; sending what it has not receipted")
	}
	if u.publishing() {
		u.resendDue(ctx, now)
	}
}

// quiet reports whether events wait for the hub and it has said nothing for
// ConfirmTimeout. The caller holds fmu.
func (u *Uplink) quiet(now time.Time) bool {
	if now.Sub(u.fl.lastReceipt) < u.cfg.ConfirmTimeout {
		return false
	}
	for _, f := range u.fl.byseq {
		if f.awaitingHub() {
			return true
		}
	}
	return false
}

// resendDue publishes again the events whose receipt is overdue, oldest first,
// within the broker window; while the hub is silent only a few per tick. An
// event is overdue ConfirmTimeout after its PUBACK (doubling with each
// resend), or gapSlack after it when an event sent later has been receipted.
func (u *Uplink) resendDue(ctx context.Context, now time.Time) {
	u.fmu.Lock()
	defer u.fmu.Unlock()
	var due []*flight
	for _, f := range u.fl.byseq {
		if f.tok != nil {
			continue
		}
		at := f.sent // a failed publish, or one lost in a silence, is due at once
		switch {
		case f.acked.IsZero() || f.lost:
		case f.sendNo < u.fl.receiptedNo:
			at = f.acked.Add(gapSlack)
		default:
			at = f.acked.Add(u.cfg.ConfirmTimeout << min(max(f.tries-1, 0), 4))
		}
		if !now.Before(at) {
			due = append(due, f)
		}
	}
	if len(due) == 0 {
		return
	}
	slices.SortFunc(due, func(a, b *flight) int { return cmp.Compare(a.seq, b.seq) })
	limit := brokerWindow - u.fl.inBroker
	if u.quiet(now) {
		limit = min(limit, probe)
	}
	for _, f := range due[:max(0, min(limit, len(due)))] {
		u.send(ctx, f)
	}
}

// acker removes receipted events from the outbox, many per commit.
func (u *Uplink) acker(acks <-chan []receipts.Receipt, done chan<- struct{}) {
	defer close(done)
	var batch []receipts.Receipt
	for rs := range acks {
		batch = append(batch[:0], rs...)
	more:
		for len(batch) < 4*hubWindow {
			select {
			case rs, ok := <-acks:
				if !ok {
					break more
				}
				batch = append(batch, rs...)
			default:
				break more
			}
		}
		if err := u.ob.Ack(batch...); err != nil {
			// The events stay in the outbox and are sent again after a
			// restart; the hub drops the duplicates and receipts them again.
			u.log.Error("uplink: remove receipted events from the outbox; check the disk", "err", err, "events", len(batch))
		}
	}
}
