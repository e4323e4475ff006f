package uplink

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/mynagate/mynagate/internal/mqtttest"
)

func lastStatus(t *testing.T, msgs []mqtttest.Message) Status {
	t.Helper()
	var st Status
	if err := json.Unmarshal(msgs[len(msgs)-1].Payload, &st); err != nil {
		t.Fatalf("status payload %q: %v", msgs[len(msgs)-1].Payload, err)
	}
	return st
}

func TestStatusOnlineThenWillOnCut(t *testing.T) {
	b := mqtttest.Start(t)
	p := mqtttest.NewProxy(t, b.HostPort())
	sub := mqtttest.Subscribe(t, b.Addr(), "mynagate/v1/s/g/status")
	ob := newOutbox(t)
	for i := 1; i <= 3; i++ {
		ob.Append(context.Background(), testEvent(i))
	}
	cfg := Config{Broker: p.Addr(), Site: "s", Gate: "g", SoftwareVersion: "test-1",
		Lists: func() map[string]ListStatus { return map[string]ListStatus{"whitelist": {Version: 9}} }}
	run(t, cfg, ob)
	st := lastStatus(t, sub.WaitN(1, 20*time.Second))
	if !st.Online || st.Site != "s" || st.Gate != "g" || st.Software != "test-1" || st.Lists["whitelist"].Version != 9 || st.Clock.IsZero() {
		t.Fatalf("online status %+v", st)
	}
	p.Cut()
	msgs, ok := sub.WaitFor(30*time.Second, func(m []mqtttest.Message) bool {
		var st Status
		return json.Unmarshal(m[len(m)-1].Payload, &st) == nil && !st.Online
	})
	if !ok {
		t.Fatalf("no offline will after the network was cut; last %+v", lastStatus(t, msgs))
	}
	if m := msgs[len(msgs)-1]; m.Topic != "mynagate/v1/s/g/status" {
		t.Fatalf("will on %q", m.Topic)
	}
}

func TestCleanStopPublishesOffline(t *testing.T) {
	b := mqtttest.Start(t)
	sub := mqtttest.Subscribe(t, b.Addr(), "mynagate/v1/s/g/status")
	up, err := New(Config{Broker: b.Addr(), Site: "s", Gate: "g"}, newOutbox(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- up.Run(ctx) }()
	sub.WaitN(1, 20*time.Second)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	msgs := sub.WaitN(2, 20*time.Second)
	if st := lastStatus(t, msgs); st.Online {
		t.Fatalf("after stop the status is %+v", st)
	}
}

func TestHandleAndResubscribe(t *testing.T) {
	b := mqtttest.Start(t)
	pub := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(b.Addr()))
	if tok := pub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer pub.Disconnect(50)
	if tok := pub.Publish("mynagate/v1/s/lists/whitelist/snapshot/manifest", 1, true, "m1"); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	got := make(chan string, 10)
	up, err := New(Config{Broker: b.Addr(), Site: "s", Gate: "g"}, newOutbox(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	const filter = "mynagate/v1/s/lists/#"
	if err := up.Handle(filter, func(topic string, payload []byte) { got <- topic + "=" + string(payload) }); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- up.Run(ctx) }()
	defer func() { cancel(); <-done }()
	want := "mynagate/v1/s/lists/whitelist/snapshot/manifest=m1"
	for i := range 2 {
		select {
		case m := <-got:
			if m != want {
				t.Fatalf("handler got %q", m)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("retained message not delivered (round %d)", i)
		}
		if i == 0 {
			// A gap in the deltas: ask for the retained snapshot again.
			up.Resubscribe(filter)
		}
	}
	if err := up.Handle("x", func(string, []byte) {}); err == nil {
		t.Fatal("Handle after Run accepted")
	}
}

// TestStatusGolden pins the status payload the hub and dashboards parse.
func TestStatusGolden(t *testing.T) {
	// The hub down for a while: most of the backlog awaits its receipt (sent,
	// or held back behind the window), the latest taps the broker's PUBACK.
	st := Status{Site: "stadium", Gate: "g1", Online: true, Backlog: 300, OldestUnsentS: 95.5, OutboxBytes: 65536,
		AwaitingBroker: 2, AwaitingBrokerOldestS: 0.25, AwaitingHub: 298, AwaitingHubOldestS: 95.5,
		Lists: map[string]ListStatus{"whitelist": {Version: 7, AppliedAt: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}},
		Clock: time.Date(2026, 12, 1, 9, 30, 0, 123456789, time.UTC), Software: "mynagate 0.1.0"}
	got, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	path := filepath.Join("testdata", "status.golden.json")
	if *update {
		os.WriteFile(path, got, 0o644)
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -update creates it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("status format changed:\n got %s\nwant %s", got, want)
	}
}

// TestWrongPasswordLoggedOnce: a refused login is called a refused login, once,
// not "is the broker up?" at every retry; connecting again is logged once.
func TestWrongPasswordLoggedOnce(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.WithPasswords(map[string]string{"g1": "right"}))
	var mu sync.Mutex
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&lockedBuffer{mu: &mu, b: &logs}, nil))
	up, err := New(Config{Broker: b.Addr(), Site: "stadium", Gate: "g1", Username: "g1", Password: "wrong", MaxReconnectInterval: time.Second}, newOutbox(t), log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { up.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	count := func(s string) int {
		mu.Lock()
		defer mu.Unlock()
		return strings.Count(logs.String(), s)
	}
	deadline := time.Now().Add(60 * time.Second)
	for up.failures.attemptsSoFar() < 4 {
		if time.Now().After(deadline) {
			t.Fatalf("only %d attempts in 60 s", up.failures.attemptsSoFar())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := count("refused this gate's login"); n != 1 {
		t.Fatalf("%d log lines name the refused login after %d attempts, want 1:\n%s", n, up.failures.attemptsSoFar(), logs.String())
	}
	if n := count("is the broker up"); n != 0 {
		t.Fatalf("a refused login was blamed on reachability:\n%s", logs.String())
	}
}

// lockedBuffer serialises log writes with the test's reads.
type lockedBuffer struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// attemptsSoFar counts the failed attempts since the last connection.
func (c *connectFailures) attemptsSoFar() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.attempts
}
