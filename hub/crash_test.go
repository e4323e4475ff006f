package hub

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/mynagate/mynagate/event"
	"github.com/mynagate/mynagate/internal/pgtest"
	"github.com/mynagate/mynagate/sync/outbox"
	"github.com/mynagate/mynagate/sync/uplink"
)

// The hub child is this test binary re-executed with a config file: it runs the
// hub until killed.
const envHubChild = "MYNAGATE_HUB_CRASH_CONFIG"

func TestMain(m *testing.M) {
	if path := os.Getenv(envGateChild); path != "" {
		gateChild(path)
		return
	}
	if path := os.Getenv(envHubChild); path != "" {
		cfg, err := LoadConfig(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
		h, err := New(cfg, nil)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
		defer stop()
		if err := h.Run(ctx); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
		return
	}
	code := m.Run()
	pgtest.StopAll()
	os.Exit(code)
}

func startHubChild(t *testing.T, cfgPath string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envHubChild+"="+cfgPath)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd
}

// TestHubKill9MidIngest kills the hub (embedded broker and store) with SIGKILL
// while a gate drains its backlog, twice, and restarts it: in the end the hub
// holds every event exactly once and the gate's outbox is empty. An event the
// gate deleted was acknowledged, and an acknowledged event was on the hub's
// disk.
func TestHubKill9MidIngest(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns child processes")
	}
	cfg := testConfig(t)
	cfgPath := filepath.Join(t.TempDir(), "gatehub.json")
	b, _ := json.Marshal(cfg)
	if err := os.WriteFile(cfgPath, b, 0o600); err != nil {
		t.Fatal(err)
	}
	const n = 6000
	ob, err := outbox.Open(filepath.Join(t.TempDir(), "outbox.db"), outbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close()
	for i := 0; i < n; i++ {
		if err := ob.Append(context.Background(), tap(i, "g1", event.KindEntry, time.Now())); err != nil {
			t.Fatal(err)
		}
	}
	up, err := uplink.New(withReconnect(gateAccount(t, cfg, "stadium", "g1"), time.Second), ob, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	upDone := make(chan error, 1)
	go func() { upDone <- up.Run(ctx) }()
	defer func() { cancel(); <-upDone }()

	for round := range 2 {
		child := startHubChild(t, cfgPath)
		// Kill once the gate has delivered part of what is left.
		start, _ := ob.Backlog()
		waitFor(t, "the drain to start", func() bool { k, _ := ob.Backlog(); return k < start-n/5 || k == 0 })
		child.Process.Signal(syscall.SIGKILL)
		child.Wait()
		left, _ := ob.Backlog()
		t.Logf("round %d: hub killed with %d events left on the gate", round, left)
	}
	// The last hub runs to the end; the gate drains into it.
	child := startHubChild(t, cfgPath)
	waitFor(t, "the gate's outbox to drain", func() bool { k, _ := ob.Backlog(); return k == 0 })
	child.Process.Signal(syscall.SIGTERM)
	if err := child.Wait(); err != nil {
		t.Fatalf("hub exit: %v", err)
	}
	for _, f := range []string{"hub.db", "broker.db"} {
		db, err := bolt.Open(filepath.Join(cfg.DataDir, f), 0o600, &bolt.Options{Timeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		err = db.View(func(tx *bolt.Tx) error {
			for err := range tx.Check() {
				return err
			}
			return nil
		})
		db.Close()
		if err != nil {
			t.Fatalf("%s after kills: %v", f, err)
		}
	}
	st, err := OpenStore(filepath.Join(cfg.DataDir, "hub.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("ev-g1-%05d", i)
		if _, ok, err := st.Event(id); err != nil || !ok {
			t.Fatalf("event %s left the gate but is not at the hub (%v)", id, err)
		}
	}
	v, err := st.View()
	if err != nil {
		t.Fatal(err)
	}
	if g := v.Gates[0]; g.Events != n {
		t.Fatalf("hub counts %d distinct events, want %d (duplicates dropped: %d)", g.Events, n, g.Duplicates)
	}
}
