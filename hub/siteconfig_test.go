package hub

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
	"log/slog"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mynagate/mynagate/hub/hubtest"
	"github.com/mynagate/mynagate/sync/gateconfig"
	"github.com/mynagate/mynagate/sync/lists"
	"github.com/mynagate/mynagate/sync/outbox"
	"github.com/mynagate/mynagate/sync/uplink"
)

var otherSignKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{8}, 32))

func ptr[T any](v T) *T { return &v }

func TestPublishConfig(t *testing.T) {
	m, err := OpenMaster(filepath.Join(t.TempDir(), "lists.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	r := &retainer{retained: map[string][]byte{}}
	ctx := context.Background()
	opt := PublishOptions{Prefix: "p"}
	if _, ok, err := m.Config("s"); ok || err != nil {
		t.Fatalf("config before any set: %v %v", ok, err)
	}

	doc := gateconfig.Doc{Emergency: true, EmergencyUntil: ptr(time.Now().Add(time.Hour).UTC().Truncate(time.Second)), Fallback: []string{"cert"}, Note: "typhoon 12"}
	man, err := m.PublishConfig(ctx, r, signKey, "s", doc, opt)
	if err != nil {
		t.Fatal(err)
	}
	if man.List != "config" || man.Kind != lists.Snapshot || man.Version < uint64(time.Now().Unix()-60) {
		t.Fatalf("manifest %+v", man)
	}
	sc, ok, err := m.Config("s")
	if err != nil || !ok || !sc.Published || sc.Version != man.Version || !reflect.DeepEqual(sc.Doc, doc) {
		t.Fatalf("stored %+v %v %v", sc, ok, err)
	}
	if len(r.retained) != 2 || r.retained["p/s/lists/config/snapshot"] == nil || r.retained["p/s/lists/config/snapshot/0"] == nil {
		t.Fatalf("retained topics: %v", keys(r.retained))
	}
	// The next version is above the last, even within the same second.
	man2, err := m.PublishConfig(ctx, r, signKey, "s", gateconfig.Doc{}, opt)
	if err != nil || man2.Version <= man.Version {
		t.Fatalf("second publish: %+v %v", man2, err)
	}

	// A gate that connects now gets the latest from what is retained.
	gate, err := gateconfig.Open(filepath.Join(t.TempDir(), "hubconfig.json"), gateconfig.Options{})
	if err != nil {
		t.Fatal(err)
	}
	replayRaw(t, r, gate, man2.Version)
	if d, v := gate.Current(); v != man2.Version || d.Emergency {
		t.Fatalf("gate has %+v v%d", d, v)
	}

	// An invalid document is neither stored nor published.
	if _, err := m.PublishConfig(ctx, r, signKey, "s", gateconfig.Doc{Accept: []string{}}, opt); err == nil || !strings.Contains(err.Error(), "nothing was stored") {
		t.Fatalf("invalid doc: %v", err)
	}
	if sc, _, _ := m.Config("s"); sc.Version != man2.Version {
		t.Fatalf("invalid doc changed the stored version to %d", sc.Version)
	}

	// A publish that fails midway leaves the config stored, not published;
	// the next one goes out with a higher version.
	r.failIn = 1
	if _, err := m.PublishConfig(ctx, r, signKey, "s", doc, opt); err == nil || !strings.Contains(err.Error(), "config set --site s again") {
		t.Fatalf("failed publish: %v", err)
	}
	sc, _, _ = m.Config("s")
	if sc.Published || !sc.Doc.Emergency {
		t.Fatalf("after a failed publish: %+v", sc)
	}
	man3, err := m.PublishConfig(ctx, r, signKey, "s", sc.Doc, opt)
	if err != nil || man3.Version <= sc.Version {
		t.Fatalf("publish after failure: %+v %v", man3, err)
	}
	all, err := m.Configs()
	if err != nil || len(all) != 1 || !all[0].Published || all[0].Version != man3.Version {
		t.Fatalf("Configs() = %+v %v", all, err)
	}
}

// The config list is not a whitelist: the list commands refuse it, so that
// they cannot overwrite the retained config.
func TestListCommandsRefuseConfigList(t *testing.T) {
	m, err := OpenMaster(filepath.Join(t.TempDir(), "lists.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	r := &retainer{retained: map[string][]byte{}}
	_, errEnrol := m.Enrol("s", "config", nil, false)
	_, errPublish := m.Publish(context.Background(), r, signKey, "s", "config", PublishOptions{Prefix: "p"})
	_, errState := m.State("s", "config")
	for _, err := range []error{errEnrol, errPublish, errState} {
		if err == nil || !strings.Contains(err.Error(), "gatehub config set") {
			t.Fatalf("got %v", err)
		}
	}
	if len(r.retained) != 0 {
		t.Fatal("published to the config list")
	}
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// replayRaw delivers every retained message to a receiver for the config
// list, as a subscription would, and waits for version want.
func replayRaw(t *testing.T, r *retainer, st *gateconfig.Store, want uint64) {
	t.Helper()
	recv, err := lists.NewReceiver(lists.ReceiverConfig{Prefix: "p", Site: "s",
		Keys: []ed25519.PublicKey{signKey.Public().(ed25519.PublicKey)}, Raw: map[string]lists.RawApplier{gateconfig.List: st}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- recv.Run(ctx) }()
	for topic, p := range r.retained {
		recv.Handle(topic, p)
	}
	waitFor(t, fmt.Sprintf("gate config at v%d", want), func() bool { return st.Version() == want })
	cancel()
	<-done
}

// logBuffer collects log output written from several goroutines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) has(s string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Contains(l.b.String(), s)
}

// TestConfigEndToEnd runs the hub with its embedded broker and a gate's
// uplink, list receiver and config store: the hub's emergency declaration is
// applied on the gate and OnChange fires with it; a tampered, wrongly signed
// or older config is refused and the one in force stays; the store keeps it
// across a restart; the hub ends the emergency.
func TestConfigEndToEnd(t *testing.T) {
	cfg := testConfig(t)
	startHub(t, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	dir := t.TempDir()
	ob, err := outbox.Open(filepath.Join(dir, "outbox.db"), outbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close()
	changes := make(chan gateconfig.Doc, 10)
	storePath := filepath.Join(dir, "hubconfig.json")
	st, err := gateconfig.Open(storePath, gateconfig.Options{OnChange: func(d gateconfig.Doc) { changes <- d }})
	if err != nil {
		t.Fatal(err)
	}
	up, err := uplink.New(gateAccount(t, cfg, "shelter", "g1"), ob, nil)
	if err != nil {
		t.Fatal(err)
	}
	logs := &logBuffer{}
	filter := lists.Filter("mynagate/v1", "shelter")
	recv, err := lists.NewReceiver(lists.ReceiverConfig{Prefix: "mynagate/v1", Site: "shelter",
		Keys: []ed25519.PublicKey{signKey.Public().(ed25519.PublicKey)}, Raw: map[string]lists.RawApplier{gateconfig.List: st},
		RequestSnapshot: func() { up.Resubscribe(filter) }, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := up.Handle(filter, recv.Handle); err != nil {
		t.Fatal(err)
	}
	go up.Run(ctx)
	go recv.Run(ctx)

	m, err := OpenMaster(filepath.Join(cfg.DataDir, "lists.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	p, err := DialPublisher(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	opt := PublishOptions{Prefix: "mynagate/v1"}
	emergency := gateconfig.Doc{Emergency: true, EmergencyUntil: ptr(time.Now().Add(time.Hour).UTC().Truncate(time.Second)), AntiPassback: ptr(false), Fallback: []string{"cert"}, Note: "typhoon 12: shelters open"}
	man, err := m.PublishConfig(ctx, p, signKey, "shelter", emergency, opt)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case d := <-changes:
		if !reflect.DeepEqual(d, emergency) {
			t.Fatalf("OnChange got %+v, want %+v", d, emergency)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("timed out waiting for OnChange with the emergency")
	}
	if d, v := st.Current(); v != man.Version || !d.Emergency {
		t.Fatalf("gate has %+v v%d, want the emergency at v%d", d, v, man.Version)
	}

	// Refused versions, each put on the broker where the hub retains its
	// config; the gate logs the refusal and keeps the emergency.
	topic := lists.ManifestTopic("mynagate/v1", "shelter", gateconfig.List, lists.Snapshot, 0)
	chunk := lists.ChunkTopic("mynagate/v1", "shelter", gateconfig.List, lists.Snapshot, 0, 0)
	allClear := []byte(`{"emergency":false,"note":"all clear"}`)
	sign := func(key ed25519.PrivateKey, version uint64) *lists.Signed {
		s, err := lists.Build(key, lists.Manifest{Site: "shelter", List: gateconfig.List, Kind: lists.Snapshot, Version: version, Created: time.Now(), Expires: time.Now().Add(time.Hour)}, allClear, 0)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	// The tampered version is one the hub will not reach in this test: its
	// signed manifest is genuine, so the gate keeps waiting for a chunk that
	// matches it, while any higher version supersedes it.
	tampered := sign(signKey, man.Version+1000)
	tampered.Chunks[0] = bytes.Replace(tampered.Chunks[0], []byte("false"), []byte("fals "), 1)
	tests := []struct {
		name    string
		s       *lists.Signed
		wantLog string
	}{
		{"tampered", tampered, "does not match its signed hash"},
		{"wrongly signed", sign(otherSignKey, man.Version+2), "signature does not verify"},
		{"older", sign(signKey, man.Version-1), "not above the one in force"},
	}
	for _, tc := range tests {
		hubtest.Publish(t, hubAccount(t, cfg), chunk, tc.s.Chunks[0], true)
		hubtest.Publish(t, hubAccount(t, cfg), topic, tc.s.Envelope, true)
		waitFor(t, tc.name+" config refused", func() bool { return logs.has(tc.wantLog) })
		if d, v := st.Current(); v != man.Version || !d.Emergency {
			t.Fatalf("%s: gate has %+v v%d, want the emergency at v%d", tc.name, d, v, man.Version)
		}
	}
	if len(changes) != 0 {
		t.Fatalf("OnChange called for a refused config: %+v", <-changes)
	}

	// A restarted gate keeps the hub's declaration.
	reopened, err := gateconfig.Open(storePath, gateconfig.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if d, v := reopened.Current(); v != man.Version || !reflect.DeepEqual(d, emergency) {
		t.Fatalf("after reopen: %+v v%d", d, v)
	}

	// The hub ends the emergency.
	man2, err := m.PublishConfig(ctx, p, signKey, "shelter", gateconfig.Doc{Note: "all clear"}, opt)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case d := <-changes:
		if d.Emergency || d.Note != "all clear" {
			t.Fatalf("OnChange got %+v", d)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("timed out waiting for OnChange with the end of the emergency")
	}
	if v := recv.Versions()[gateconfig.List].Version; v != man2.Version {
		t.Fatalf("receiver reports config v%d, want v%d", v, man2.Version)
	}

	// The attack: the ended emergency, genuinely signed by the hub, replayed
	// on the broker to a fresh (or reset) gate. Provisioned with the current
	// version as its minimum, the gate refuses it.
	payload, err := emergency.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	old, err := lists.Build(signKey, lists.Manifest{Site: "shelter", List: gateconfig.List, Kind: lists.Snapshot, Version: man.Version,
		Created: man.Created, Expires: time.Now().Add(time.Hour)}, payload, 0)
	if err != nil {
		t.Fatal(err)
	}
	hubtest.Publish(t, hubAccount(t, cfg), chunk, old.Chunks[0], true)
	hubtest.Publish(t, hubAccount(t, cfg), topic, old.Envelope, true)
	fresh, err := gateconfig.Open(filepath.Join(dir, "fresh-hubconfig.json"), gateconfig.Options{})
	if err != nil {
		t.Fatal(err)
	}
	freshLogs := &logBuffer{}
	freshRecv, err := lists.NewReceiver(lists.ReceiverConfig{Prefix: "mynagate/v1", Site: "shelter",
		Keys: []ed25519.PublicKey{signKey.Public().(ed25519.PublicKey)}, Raw: map[string]lists.RawApplier{gateconfig.List: fresh},
		MinVersions: map[string]uint64{gateconfig.List: man2.Version}, Logger: slog.New(slog.NewTextHandler(freshLogs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	go freshRecv.Run(ctx)
	sub := hubtest.Subscribe(t, hubAccount(t, cfg), filter)
	msgs, ok := sub.Wait(2, 30*time.Second)
	if !ok {
		t.Fatalf("retained config: %d messages", len(msgs))
	}
	for _, msg := range msgs {
		freshRecv.Handle(msg.Topic, msg.Payload)
	}
	waitFor(t, "replayed emergency refused by the fresh gate", func() bool { return freshLogs.has("below the minimum this gate was provisioned with") })
	if d, v := fresh.Current(); v != 0 || d.Emergency {
		t.Fatalf("fresh gate applied the replayed emergency: %+v v%d", d, v)
	}
	if n := freshRecv.Refused()[lists.RefusedBelowMinimum]; n != 1 {
		t.Fatalf("refusals below the minimum: %d, want 1", n)
	}
}
