package hub

import (
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mynagate/mynagate/sync/uplink"
)

// gateAccount provisions site/gate in cfg's gate registry, as gatehub gate
// add does, and returns the uplink config it connects with. A running hub
// lets it in within its registry poll.
func gateAccount(t testing.TB, cfg *Config, site, gate string) uplink.Config {
	t.Helper()
	return account(t, cfg, site, gate, false)
}

// account is gateAccount for a gate that may enrol cards (a kiosk) or not.
func account(t testing.TB, cfg *Config, site, gate string, enrols bool) uplink.Config {
	t.Helper()
	_, pw, err := AddGate(cfg.DataDir, site, gate, enrols, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return withBroker(t, cfg, uplink.Config{Site: site, Gate: gate, Prefix: cfg.Prefix, Username: GateUsername(site, gate), Password: pw,
		ClientID: GateClientID(site, gate)})
}

func withReconnect(c uplink.Config, d time.Duration) uplink.Config {
	c.MaxReconnectInterval = d
	return c
}

func withStatusInterval(c uplink.Config, d time.Duration) uplink.Config {
	c.StatusInterval = d
	return c
}

var hubClients atomic.Int64

// hubAccount returns the hub's own account, with a client id of its own each
// call.
func hubAccount(t testing.TB, cfg *Config) uplink.Config {
	t.Helper()
	b, err := os.ReadFile(cfg.PasswordFile)
	if err != nil {
		t.Fatal(err)
	}
	return withBroker(t, cfg, uplink.Config{Prefix: cfg.Prefix, Username: cfg.Username, Password: strings.TrimSpace(string(b)),
		ClientID: fmt.Sprintf("%stest-%d", HubClientPrefix, hubClients.Add(1))})
}

func withBroker(t testing.TB, cfg *Config, c uplink.Config) uplink.Config {
	t.Helper()
	c.Broker, c.CAFile = cfg.BrokerURL(), cfg.CAFile
	if cfg.Broker == "" && strings.HasPrefix(c.Broker, "ssl://") {
		// The CA is made at the broker's first start; make it now if the
		// test provisions before starting the hub.
		if _, err := EnsureCA(cfg.DataDir); err != nil {
			t.Fatal(err)
		}
		c.CAFile = CAFile(cfg.DataDir)
	}
	return c
}
