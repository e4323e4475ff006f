package hub

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The gate registry is the list of provisioned gates: gates.json in the data
// directory, owner-only. gatehub gate add and revoke change it under a lock
// file and replace it atomically; the running hub polls it (watchGates), so a
// new gate is let in and a revoked one shut out without a restart, and
// without a second process having to open a bbolt file the hub holds.
const (
	gatesFile = "gates.json"
	gatesLock = "gates.lock"
)

// HubClientPrefix starts every client id of the hub's own account; no gate may
// take one.
const HubClientPrefix = "mynagate-hub-"

// ErrGateExists is returned by AddGate for a gate that is provisioned and not
// revoked.
var ErrGateExists = errors.New("gate is already provisioned")

// ErrNoGate is returned by RevokeGate for a gate the registry does not hold.
var ErrNoGate = errors.New("no such gate")

// GateAccount is one provisioned gate: its broker account and whether it is
// still allowed in.
type GateAccount struct {
	Site string `json:"site"`
	Gate string `json:"gate"`
	// Hash is the password's PBKDF2-SHA512 hash in Mosquitto's "$7$" form, so
	// the same line serves an external Mosquitto's password file.
	Hash    string    `json:"hash"`
	Added   time.Time `json:"added"`
	Revoked time.Time `json:"revoked,omitzero"`
	// Enrols lets the gate enrol cards: a kiosk or box office whose enrol
	// events the hub turns into list entries. Any other gate's enrol events
	// are stored, never enrolled.
	Enrols bool `json:"enrols,omitempty"`
}

// Username is the gate's broker account name, "{site}/{gate}": neither part
// may hold a '/', so no two gates share one, and no gate account is the hub's.
func (g GateAccount) Username() string { return GateUsername(g.Site, g.Gate) }

// ClientID is the MQTT client id the gate's account connects with.
func (g GateAccount) ClientID() string { return GateClientID(g.Site, g.Gate) }

// doctorSuffix ends the client id of gateagent doctor's login check, which
// must not take the running daemon's session.
const doctorSuffix = "-doctor"

// ClientIDs are the only client ids the gate's account may use: its own and
// its doctor's. No other account may use either (AddGate sees to it).
func (g GateAccount) ClientIDs() []string { return []string{g.ClientID(), g.ClientID() + doctorSuffix} }

// Active reports whether the gate is allowed in.
func (g GateAccount) Active() bool { return g.Revoked.IsZero() }

// GateUsername is the broker account name of a gate.
func GateUsername(site, gate string) string { return site + "/" + gate }

// GateClientID is the client id a gate connects with (the uplink's default).
func GateClientID(site, gate string) string { return "mynagate-" + site + "-" + gate }

// Gates is a snapshot of the registry.
type Gates struct {
	List []GateAccount `json:"gates"`
}

// Lookup returns the account named username.
func (g *Gates) Lookup(username string) (GateAccount, bool) {
	if g == nil {
		return GateAccount{}, false
	}
	for _, a := range g.List {
		if a.Username() == username {
			return a, true
		}
	}
	return GateAccount{}, false
}

// Enrols reports whether site/gate is a provisioned, unrevoked gate that may
// enrol cards.
func (g *Gates) Enrols(site, gate string) bool {
	a, ok := g.Lookup(GateUsername(site, gate))
	return ok && a.Active() && a.Enrols
}

// Known reports whether site/gate is a provisioned, unrevoked gate.
func (g *Gates) Known(site, gate string) bool {
	a, ok := g.Lookup(GateUsername(site, gate))
	return ok && a.Active()
}

// Sites returns the sites of the active gates, each once, in order.
func (g *Gates) Sites() []string {
	if g == nil {
		return nil
	}
	var out []string
	for _, a := range g.List {
		if a.Active() && !slices.Contains(out, a.Site) {
			out = append(out, a.Site)
		}
	}
	slices.Sort(out)
	return out
}

