package hub

import (
	"bytes"
	"crypto/subtle"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// access is the embedded broker's door and its rights, failing closed: every
// client logs in, as the hub or as a provisioned gate (the registry); a client
// id belongs to one account; and every publish, retained message, last will
// and subscription is checked against the account's rights:
//
//   - the hub (client ids mynagate-hub-*) reads everything under the prefix
//     and writes only the lists ({p}/{site}/lists/...) and receipts
//     ({p}/{site}/{gate}/stored);
//   - a gate (client id mynagate-{site}-{gate}) writes only
//     {p}/{site}/{gate}/events and .../status, and reads only its site's
//     lists, its site's events (peers) and its own receipts.
//
// mochi-mqtt v2.7.9 publishes a last will without any rights check, so a
// connection whose will is not the gate's own status topic is refused.
type access struct {
	mqtt.HookBase
	prefix  string
	hubUser string
	hubPass []byte
	gates   *gateWatch
	// refused counts what the rights turned away.
	refused *refusals
	log     *slog.Logger
}

// ID names the hook.
func (a *access) ID() string { return "mynagate-access" }

// Provides says which hook events the access hook handles.
func (a *access) Provides(b byte) bool {
	return b == mqtt.OnConnectAuthenticate || b == mqtt.OnACLCheck
}

// OnConnectAuthenticate checks the account, its password, its client id and
// its will.
func (a *access) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	user := string(pk.Connect.Username)
	id := cl.ID
	ok, why := a.admit(user, pk.Connect.Password, id, pk.Connect.WillFlag, pk.Connect.WillTopic)
	if !ok {
		a.refused.add("login")
		// The client id is a gate's or the hub's name, never personal data.
		a.log.Warn("hub: broker refused a connection", "client", id, "user", user, "remote", cl.Net.Remote, "why", why)
	}
	return ok
}

func (a *access) admit(user string, pass []byte, id string, will bool, willTopic string) (bool, string) {
	if user == "" {
		return false, "no username (anonymous clients are not let in)"
	}
	if user == a.hubUser {
		if len(a.hubPass) == 0 || subtle.ConstantTimeCompare(a.hubPass, pass) != 1 {
			return false, "wrong password"
		}
		if !strings.HasPrefix(id, HubClientPrefix) {
			return false, "the hub's account uses client ids " + HubClientPrefix + "* only"
		}
		if will {
			return false, "the hub's account has no last will"
		}
		return true, ""
	}
	acct, ok := a.gates.get().Lookup(user)
	if !ok || !acct.Active() {
		return false, "unknown or revoked account"
	}
	if !CheckPassword(acct.Hash, string(pass)) {
		return false, "wrong password"
	}
	if !slices.Contains(acct.ClientIDs(), id) {
		return false, "a gate's account uses client id " + acct.ClientID() + " only"
	}
	if will && willTopic != a.gateTopic(acct, "status") {
		return false, "a gate's last will goes to its own status topic only"
	}
	return true, ""
}

func (a *access) gateTopic(acct GateAccount, leaf string) string {
	return a.prefix + "/" + acct.Site + "/" + acct.Gate + "/" + leaf
}

// OnACLCheck says whether the client may write topic, or read what topic (a
// filter when subscribing, a topic name when delivering) matches.
func (a *access) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	user := string(cl.Properties.Username)
	if user == a.hubUser {
		return a.hubMay(topic, write)
	}
	acct, ok := a.gates.get().Lookup(user)
	if !ok || !acct.Active() {
		return false
	}
	ok = a.gateMay(acct, topic, write)
	if !ok && write {
		if strings.HasSuffix(topic, "/events") || strings.HasSuffix(topic, "/private") {
			a.refused.add("not_own_topic")
		}
		a.log.Warn("hub: broker refused a gate's publish", "client", cl.ID, "topic", topic)
	}
	return ok
}

func (a *access) hubMay(topic string, write bool) bool {
	rest, ok := strings.CutPrefix(topic, a.prefix+"/")
	if !ok {
		return false
	}
	if !write {
		return true
	}
	parts := strings.Split(rest, "/")
	if len(parts) >= 3 && parts[1] == "lists" {
		return true
	}
	return len(parts) == 3 && parts[2] == "stored"
}

func (a *access) gateMay(acct GateAccount, topic string, write bool) bool {
	if write {
		return topic == a.gateTopic(acct, "events") || topic == a.gateTopic(acct, "private") || topic == a.gateTopic(acct, "status")
	}
	if topic == a.gateTopic(acct, "stored") {
		return true
	}
	rest, ok := strings.CutPrefix(topic, a.prefix+"/"+acct.Site+"/")
	if !ok {
		return false
	}
	parts := strings.Split(rest, "/")
	if parts[0] == "lists" {
		return true // the lists, all of them (and a filter # under them)
	}
	// A peer's events: {p}/{site}/{gate or +}/events; '#' would reach the
	// other gates' receipts. No gate reads {gate}/private, staff's notes
	// for the hub alone.
	return len(parts) == 2 && parts[0] != "#" && parts[1] == "events"
}

// gateWatch holds the registry the broker and the hub check against, read
// again whenever its file changes.
type gateWatch struct {
	dataDir string
	log     *slog.Logger
	cur     atomic.Pointer[Gates]
	raw     []byte
	// onRevoke is told of every gate that was active and no longer is.
	onRevoke func(GateAccount)
}

func newGateWatch(dataDir string, log *slog.Logger) (*gateWatch, error) {
	w := &gateWatch{dataDir: dataDir, log: log}
	g, err := LoadGates(dataDir)
	if err != nil {
		return nil, err
	}
	w.cur.Store(g)
	w.raw, _ = os.ReadFile(filepath.Join(dataDir, gatesFile))
	return w, nil
}

func (w *gateWatch) get() *Gates { return w.cur.Load() }

// gatesPoll is how often the hub looks at the registry file: the delay
// between gatehub gate add/revoke and the broker acting on it.
const gatesPoll = 500 * time.Millisecond

// run polls the registry until stop is closed.
func (w *gateWatch) run(stop <-chan struct{}) {
	t := time.NewTicker(gatesPoll)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			w.reload()
		}
	}
}

func (w *gateWatch) reload() {
	raw, err := os.ReadFile(filepath.Join(w.dataDir, gatesFile))
	if err != nil && !os.IsNotExist(err) {
		w.log.Error("hub: read gate registry; keeping the last one", "err", err)
		return
	}
	if bytes.Equal(raw, w.raw) {
		return
	}
	g, err := LoadGates(w.dataDir)
	if err != nil {
		w.log.Error("hub: gate registry unreadable; keeping the last one", "err", err)
		return
	}
	old := w.cur.Swap(g)
	w.raw = raw
	w.log.Info("hub: gate registry changed", "gates", len(g.List))
	if w.onRevoke == nil {
		return
	}
	for _, a := range old.List {
		if !a.Active() {
			continue
		}
		if now, ok := g.Lookup(a.Username()); !ok || !now.Active() || now.Hash != a.Hash {
			w.onRevoke(a)
		}
	}
}

// refusals counts refused logins and events by reason.
type refusals struct {
	mu sync.Mutex
	n  map[string]uint64
}

func (r *refusals) add(reason string) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.n == nil {
		r.n = map[string]uint64{}
	}
	r.n[reason]++
}

// snapshot returns a copy of the counts.
func (r *refusals) snapshot() map[string]uint64 {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]uint64, len(r.n))
	for k, v := range r.n {
		out[k] = v
	}
	return out
}
