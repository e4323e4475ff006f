package hub

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mynagate/mynagate/event"
	"github.com/mynagate/mynagate/internal/mqtttest"
	"github.com/mynagate/mynagate/internal/pgtest"
	"github.com/mynagate/mynagate/offline/cardkey"
	"github.com/mynagate/mynagate/sync/outbox"
	"github.com/mynagate/mynagate/sync/uplink"
)

// TestKioskEnrolment: an admitted enrol event from a gate provisioned as a
// kiosk becomes an entry of the site's whitelist, published as a new version,
// through the embedded broker and through Mosquitto; the same event from a
// venue gate is stored but enrols nothing.
func TestKioskEnrolment(t *testing.T) {
	for _, tc := range []struct {
		name     string
		external bool
		kiosk    bool
	}{
		{"kiosk, embedded broker", false, true},
		{"kiosk, Mosquitto", true, true},
		{"venue gate, embedded broker", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t)
			if tc.external {
				cfg.Listen, cfg.Broker = "", mqtttest.StartDefault(t).Addr()
			}
			acct := account(t, cfg, "stadium", "box-1", tc.kiosk)
			h := startHub(t, cfg)
			sendEnrolment(t, acct, key(1), "A-1")
			waitFor(t, "the enrol event stored", func() bool { return gateStats(t, h, "box-1").Events == 1 })
			if !tc.kiosk {
				waitFor(t, "the enrolment refused", func() bool { return h.refused.snapshot()["enrol_not_kiosk"] == 1 })
				if st, err := listState(cfg.DataDir); !errors.Is(err, ErrNoList) {
					t.Fatalf("a venue gate's enrol event made a list: %+v %v", st, err)
				}
				return
			}
			waitFor(t, "the enrolment published", func() bool {
				st, err := listState(cfg.DataDir)
				return err == nil && st.Entries == 1 && st.Version >= 1 && st.Pending == 0
			})
		})
	}
}

// listState reads the stadium's whitelist state in dataDir's lists.db.
func listState(dataDir string) (ListState, error) {
	m, err := OpenMaster(filepath.Join(dataDir, "lists.db"), nil)
	if err != nil {
		return ListState{}, err
	}
	defer m.Close()
	return m.State("stadium", "whitelist")
}

// TestKioskEnrolmentOtherInstance: on a shared PostgreSQL store, an enrol
// event stored by an instance without lists.db waits in the store until the
// list box starts, which enrols it and publishes the list.
func TestKioskEnrolmentOtherInstance(t *testing.T) {
	url := pgtest.URL(t)
	broker := mqtttest.StartDefault(t).Addr()
	cfgs := map[string]*Config{}
	for _, name := range []string{"list-box", "other"} {
		cfg := testConfig(t)
		cfg.Listen, cfg.Broker = "", broker
		cfg.DatabaseURL, cfg.SharedGroup, cfg.Instance = url, "hubs", name
		cfgs[name] = cfg
	}
	acct := account(t, cfgs["list-box"], "stadium", "box-1", true)
	reg, err := os.ReadFile(filepath.Join(cfgs["list-box"].DataDir, gatesFile))
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(cfgs["other"].DataDir, 0o700)
	if err := os.WriteFile(filepath.Join(cfgs["other"].DataDir, gatesFile), reg, 0o600); err != nil {
		t.Fatal(err)
	}
	m, err := OpenMaster(filepath.Join(cfgs["list-box"].DataDir, "lists.db"), nil) // lists.db marks the list box
	if err != nil {
		t.Fatal(err)
	}
	m.Close()
	other := startHub(t, cfgs["other"])
	sendEnrolment(t, acct, key(2), "B-7")
	waitFor(t, "the enrol event stored by the other instance", func() bool { return gateStats(t, other, "box-1").Events == 1 })
	if _, err := os.Stat(filepath.Join(cfgs["other"].DataDir, "lists.db")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the instance without lists.db made one: %v", err)
	}
	startHub(t, cfgs["list-box"])
	waitFor(t, "the list box enrolled and published it", func() bool {
		st, err := listState(cfgs["list-box"].DataDir)
		return err == nil && st.Entries == 1 && st.Version >= 1 && st.Pending == 0
	})
}

// sendEnrolment runs the kiosk box-1's outbox and uplink until the test ends
// and records one admitted enrol event binding card k to seat.
func sendEnrolment(t *testing.T, acct uplink.Config, k cardkey.Key, seat string) {
	t.Helper()
	ob, err := outbox.Open(filepath.Join(t.TempDir(), "outbox.db"), outbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// Through Mosquitto, what the kiosk publishes before the hub's
	// SUBSCRIBE is dropped and sent again after ConfirmTimeout: short, well
	// within waitFor's wait.
	acct.ConfirmTimeout = 2 * time.Second
	up, err := uplink.New(acct, ob, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { up.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done; ob.Close() })
	e := tap(1, "box-1", event.KindEnrol, time.Now())
	e.Card, e.Seat, e.Assurance, e.Grant = k.String(), seat, "pin", &event.Grant{Kind: "ticket", Group: "ORD-1"}
	if err := ob.Append(ctx, e); err != nil {
		t.Fatal(err)
	}
}