// LoadGates reads the registry of dataDir; a missing file is an empty
// registry (no gate is let in).
func LoadGates(dataDir string) (*Gates, error) {
	b, err := os.ReadFile(filepath.Join(dataDir, gatesFile))
	if errors.Is(err, os.ErrNotExist) {
		return &Gates{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("hub: read gate registry: %w", err)
	}
	var g Gates
	if err := json.Unmarshal(b, &g); err != nil {
		return nil, fmt.Errorf("hub: gate registry %s: %w; restore it from a backup or re-provision the gates", filepath.Join(dataDir, gatesFile), err)
	}
	return &g, nil
}

// AddGate provisions site/gate: a new random password, whose hash goes into
// the registry; the password itself is returned once and stored nowhere. A
// revoked gate is provisioned anew (a replacement box); a live one is
// ErrGateExists (revoke it first). With enrols, the gate may enrol cards (a
// kiosk or box office).
func AddGate(dataDir, site, gate string, enrols bool, now time.Time) (GateAccount, string, error) {
	if err := checkGateName(site, gate); err != nil {
		return GateAccount{}, "", err
	}
	var acct GateAccount
	var pw string
	err := updateGates(dataDir, func(g *Gates) error {
		ids := GateAccount{Site: site, Gate: gate}.ClientIDs()
		for _, a := range g.List {
			if a.Site == site && a.Gate == gate {
				if a.Active() {
					return fmt.Errorf("hub: gate %s/%s: %w; gatehub gate revoke it first to issue new credentials", site, gate, ErrGateExists)
				}
				continue
			}
			for _, id := range a.ClientIDs() {
				if slices.Contains(ids, id) {
					return fmt.Errorf("hub: gate %s/%s would share client id %q with gate %s/%s; choose another name", site, gate, id, a.Site, a.Gate)
				}
			}
		}
		var err error
		if pw, err = newPassword(); err != nil {
			return err
		}
		h, err := HashPassword(pw)
		if err != nil {
			return err
		}
		acct = GateAccount{Site: site, Gate: gate, Hash: h, Added: now.UTC(), Enrols: enrols}
		g.List = slices.DeleteFunc(g.List, func(a GateAccount) bool { return a.Site == site && a.Gate == gate })
		g.List = append(g.List, acct)
		return nil
	})
	return acct, pw, err
}

// RevokeGate shuts site/gate out: the running hub drops its session and
// refuses its logins and events from its next poll of the registry on.
func RevokeGate(dataDir, site, gate string, now time.Time) (GateAccount, error) {
	var acct GateAccount
	err := updateGates(dataDir, func(g *Gates) error {
		for i, a := range g.List {
			if a.Site == site && a.Gate == gate {
				if a.Active() {
					g.List[i].Revoked = now.UTC()
				}
				acct = g.List[i]
				return nil
			}
		}
		return fmt.Errorf("hub: gate %s/%s: %w; gatehub gate list shows the gates", site, gate, ErrNoGate)
	})
	return acct, err
}

// checkGateName refuses names that would be ambiguous in topics, usernames,
// Mosquitto's files or client ids.
func checkGateName(site, gate string) error {
	for _, n := range []struct{ what, v string }{{"site", site}, {"gate", gate}} {
		if n.v == "" || strings.ContainsAny(n.v, "/+#:\x00\r\n \t") {
			return fmt.Errorf("hub: %s %q: must be non-empty, without '/', '+', '#', ':' or spaces", n.what, n.v)
		}
	}
	if strings.HasPrefix(GateClientID(site, gate), HubClientPrefix) {
		return fmt.Errorf("hub: site %q: client ids starting %q are the hub's; choose another site name", site, HubClientPrefix)
	}
	if site == "lists" || gate == "lists" {
		return errors.New(`hub: "lists" is a reserved topic level; choose another name`)
	}
	return nil
}

// updateGates changes the registry under its lock and replaces the file
// atomically (write, fsync, rename).
func updateGates(dataDir string, change func(*Gates) error) error {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return fmt.Errorf("hub: data dir: %w", err)
	}
	lf, err := os.OpenFile(filepath.Join(dataDir, gatesLock), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("hub: gate registry lock: %w", err)
	}
	defer lf.Close()
	if err := syscall.Flock(int(lf.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("hub: gate registry lock: %w", err)
	}
	g, err := LoadGates(dataDir)
	if err != nil {
		return err
	}
	if err := change(g); err != nil {
		return err
	}
	b, err := json.MarshalIndent(g, "", "  ")
	if err != nil {
		return fmt.Errorf("hub: encode gate registry: %w", err)
	}
	return writeFileAtomic(filepath.Join(dataDir, gatesFile), append(b, '\n'), 0o600)
}

// writeFileAtomic replaces path with b: a reader sees the old or the new
// content, never a part.
func writeFileAtomic(path string, b []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("hub: write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return fmt.Errorf("hub: write %s: %w", path, err)
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("hub: write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("hub: write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("hub: write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("hub: write %s: %w", path, err)
	}
	return nil
}

// newPassword returns 24 random bytes, base64url: 192 bits, beyond guessing,
// which is also why the hash's iteration count need not be high.
func newPassword() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("hub: generate password: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// Mosquitto's "$7$" password hash: PBKDF2-SHA512, a 12-byte salt, 64-byte key,
// standard base64. mosquitto_passwd uses 101 iterations; more cost nothing
// here and nothing to a random password's strength.
const (
	hashIterations = 1000
	hashSaltLen    = 12
	hashKeyLen     = 64
)

// HashPassword hashes pw in Mosquitto's "$7$" format.
func HashPassword(pw string) (string, error) {
	salt := make([]byte, hashSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("hub: generate salt: %w", err)
	}
	return hashWith(pw, salt, hashIterations)
}

func hashWith(pw string, salt []byte, iter int) (string, error) {
	k, err := pbkdf2.Key(sha512.New, pw, salt, iter, hashKeyLen)
	if err != nil {
		return "", fmt.Errorf("hub: hash password: %w", err)
	}
	return "$7$" + strconv.Itoa(iter) + "$" + base64.StdEncoding.EncodeToString(salt) + "$" + base64.StdEncoding.EncodeToString(k), nil
}

// CheckPassword reports whether pw matches a "$7$" hash; a malformed hash
// matches nothing.
func CheckPassword(hash, pw string) bool {
	parts := strings.Split(hash, "$")
	if len(parts) != 5 || parts[0] != "" || parts[1] != "7" {
		return false
	}
	iter, err := strconv.Atoi(parts[2])
	if err != nil || iter < 1 || iter > 1_000_000 {
		return false
	}
	salt, err := base64.StdEncoding.DecodeString(parts[3])
	if err != nil {
		return false
	}
	want, err := base64.StdEncoding.DecodeString(parts[4])
	if err != nil || len(want) != hashKeyLen {
		return false
	}
	k, err := pbkdf2.Key(sha512.New, pw, salt, iter, hashKeyLen)
	return err == nil && subtle.ConstantTimeCompare(k, want) == 1
}
