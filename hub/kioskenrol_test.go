package hub

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/mynagate/mynagate/event"
	"github.com/mynagate/mynagate/internal/mqtttest"
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
			ob, err := outbox.Open(filepath.Join(t.TempDir(), "outbox.db"), outbox.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer ob.Close()
			up, err := uplink.New(acct, ob, nil)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go up.Run(ctx)
			e := tap(1, "box-1", event.KindEnrol, time.Now())
			e.Card, e.Seat, e.Assurance = key(1).String(), "A-1", "pin"
			e.Grant = &event.Grant{Kind: "ticket", Group: "ORD-1"}
			if err := ob.Append(ctx, e); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the enrol event stored", func() bool { return gateStats(t, h, "box-1").Events == 1 })
			m, err := OpenMaster(filepath.Join(cfg.DataDir, "lists.db"), nil)
			if err != nil {
				t.Fatal(err)
			}
			st, err := m.State("stadium", "whitelist")
			m.Close()
			if !tc.kiosk {
				if !errors.Is(err, ErrNoList) {
					t.Fatalf("a venue gate's enrol event made a list: %+v %v", st, err)
				}
				if n := h.refused.snapshot()["enrol_not_kiosk"]; n != 1 {
					t.Errorf("refusals counted %d, want 1", n)
				}
				return
			}
			if err != nil || st.Entries != 1 {
				t.Fatalf("list after the enrolment: %+v %v", st, err)
			}
			waitFor(t, "the enrolment published", func() bool {
				m, err := OpenMaster(filepath.Join(cfg.DataDir, "lists.db"), nil)
				if err != nil {
					return false
				}
				defer m.Close()
				st, err := m.State("stadium", "whitelist")
				return err == nil && st.Version >= 1 && st.Pending == 0
			})
		})
	}
}
