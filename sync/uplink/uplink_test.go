package uplink

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mynagate/mynagate/event"
	"github.com/mynagate/mynagate/internal/mqtttest"
	"github.com/mynagate/mynagate/sync/outbox"
)

var update = flag.Bool("update", false, "rewrite golden files")

func testEvent(i int) *event.Event {
	return &event.Event{
		ID:          fmt.Sprintf("01JTEST%019d", i),
		At:          time.Date(2026, 11, 25, 9, 0, 0, 123456789+i, time.UTC),
		Site:        "stadium",
		Gate:        "g1",
		Kind:        event.KindEntry,
		Decision:    event.Admit,
		Reason:      event.ReasonAdmit,
		Card:        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
		ServiceID:   fmt.Sprintf("T-%04d", i),
		Assurance:   "pinless",
		Offline:     i%2 == 0,
		ListVersion: 42,
		LatencyMS:   87.5,
	}
}

func newOutbox(t testing.TB) *outbox.Outbox {
	t.Helper()
	ob, err := outbox.Open(filepath.Join(t.TempDir(), "outbox.db"), outbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ob.Close() })
	return ob
}

// run starts the uplink and stops it at cleanup.
func run(t testing.TB, cfg Config, ob *outbox.Outbox) *Uplink {
	t.Helper()
	up, err := New(cfg, ob, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- up.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return up
}

// decodeAll decodes the received events and checks they are exactly seqs
// 1..n in order.
func checkInOrder(t *testing.T, msgs []mqtttest.Message, n int) []event.Event {
	t.Helper()
	if len(msgs) != n {
		t.Fatalf("subscriber got %d messages, want %d", len(msgs), n)
	}
	out := make([]event.Event, n)
	for i, m := range msgs {
		e, err := event.Decode(m.Payload)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if e.Seq != uint64(i+1) {
			t.Fatalf("message %d has seq %d, want %d", i, e.Seq, i+1)
		}
		out[i] = e
	}
	return out
}

func TestBacklogPublishedInOrderAndReceipted(t *testing.T) {
	b := mqtttest.Start(t)
	sub := mqtttest.Subscribe(t, b.Addr(), "mynagate/v1/stadium/g1/events")
	mqtttest.StartReceipter(t, b.Addr(), DefaultPrefix)
	ob := newOutbox(t)
	const n = 1000
	want := map[string]*event.Event{}
	for i := 1; i <= n; i++ {
		e := testEvent(i)
		if err := ob.Append(context.Background(), e); err != nil {
			t.Fatal(err)
		}
		want[e.ID] = e
	}
	run(t, Config{Broker: b.Addr(), Site: "stadium", Gate: "g1"}, ob)
	got := checkInOrder(t, sub.WaitN(n, 30*time.Second), n)
	for _, e := range got {
		w := want[e.ID]
		if w == nil || !e.At.Equal(w.At) || e.Card != w.Card || e.ServiceID != w.ServiceID ||
			e.Offline != w.Offline || e.ListVersion != w.ListVersion || e.LatencyMS != w.LatencyMS ||
			e.Kind != w.Kind || e.Reason != w.Reason || e.Assurance != w.Assurance {
			t.Fatalf("event %s arrived as %+v, want %+v", e.ID, e, w)
		}
	}
	waitBacklog(t, ob, 0)
}

func TestLiveAppendsFollowBacklog(t *testing.T) {
	b := mqtttest.Start(t)
	sub := mqtttest.Subscribe(t, b.Addr(), "site/+/+/events")
	ob := newOutbox(t)
	for i := 1; i <= 5; i++ {
		if err := ob.Append(context.Background(), testEvent(i)); err != nil {
			t.Fatal(err)
		}
	}
	up := run(t, Config{Broker: b.Addr(), Prefix: "site", Site: "s", Gate: "g"}, ob)
	sub.WaitN(5, 30*time.Second)
	if !up.Online() {
		t.Error("Online() is false after events were delivered")
	}
	for i := 6; i <= 10; i++ {
		if err := ob.Append(context.Background(), testEvent(i)); err != nil {
			t.Fatal(err)
		}
	}
	msgs := sub.WaitN(10, 30*time.Second)
	checkInOrder(t, msgs, 10)
	if msgs[0].Topic != "site/s/g/events" {
		t.Errorf("topic %q", msgs[0].Topic)
	}
}

func TestBrokerOutageKeepsBacklog(t *testing.T) {
	b := mqtttest.Start(t)
	sub := mqtttest.Subscribe(t, b.Addr(), "mynagate/v1/stadium/g1/events")
	mqtttest.StartReceipter(t, b.Addr(), DefaultPrefix)
	p := mqtttest.NewProxy(t, b.HostPort())
	ob := newOutbox(t)
	up := run(t, Config{Broker: p.Addr(), Site: "stadium", Gate: "g1"}, ob)
	for i := 1; i <= 10; i++ {
		if err := ob.Append(context.Background(), testEvent(i)); err != nil {
			t.Fatal(err)
		}
	}
	sub.WaitN(10, 30*time.Second)
	p.Cut()
	for up.Online() {
		time.Sleep(10 * time.Millisecond)
	}
	for i := 11; i <= 300; i++ {
		if err := ob.Append(context.Background(), testEvent(i)); err != nil {
			t.Fatal(err)
		}
	}
	if n, _ := ob.Backlog(); n < 290 {
		t.Fatalf("backlog %d while cut, want at least 290", n)
	}
	p.Restore()
	// Events in flight at the cut may arrive twice (QoS 1 is at least once
	// on the wire); deduplicated by id, the hub sees each once and in seq
	// order.
	msgs, ok := sub.WaitFor(60*time.Second, distinctAtLeast(t, 300))
	if !ok {
		t.Fatalf("after restore got %d distinct of 300 events", len(dedupe(t, msgs)))
	}
	for i, e := range dedupe(t, msgs) {
		if e.Seq != uint64(i+1) {
			t.Fatalf("distinct event %d has seq %d", i, e.Seq)
		}
	}
	waitBacklog(t, ob, 0)
}

// distinctAtLeast returns a WaitFor condition that holds once n distinct event
// ids arrived; it decodes each message once.
func distinctAtLeast(t *testing.T, n int) func([]mqtttest.Message) bool {
	seen := map[string]bool{}
	done := 0
	return func(msgs []mqtttest.Message) bool {
		for ; done < len(msgs); done++ {
			e, err := event.Decode(msgs[done].Payload)
			if err != nil {
				t.Errorf("message %d: %v", done, err)
				continue
			}
			seen[e.ID] = true
		}
		return len(seen) >= n
	}
}

// dedupe decodes messages and drops repeated ids, as the hub does.
func dedupe(t *testing.T, msgs []mqtttest.Message) []event.Event {
	t.Helper()
	seen := map[string]bool{}
	var out []event.Event
	for _, m := range msgs {
		e, err := event.Decode(m.Payload)
		if err != nil {
			t.Fatal(err)
		}
		if !seen[e.ID] {
			seen[e.ID] = true
			out = append(out, e)
		}
	}
	return out
}

func waitBacklog(t *testing.T, ob *outbox.Outbox, want int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		n, _ := ob.Backlog()
		if n == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("backlog stayed at %d, want %d", n, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestWireGolden pins the event payload: the hub and third-party consumers
// parse exactly this.
func TestWireGolden(t *testing.T) {
	e := testEvent(7)
	e.Seq = 7
	got, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	path := filepath.Join("testdata", "event.golden.json")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("wire format changed:\n got %s\nwant %s", got, want)
	}
}

func TestConfigErrors(t *testing.T) {
	ob := newOutbox(t)
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no site", Config{Broker: "tcp://127.0.0.1:1883", Gate: "g"}},
		{"wildcard gate", Config{Broker: "tcp://127.0.0.1:1883", Site: "s", Gate: "g+"}},
		{"slash site", Config{Broker: "tcp://127.0.0.1:1883", Site: "a/b", Gate: "g"}},
		{"no broker", Config{Site: "s", Gate: "g"}},
		{"missing CA", Config{Broker: "ssl://127.0.0.1:8883", Site: "s", Gate: "g", CAFile: "/nonexistent/ca.pem"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(tc.cfg, ob, nil); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

// TestPubackAloneDeletesNothing: with no hub answering, a window of events
// reaches the broker (and a subscriber) and still stays in the outbox; the
// whole backlog counts as awaiting the hub's receipt, the window sent and the
// rest held back behind it, and none as awaiting the broker.
func TestPubackAloneDeletesNothing(t *testing.T) {
	b := mqtttest.Start(t)
	sub := mqtttest.Subscribe(t, b.Addr(), "mynagate/v1/stadium/g1/events")
	ob := newOutbox(t)
	const n = 300
	for i := 1; i <= n; i++ {
		if err := ob.Append(context.Background(), testEvent(i)); err != nil {
			t.Fatal(err)
		}
	}
	up := run(t, Config{Broker: b.Addr(), Site: "stadium", Gate: "g1", ConfirmTimeout: time.Hour}, ob)
	sub.WaitN(hubWindow, 30*time.Second)
	waitFor(t, "the backlog awaiting the hub", func() bool { return up.CurrentStatus().AwaitingHub == n })
	st := up.CurrentStatus()
	if st.Backlog != n || st.AwaitingBroker != 0 || st.AwaitingHubOldestS <= 0 || st.AwaitingBrokerOldestS != 0 {
		t.Fatalf("status %+v: want backlog %d, all awaiting the hub with an age, none the broker", st, n)
	}
	if got := len(sub.Messages()); got != hubWindow {
		t.Fatalf("%d events published without a receipt, want the window of %d", got, hubWindow)
	}
}

// TestAwaitingNamesTheMissingPart reads the split of the backlog, in the
// retained status on the broker and on the gate, as an operator would: with
// the broker up and no hub receipting, every event awaits the hub, however
// many the hub window holds back; with the broker down, every event awaits
// the broker. Each oldest age is that of the oldest tap.
func TestAwaitingNamesTheMissingPart(t *testing.T) {
	b := mqtttest.Start(t)
	statusSub := mqtttest.Subscribe(t, b.Addr(), "mynagate/v1/stadium/g1/status")
	ob := newOutbox(t)
	const n = 2 * hubWindow
	first := time.Now().Add(-time.Hour).Round(0)
	for i := 1; i <= n; i++ {
		e := testEvent(i)
		e.At = first.Add(time.Duration(i-1) * time.Second)
		if err := ob.Append(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	// oldestAge checks that age, read between before and after, is the age
	// of the first tap (a tap later is a second younger).
	oldestAge := func(what string, read func() float64) {
		t.Helper()
		before := time.Since(first).Seconds()
		age := read()
		after := time.Since(first).Seconds()
		if age < before-0.5 || age > after+0.5 {
			t.Fatalf("oldest %s is %.3f s old, want the first tap's age, %.3f to %.3f s", what, age, before, after)
		}
	}
	up := run(t, Config{Broker: b.Addr(), Site: "stadium", Gate: "g1", ConfirmTimeout: time.Hour, StatusInterval: 100 * time.Millisecond}, ob)

	// (a) The broker is up, the hub never receipts.
	msgs, ok := statusSub.WaitFor(60*time.Second, func(m []mqtttest.Message) bool {
		var st Status
		return len(m) > 0 && json.Unmarshal(m[len(m)-1].Payload, &st) == nil && st.AwaitingHub == n
	})
	if !ok {
		t.Fatalf("no status with all %d events awaiting the hub in %d statuses", n, len(msgs))
	}
	var st Status
	if err := json.Unmarshal(msgs[len(msgs)-1].Payload, &st); err != nil {
		t.Fatal(err)
	}
	if st.Backlog != n || st.AwaitingBroker != 0 || st.AwaitingBrokerOldestS != 0 || st.AwaitingHubOldestS < 3500 {
		t.Fatalf("retained status with the hub silent %+v: want all %d awaiting the hub, an hour old, none the broker", st, n)
	}
	if w := up.Awaiting(); w.Hub != n || w.Broker != 0 || !w.BrokerOldest.IsZero() {
		t.Fatalf("with the hub silent the gate reports %+v, want all %d awaiting the hub", w, n)
	}
	oldestAge("awaiting the hub", func() float64 { return up.CurrentStatus().AwaitingHubOldestS })

	// (b) The broker is down.
	b.Stop()
	waitFor(t, "the gate offline", func() bool { return !up.Online() })
	if w := up.Awaiting(); w.Broker != n || w.Hub != 0 || !w.HubOldest.IsZero() {
		t.Fatalf("with the broker down the gate reports %+v, want all %d awaiting the broker", w, n)
	}
	oldestAge("awaiting the broker", func() float64 { return up.CurrentStatus().AwaitingBrokerOldestS })

	// The broker back, the events await the hub again.
	b.Restart()
	waitFor(t, "the backlog awaiting the hub again", func() bool { w := up.Awaiting(); return w.Hub == n && w.Broker == 0 })
}

// TestUnreceiptedEventsAreSentAgain: a hub that missed the first sending (down,
// or the broker dropped its queue) gets the events again after ConfirmTimeout,
// and the gate forgets them only on the receipts.
func TestUnreceiptedEventsAreSentAgain(t *testing.T) {
	b := mqtttest.Start(t)
	r := mqtttest.StartReceipter(t, b.Addr(), DefaultPrefix)
	sub := mqtttest.Subscribe(t, b.Addr(), "mynagate/v1/stadium/g1/events")
	r.Deaf(true)
	ob := newOutbox(t)
	const n = 500
	for i := 1; i <= n; i++ {
		if err := ob.Append(context.Background(), testEvent(i)); err != nil {
			t.Fatal(err)
		}
	}
	up := run(t, Config{Broker: b.Addr(), Site: "stadium", Gate: "g1", ConfirmTimeout: time.Second}, ob)
	sub.WaitN(n, 30*time.Second)
	if got, _ := r.Distinct(); got != 0 {
		t.Fatalf("deaf receipter saw %d events", got)
	}
	r.Deaf(false)
	waitBacklog(t, ob, 0)
	if got, _ := r.Distinct(); got != n {
		t.Fatalf("receipter has %d distinct events, want %d", got, n)
	}
	// Every event reached the receipter only by a resend.
	if got := up.Resent(); got < n {
		t.Fatalf("the uplink counts %d resends, want at least %d", got, n)
	}
}

// TestCleanConnectsSendEachEventOnce: reconnecting without a cut sends each
// event once on the wire. (The uplink used to republish what paho resent
// itself after every connect.)
func TestCleanConnectsSendEachEventOnce(t *testing.T) {
	b := mqtttest.Start(t)
	sub := mqtttest.Subscribe(t, b.Addr(), "mynagate/v1/stadium/g1/events")
	mqtttest.StartReceipter(t, b.Addr(), DefaultPrefix)
	path := filepath.Join(t.TempDir(), "outbox.db")
	const rounds, each = 15, 40
	for round := range rounds {
		ob, err := outbox.Open(path, outbox.Options{})
		if err != nil {
			t.Fatal(err)
		}
		up, err := New(Config{Broker: b.Addr(), Site: "stadium", Gate: "g1"}, ob, nil)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- up.Run(ctx) }()
		for i := range each {
			if err := ob.Append(context.Background(), testEvent(round*each+i+1)); err != nil {
				t.Fatal(err)
			}
		}
		waitBacklog(t, ob, 0)
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		ob.Close()
	}
	msgs := sub.WaitN(rounds*each, 30*time.Second)
	cnt := map[uint64]int{}
	for _, m := range msgs {
		e, _ := event.Decode(m.Payload)
		cnt[e.Seq]++
	}
	for s, n := range cnt {
		if n > 1 {
			t.Logf("seq %d sent %d times", s, n)
		}
	}
	if got := len(dedupe(t, msgs)); got != len(msgs) || got != rounds*each {
		t.Fatalf("%d messages for %d distinct events, want %d each once", len(msgs), got, rounds*each)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
