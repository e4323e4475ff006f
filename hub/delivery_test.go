package hub

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/mynagate/mynagate/event"
	"github.com/mynagate/mynagate/internal/mqttsub"
	"github.com/mynagate/mynagate/internal/mqtttest"
	"github.com/mynagate/mynagate/sync/outbox"
	"github.com/mynagate/mynagate/sync/peers"
	"github.com/mynagate/mynagate/sync/uplink"
)

// The delivery tests check the promise the README makes: every decided tap
// reaches the hub's store exactly once, through any broker, hub or gate crash.
// Each runs the hub as a child process (so that it can be killed with
// SIGKILL) against a real broker: the hub's embedded one, and Mosquitto as a
// site runs it out of the box (its default queue limits; persistence on with
// the default autosave). What counts is what the hub's store holds at the end.

// confirmTimeout is the gates' resend delay in these tests: short, so that
// what a broker dropped comes again within the test.
const confirmTimeout = 2 * time.Second

// rig is a hub configuration and the broker the gates reach.
type rig struct {
	cfg     *Config
	cfgPath string
	// mosquitto is nil with the embedded broker.
	mosquitto *mqtttest.Broker
	// accounts are the gates provisioned so far, by name.
	accounts map[string]uplink.Config
}

// account returns gate name's account, provisioning it the first time.
func (r *rig) account(t *testing.T, name string) uplink.Config {
	t.Helper()
	c, ok := r.accounts[name]
	if !ok {
		c = gateAccount(t, r.cfg, "stadium", name)
		c.Broker = r.gateURL()
		r.accounts[name] = c
	}
	return c
}

// brokers are the two setups every delivery test runs on.
var brokers = []struct {
	name string
	new  func(t *testing.T) *rig
}{
	{"embedded", func(t *testing.T) *rig { return newRig(t, nil) }},
	{"mosquitto", func(t *testing.T) *rig { return newRig(t, mqtttest.StartDefault(t)) }},
}

func newRig(t *testing.T, m *mqtttest.Broker) *rig {
	t.Helper()
	cfg := testConfig(t)
	if m != nil {
		cfg.Listen, cfg.Broker = "", m.Addr()
	}
	r := &rig{cfg: cfg, cfgPath: filepath.Join(t.TempDir(), "gatehub.json"), mosquitto: m, accounts: map[string]uplink.Config{}}
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(r.cfgPath, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return r
}

// hubProc is a running hub child.
type hubProc struct {
	t   *testing.T
	cmd *exec.Cmd
}

func (r *rig) startHub(t *testing.T) *hubProc {
	t.Helper()
	p := &hubProc{t: t, cmd: startHubChild(t, r.cfgPath)}
	t.Cleanup(func() {
		if p.cmd != nil {
			p.cmd.Process.Kill()
			p.cmd.Wait()
		}
	})
	if r.mosquitto == nil {
		waitFor(t, "the hub's broker to listen", func() bool {
			c, err := net.DialTimeout("tcp", r.cfg.Listen, time.Second)
			if err == nil {
				c.Close()
			}
			return err == nil
		})
	}
	return p
}

// kill ends the hub with SIGKILL.
func (p *hubProc) kill() {
	p.cmd.Process.Signal(syscall.SIGKILL)
	p.cmd.Wait()
	p.cmd = nil
}

// stop ends the hub with SIGTERM and checks it exited cleanly.
func (p *hubProc) stop() {
	p.t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	if err := p.cmd.Wait(); err != nil {
		p.t.Fatalf("hub exit: %v", err)
	}
	p.cmd = nil
}

// testGate is an in-process gate: an outbox and its uplink.
type testGate struct {
	name     string
	ob       *outbox.Outbox
	up       *uplink.Uplink
	appended atomic.Int64
	cancel   context.CancelFunc
	done     chan struct{}
}

func (r *rig) gateURL() string {
	if r.mosquitto != nil {
		return r.mosquitto.Addr()
	}
	return r.cfg.BrokerURL()
}

// startGate opens (or reopens) the gate's outbox at path and runs its uplink
// until the test ends.
func (r *rig) startGate(t *testing.T, name, path string, handlers map[string]uplink.Handler) *testGate {
	t.Helper()
	ob, err := outbox.Open(path, outbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	uc := r.account(t, name)
	uc.MaxReconnectInterval, uc.ConfirmTimeout = time.Second, confirmTimeout
	up, err := uplink.New(uc, ob, nil)
	if err != nil {
		t.Fatal(err)
	}
	for f, h := range handlers {
		if err := up.Handle(f, h); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	g := &testGate{name: name, ob: ob, up: up, cancel: cancel, done: make(chan struct{})}
	go func() { up.Run(ctx); close(g.done) }()
	t.Cleanup(g.close)
	return g
}

func (g *testGate) close() {
	if g.cancel == nil {
		return
	}
	g.cancel()
	<-g.done
	g.ob.Close()
	g.cancel = nil
}

// burst appends n taps from four lanes at once, numbered from first.
func (g *testGate) burst(t *testing.T, first, n int) {
	var wg sync.WaitGroup
	for lane := range 4 {
		wg.Go(func() {
			for i := lane; i < n; i += 4 {
				if err := g.ob.Append(context.Background(), tap(first+i, g.name, event.KindEntry, time.Now())); err != nil {
					t.Errorf("append: %v", err)
					return
				}
				g.appended.Add(1)
			}
		})
	}
	wg.Wait()
}

// receipted is how many appended taps the hub has receipted.
func (g *testGate) receipted() int {
	n, _ := g.ob.Backlog()
	return int(g.appended.Load()) - n
}

func waitDrained(t *testing.T, within time.Duration, gates ...*testGate) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		left := 0
		for _, g := range gates {
			n, _ := g.ob.Backlog()
			left += n
		}
		if left == 0 {
			return
		}
		if time.Now().After(deadline) {
			for _, g := range gates {
				t.Logf("gate %s: %+v", g.name, g.up.CurrentStatus())
			}
			t.Fatalf("%d events still on the gates after %v", left, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// checkStored opens the hub's store (the hub must be stopped) and checks it
// holds taps first..first+n-1 of each gate, each once.
func (r *rig) checkStored(t *testing.T, n int, gates ...string) {
	t.Helper()
	st, err := OpenStore(filepath.Join(r.cfg.DataDir, "hub.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, gate := range gates {
		for i := range n {
			id := tap(i, gate, event.KindEntry, time.Time{}).ID
			if _, ok, err := st.Event(id); err != nil || !ok {
				t.Fatalf("tap %s is not in the hub's store (%v)", id, err)
			}
		}
	}
	v, err := st.View()
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range v.Gates {
		if g.Events != uint64(n) {
			t.Fatalf("gate %s: the store counts %d distinct events, want %d", g.Gate, g.Events, n)
		}
		t.Logf("gate %s: %d stored, %d duplicates dropped by id", g.Gate, g.Events, g.Duplicates)
	}
	if len(v.Gates) != len(gates) {
		t.Fatalf("store knows %d gates, want %d", len(v.Gates), len(gates))
	}
}

// TestDeliveryTapsBeforeTheHubEverRan: 5,000 taps decided before any hub had
// connected. Through Mosquitto the gate published what its window allows
// to a broker with no subscriber, which dropped them on PUBACK; the gate kept
// them, and once the hub runs they are all stored.
func TestDeliveryTapsBeforeTheHubEverRan(t *testing.T) {
	for _, b := range brokers {
		t.Run(b.name, func(t *testing.T) {
			r := b.new(t)
			const n = 5000
			g := r.startGate(t, "g1", filepath.Join(t.TempDir(), "g1.db"), nil)
			g.burst(t, 0, n)
			if r.mosquitto != nil {
				waitFor(t, "the gate to publish taps to the broker", func() bool { return g.up.Awaiting().Hub > 0 })
			}
			hub := r.startHub(t)
			waitDrained(t, 2*time.Minute, g)
			hub.stop()
			r.checkStored(t, n, "g1")
		})
	}
}

// burstTwoGates starts gates g1 and g2, each appending taps 0..each-1 in a
// burst, and returns once 4,000 of them were receipted, with the bursts still
// going (wait on wg for their end).
func (r *rig) burstTwoGates(t *testing.T, each int) ([]*testGate, *sync.WaitGroup) {
	t.Helper()
	gates := []*testGate{
		r.startGate(t, "g1", filepath.Join(t.TempDir(), "g1.db"), nil),
		r.startGate(t, "g2", filepath.Join(t.TempDir(), "g2.db"), nil),
	}
	wg := new(sync.WaitGroup)
	for _, g := range gates {
		wg.Go(func() { g.burst(t, 0, each) })
	}
	waitFor(t, "4,000 taps receipted", func() bool { return gates[0].receipted()+gates[1].receipted() >= 4000 })
	return gates, wg
}

// TestDeliveryHubKilledMidBurst: the hub is killed with SIGKILL while two
// gates are in a 20,000-tap burst, and started again: every tap stored once,
// every gate's backlog 0.
func TestDeliveryHubKilledMidBurst(t *testing.T) {
	for _, b := range brokers {
		t.Run(b.name, func(t *testing.T) {
			r := b.new(t)
			const each = 10000
			hub := r.startHub(t)
			gates, wg := r.burstTwoGates(t, each)
			hub.kill()
			before := gates[0].receipted() + gates[1].receipted()
			hub = r.startHub(t)
			wg.Wait()
			t.Logf("hub killed with %d of %d taps receipted", before, 2*each)
			waitDrained(t, 3*time.Minute, gates...)
			hub.stop()
			r.checkStored(t, each, "g1", "g2")
		})
	}
}

// TestDeliveryBrokerKilledMidBurst: Mosquitto killed with SIGKILL during a
// 20,000-tap burst loses what it took since its last autosave; the gates still
// have it all and send it again. The test checks that events were in flight
// at the kill and that the gates published events again after it.
func TestDeliveryBrokerKilledMidBurst(t *testing.T) {
	r := newRig(t, mqtttest.StartDefault(t))
	const each = 10000
	hub := r.startHub(t)
	gates, wg := r.burstTwoGates(t, each)
	inFlight := func() int { return gates[0].up.InFlight() + gates[1].up.InFlight() }
	resent := func() uint64 { return gates[0].up.Resent() + gates[1].up.Resent() }
	waitFor(t, "events in flight", func() bool { return inFlight() > 0 })
	r.mosquitto.Kill()
	flying, resentBefore := inFlight(), resent()
	r.mosquitto.Restart()
	wg.Wait()
	waitDrained(t, 3*time.Minute, gates...)
	hub.stop()
	r.checkStored(t, each, "g1", "g2")
	t.Logf("broker killed with %d events in flight; %d resent before the kill, %d after", flying, resentBefore, resent()-resentBefore)
	if flying == 0 {
		t.Fatal("no event was in flight when the broker was killed")
	}
	if resent() == resentBefore {
		t.Fatal("the gates published nothing again after the broker was killed: the kill lost nothing, so the test proved nothing")
	}
}

// The gate child is this test binary re-executed: it runs an uplink on an
// outbox and appends a burst of taps, printing "tap ID" once each Append
// returned and "flight N" with how many events are published and not yet
// receipted by the hub, until the parent kills it with SIGKILL.
const (
	envGateChild  = "MYNAGATE_HUB_GATE_CHILD"
	envGateBroker = "MYNAGATE_HUB_GATE_BROKER"
	envGatePass   = "MYNAGATE_HUB_GATE_PASSWORD"
)

func gateChild(path string) {
	ob, err := outbox.Open(path, outbox.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	up, err := uplink.New(uplink.Config{Broker: os.Getenv(envGateBroker), Site: "stadium", Gate: "g1", ConfirmTimeout: confirmTimeout,
		Username: GateUsername("stadium", "g1"), Password: os.Getenv(envGatePass)}, ob, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	go up.Run(context.Background())
	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	say := func(format string, args ...any) {
		mu.Lock()
		fmt.Fprintf(out, format+"\n", args...)
		out.Flush()
		mu.Unlock()
	}
	go func() {
		for {
			say("flight %d", up.InFlight())
			time.Sleep(5 * time.Millisecond)
		}
	}()
	var wg sync.WaitGroup
	for lane := range 4 {
		wg.Go(func() {
			for i := lane; i < 20000; i += 4 {
				e := tap(i, "g1", event.KindEntry, time.Now())
				if err := ob.Append(context.Background(), e); err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(3)
				}
				say("tap %s", e.ID)
			}
		})
	}
	wg.Wait()
	select {}
}

// TestDeliveryGateKilledInFlight: the gate is killed with SIGKILL while events
// are with the broker awaiting the hub's receipt (the test checks there were
// some), and restarted on the same outbox: every tap it recorded is stored
// once.
func TestDeliveryGateKilledInFlight(t *testing.T) {
	for _, b := range brokers {
		t.Run(b.name, func(t *testing.T) {
			r := b.new(t)
			hub := r.startHub(t)
			path := filepath.Join(t.TempDir(), "g1.db")
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), envGateChild+"="+path, envGateBroker+"="+r.gateURL(), envGatePass+"="+r.account(t, "g1").Password)
			cmd.Stderr = os.Stderr
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			recorded := map[string]bool{}
			inFlight := 0
			killed := false
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				what, arg, _ := strings.Cut(sc.Text(), " ")
				switch what {
				case "tap":
					recorded[arg] = true
				case "flight":
					inFlight, _ = strconv.Atoi(arg)
				}
				if !killed && len(recorded) >= 3000 && inFlight > 0 {
					cmd.Process.Signal(syscall.SIGKILL)
					killed = true
				}
			}
			cmd.Wait()
			if !killed {
				t.Fatalf("the gate ended before it had events in flight (%d recorded)", len(recorded))
			}
			t.Logf("gate killed with %d taps recorded and %d events awaiting the hub's receipt", len(recorded), inFlight)
			g := r.startGate(t, "g1", path, nil)
			last, err := g.ob.LastSeq()
			if err != nil {
				t.Fatal(err)
			}
			waitDrained(t, 2*time.Minute, g)
			g.close()
			hub.stop()
			st, err := OpenStore(filepath.Join(r.cfg.DataDir, "hub.db"), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			for id := range recorded {
				if _, ok, err := st.Event(id); err != nil || !ok {
					t.Fatalf("tap %s was recorded by the gate but is not in the hub's store (%v)", id, err)
				}
			}
			v, err := st.View()
			if err != nil {
				t.Fatal(err)
			}
			if len(v.Gates) != 1 || v.Gates[0].Events != last {
				t.Fatalf("store %+v, want the %d events the outbox numbered, each once", v.Gates, last)
			}
		})
	}
}

// TestPeerFeedWithRetainedLists: two gates of a site, a large retained list
// snapshot on the broker that each gate is slow to take, snapshot requests and
// reconnects on top: each gate still learns of the other's entries. (The
// embedded broker refuses a SUBSCRIBE while it is still sending the client
// retained messages; a gate that subscribed to its lists before its peers'
// events never heard of a peer entry. The gate now subscribes to everything
// in one SUBSCRIBE and asks again for what is refused: internal/mqttsub's
// tests take both orders against the embedded broker's engine.)
func TestPeerFeedWithRetainedLists(t *testing.T) {
	for _, b := range brokers {
		t.Run(b.name, func(t *testing.T) {
			r := b.new(t)
			r.startHub(t)
			if err := os.MkdirAll(r.cfg.DataDir, 0o700); err != nil {
				t.Fatal(err)
			}
			m, pub := enrolTickets(t, r.cfg, 30000, "T")
			// A snapshot in many retained chunks, as a large venue's is.
			if _, err := m.Publish(context.Background(), pub, signKey, "stadium", "whitelist", PublishOptions{Prefix: r.cfg.Prefix, Snapshot: true, ChunkSize: 16 << 10}); err != nil {
				t.Fatal(err)
			}
			listsFilter := r.cfg.Prefix + "/stadium/lists/#"
			var sets []*peers.Set
			var gates []*testGate
			for _, name := range []string{"g1", "g2"} {
				set, err := peers.Open(filepath.Join(t.TempDir(), name+"-peers.db"), peers.Options{})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { set.Close() })
				path := filepath.Join(t.TempDir(), name+".db")
				handlers := map[string]uplink.Handler{
					listsFilter:                           func(string, []byte) { time.Sleep(10 * time.Millisecond) },
					peers.Filter(r.cfg.Prefix, "stadium"): set.Handle,
				}
				g := r.startGate(t, name, path, handlers)
				waitFor(t, name+" online", g.up.Online)
				g.up.Resubscribe(listsFilter)
				// Reconnect with the session the broker kept.
				g.close()
				g = r.startGate(t, name, path, handlers)
				g.up.Resubscribe(listsFilter)
				sets, gates = append(sets, set), append(gates, g)
			}
			for i, g := range gates {
				e := tap(i, g.name, event.KindEntry, time.Now())
				if err := g.ob.Append(context.Background(), e); err != nil {
					t.Fatal(err)
				}
				other := sets[1-i]
				waitFor(t, fmt.Sprintf("gate %d to see %s's entry", 2-i, g.name), func() bool {
					_, in := other.Inside(peers.HolderKey(e))
					return in
				})
			}
		})
	}
}

// TestPeerFeedEitherSubscribeOrder takes the two subscribe orders on the
// hub's embedded broker with its access hooks, as provisioned gates: retained
// list chunks present, a gate subscribes (through internal/mqttsub, which
// asks again for what the broker refuses) to its lists and then its peers'
// events, another the reverse; each gets the third gate's entry.
func TestPeerFeedEitherSubscribeOrder(t *testing.T) {
	r := newRig(t, nil)
	if err := os.MkdirAll(r.cfg.DataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	// Provisioned before the hub starts, so that the first connect is let in.
	for _, name := range []string{"g-lists-first", "g-peers-first", "g-peer"} {
		r.account(t, name)
	}
	r.startHub(t)
	m, pub := enrolTickets(t, r.cfg, 30000, "T")
	if _, err := m.Publish(context.Background(), pub, signKey, "stadium", "whitelist", PublishOptions{Prefix: r.cfg.Prefix, Snapshot: true, ChunkSize: 16 << 10}); err != nil {
		t.Fatal(err)
	}
	listsFilter := r.cfg.Prefix + "/stadium/lists/#"
	peerFilter := peers.Filter(r.cfg.Prefix, "stadium")
	type subscriber struct {
		name   string
		order  []string
		chunks atomic.Int64
		peers  chan string
		log    *syncLog
	}
	subs := []*subscriber{
		{name: "g-lists-first", order: []string{listsFilter, peerFilter}},
		{name: "g-peers-first", order: []string{peerFilter, listsFilter}},
	}
	for _, s := range subs {
		s.peers, s.log = make(chan string, 16), &syncLog{}
		acc := r.account(t, s.name)
		c := paho.NewClient(paho.NewClientOptions().AddBroker(acc.Broker).SetClientID(acc.ClientID).
			SetUsername(acc.Username).SetPassword(acc.Password).SetProtocolVersion(4).
			SetCleanSession(true).SetAutoReconnect(false).SetConnectTimeout(10 * time.Second).SetOrderMatters(false))
		// Routes before connecting, as the uplink sets them; the lists
		// handler is slow, as a gate applying a large snapshot is, so that
		// the broker is still sending retained chunks when the second
		// SUBSCRIBE comes.
		c.AddRoute(listsFilter, func(paho.Client, paho.Message) { s.chunks.Add(1); time.Sleep(10 * time.Millisecond) })
		c.AddRoute(peerFilter, func(_ paho.Client, msg paho.Message) {
			if e, err := event.Decode(msg.Payload()); err == nil && e.Gate != s.name {
				s.peers <- e.ID
			}
		})
		if tok := c.Connect(); !tok.WaitTimeout(20*time.Second) || tok.Error() != nil {
			t.Fatalf("%s: connect: %v", s.name, tok.Error())
		}
		t.Cleanup(func() { c.Disconnect(50) })
		for _, f := range s.order {
			if !mqttsub.Subscribe(c, []string{f}, mqttsub.Options{Logger: slog.New(slog.NewTextHandler(s.log, nil)), Retry: 50 * time.Millisecond}) {
				t.Fatalf("%s: subscription to %s not granted", s.name, f)
			}
		}
	}
	peer := r.startGate(t, "g-peer", filepath.Join(t.TempDir(), "g-peer.db"), nil)
	e := tap(1, "g-peer", event.KindEntry, time.Now())
	if err := peer.ob.Append(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	for _, s := range subs {
		select {
		case id := <-s.peers:
			if id != e.ID {
				t.Fatalf("%s got peer event %s, want %s", s.name, id, e.ID)
			}
		case <-time.After(60 * time.Second):
			t.Fatalf("%s (subscribed %v) never got the peer's entry", s.name, s.order)
		}
		if s.chunks.Load() == 0 {
			t.Fatalf("%s got no retained list chunk", s.name)
		}
		t.Logf("%s: %d list chunks, %d refused SUBSCRIBE(s) asked again", s.name, s.chunks.Load(), strings.Count(s.log.String(), "refused a subscription"))
	}
}

// syncLog is a log sink safe for concurrent writes.
type syncLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
