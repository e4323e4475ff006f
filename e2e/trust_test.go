package e2e

import (
	"bufio"
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/mynagate/mynagate/internal/mqtttest"
	"github.com/mynagate/mynagate/internal/pcsctest"
	"github.com/mynagate/mynagate/internal/taptest"
	"github.com/mynagate/mynagate/sync/gateconfig"
	"github.com/mynagate/mynagate/sync/lists"
	"github.com/mynagate/mynagate/vcard"
)

// TestStaleListsRefusedScene tries, against gatehub run (embedded broker, TLS,
// logins) and a gateagent provisioned with gatehub gate add and gateagent
// enrol, deciding taps through pcscd+vpcd, the ways of getting a gate to act
// on a list the hub no longer vouches for:
//
//   - Replay to a fresh gate. The attacker recorded the site's retained
//     whitelist snapshot v1 (T-0002 not yet revoked) and the config v1 (an
//     emergency, so the cert fallback). Recording needs only a gate's account
//     of the site, which reads the lists. The hub then revokes T-0002 and ends
//     the emergency (v2 of both), and a new gate is provisioned. Gates check
//     the broker's certificate against the hub's CA, so the attacker cannot
//     stand up a broker of their own; and only the hub's account may write
//     lists. So the realistic replay is through the hub's broker, by someone
//     who holds the hub's broker login (a leaked password file, or a second
//     gatehub run restored from an old backup republishing its retained
//     lists). The test plays that part with the hub's login and a client id
//     of its own. It puts the recorded v1 messages back as the retained ones,
//     so the broker hands them to the fresh gate first. The gate's bundle
//     carries the minimum versions (v2's), so it refuses both: it has no
//     list in force (T-0002 and a copy of T-0001's certificate are
//     not_listed) and no emergency. It applies the hub's next publish, under
//     which the copy is refused at the `cert` level (assurance_not_accepted):
//     the ended emergency did not come back.
//   - An expired list. list_validity is at least an hour and the gate reads
//     the system clock, so the test does not wait for a real expiry. It signs
//     with the hub's demo key what the hub would have published a week ago: a
//     version above the one in force (carrying v1's content, T-0002 not
//     revoked), expired a day ago. The broker still held it after the hub
//     stopped renewing. The gate refuses it as expired, and T-0002 stays
//     revoked.
//   - A lapsed emergency. The hub declares one --for 2m. During it, T-0002
//     is still refused as revoked at the `cert` fallback (the list in force
//     is the hub's, not the replay's nor the expired one's), and a copied
//     certificate is admitted. Once it lapses with no renewal, the copy is
//     refused as assurance_not_accepted, and the gate reports the lapse.
//   - The list in force expires: the hub stops renewing it. The test re-signs
//     its retained manifest as of a week ago and restarts the gate. The gate
//     keeps deciding on it and reports it EXPIRED.
//
// Each refusal is read from the status the gate publishes (its health's
// lists_refused counts), so the test knows the old versions reached the gate
// and were refused, not merely that they were not applied.
func TestStaleListsRefusedScene(t *testing.T) {
	slot := pcsctest.Acquire(t, 0)
	bin := t.TempDir()
	gatehub, gateagent := build(t, bin, "cmd/gatehub"), build(t, bin, "cmd/gateagent")
	dir := t.TempDir()
	pkiDir := taptest.PKI(t)
	hub := startEnrolledHub(t, gatehub, dir, pkiDir, "arena", 0x5c)
	hubRun := func(command string, args ...string) string {
		t.Helper()
		return hub.siteRun(t, gatehub, "arena", command, args...)
	}
	const prefix = "mynagate/v1"
	key, err := lists.LoadPrivateKey(filepath.Join(dir, "hub-signing.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pub := key.Public().(ed25519.PublicKey)

	// v1 of both: T-0002 listed, an emergency with the cert fallback.
	hubRun("config set", "--accept=pinless", "--fallback=cert", "--emergency=true", "--for", "6h")
	rec := record(t, hubClient(t, hub, dir, "recorder"), lists.Filter(prefix, "arena"))
	v1 := rec.wait(t, pub, map[string]func(uint64) bool{"whitelist": is(1), gateconfig.List: above(0)})
	cfg1 := v1[gateconfig.List].manifest.Version

	// v2 of both: T-0002 revoked (as a snapshot, which is what a new gate's
	// minimum is taken from), the emergency ended.
	hubRun("revoke", "--service-id", "T-0002")
	hubRun("publish", "--snapshot")
	hubRun("config set", "--emergency=false")
	cfg2 := rec.wait(t, pub, map[string]func(uint64) bool{"whitelist": is(2), gateconfig.List: above(cfg1)})[gateconfig.List].manifest.Version

	bundle := filepath.Join(dir, "north-1.bundle.json")
	hubRun("gate add", "--gate", "north-1", "--out", bundle)
	metricsPort := mqtttest.FreePort(t)
	metricsURL := fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort)
	gateCfg := etcFile(t, dir, "north-1")
	writeJSON(t, gateCfg, map[string]any{
		"site": "arena", "gate": "north-1", "mode": "venue", "data_dir": filepath.Join(dir, "gate"),
		"lanes":          []map[string]string{{"name": "in-1", "reader": slot.Reader, "kind": "entry", "zone": "north"}},
		"roots":          []string{filepath.Join(pkiDir, "root.pem")},
		"card_key":       map[string]string{"secret_file": hub.secret},
		"policy":         map[string]any{"anti_passback": false},
		"metrics_listen": fmt.Sprintf("127.0.0.1:%d", metricsPort),
	})
	run(t, gateagent, "enrol", "--config", gateCfg, bundle)
	var enrolled struct {
		MinListVersions map[string]uint64 `json:"min_list_versions"`
	}
	b, _ := os.ReadFile(gateCfg)
	if json.Unmarshal(b, &enrolled); enrolled.MinListVersions["whitelist"] != 2 || enrolled.MinListVersions[gateconfig.List] != cfg2 {
		t.Fatalf("enrolled minimum versions %v, want whitelist 2 and config %d", enrolled.MinListVersions, cfg2)
	}

	// The replay: v1's messages become the retained ones again, chunks
	// before manifests as the hub publishes them.
	attacker := hubClient(t, hub, dir, "replay")
	for _, list := range []string{"whitelist", gateconfig.List} {
		publishVersion(t, attacker, v1[list])
	}
	status := watchStatus(t, hubClient(t, hub, dir, "observer"), prefix+"/arena/north-1/status")
	gate := start(t, gateagent, "run", "--config", gateCfg)
	status.waitHealth(t, "the replayed v1 of both lists refused as below the minimum", "lists_refused",
		"since start: 0 expired, 2 below the minimum version, 0 without expiry")
	if v, c := metric(metricsURL, "mynagate_list_version", `list="whitelist"`), metric(metricsURL, "mynagate_list_version", `list="config"`); v != 0 || c != 0 {
		t.Fatalf("after the replay the gate has whitelist v%v and config v%v in force, want neither", v, c)
	}
	if e := metric(metricsURL, "mynagate_emergency", ""); e != 0 {
		t.Fatalf("the ended emergency came back with the replayed config (mynagate_emergency %v)", e)
	}
	copied := copiedCard(t, "card-001.json")
	tapReason(t, slot, metricsURL, "replayed, refused", taptest.Profile(t, "card-002.json"), "not_listed")
	tapReason(t, slot, metricsURL, "replayed, refused", copied, "not_listed")

	// The hub publishes again: the gate takes the hub's lists, not the replay.
	hubRun("publish", "--snapshot")
	hubRun("config set", "--emergency=false")
	waitFor(t, "the hub's next version of both in force", 60*time.Second, func() bool {
		return metric(metricsURL, "mynagate_list_version", `list="whitelist"`) == 3 && metric(metricsURL, "mynagate_list_version", `list="config"`) > float64(cfg2)
	})
	tapReason(t, slot, metricsURL, "hub's v3", copied, "assurance_not_accepted")
	v3 := rec.wait(t, pub, map[string]func(uint64) bool{"whitelist": is(3)})["whitelist"]

	// The expired version: v4, v1's content, signed a week ago for three days.
	old := v1["whitelist"]
	m := *old.manifest
	m.Version, m.Created, m.Expires = 4, time.Now().Add(-7*24*time.Hour), time.Now().Add(-4*24*time.Hour)
	signed, err := lists.Build(key, m, old.payload(t), old.manifest.ChunkSize)
	if err != nil {
		t.Fatal(err)
	}
	publishVersion(t, attacker, versionOf(prefix, signed))
	status.waitHealth(t, "the expired v4 refused", "lists_refused",
		"since start: 1 expired, 2 below the minimum version, 0 without expiry")
	if v := metric(metricsURL, "mynagate_list_version", `list="whitelist"`); v != 3 {
		t.Fatalf("whitelist v%v in force after the expired v4, want 3", v)
	}

	// The lapsed emergency. While it lasts, the cert level shows the list in
	// force is the hub's: T-0002 stays revoked (v1 and the expired v4 would
	// admit it), the copy of T-0001's certificate gets in.
	hubRun("config set", "--emergency=true", "--for", "2m")
	waitFor(t, "the emergency in force", 60*time.Second, func() bool { return metric(metricsURL, "mynagate_emergency", "") == 1 })
	tapReason(t, slot, metricsURL, "emergency", taptest.Profile(t, "card-002.json"), "revoked")
	tapReason(t, slot, metricsURL, "emergency", copied, "admit")
	waitFor(t, "the emergency lapsed", 4*time.Minute, func() bool { return metric(metricsURL, "mynagate_emergency", "") == 0 })
	tapReason(t, slot, metricsURL, "emergency lapsed", copied, "assurance_not_accepted")
	status.waitHealthPrefix(t, "the lapse reported", "hub_emergency", "lapsed at ")

	// The list in force expires: the hub stopped renewing v3 (its retained
	// manifest, re-signed as of a week ago, expired yesterday) and the gate
	// restarts. It keeps deciding on v3 and reports it expired.
	m3 := *v3.manifest
	m3.Created, m3.Expires = time.Now().Add(-7*24*time.Hour), time.Now().Add(-24*time.Hour)
	env, err := lists.Sign(key, &m3)
	if err != nil {
		t.Fatal(err)
	}
	publishVersion(t, attacker, recorded{topic: v3.topic, envelope: env})
	gate.cmd.Process.Signal(syscall.SIGTERM)
	gate.cmd.Wait()
	start(t, gateagent, "run", "--config", gateCfg)
	status.waitHealthPrefix(t, "the expired list in force reported", "list_whitelist", "v3: EXPIRED at ")
	if v := metric(metricsURL, "mynagate_list_version", `list="whitelist"`); v != 3 {
		t.Fatalf("whitelist v%v in force after its expiry, want 3 still", v)
	}
}

// hubClient connects to the hub's broker over TLS with the hub's login and
// the client id mynagate-hub-{name}, which the hub's account may use.
func hubClient(t *testing.T, hub enrolledHub, dir, name string) paho.Client {
	t.Helper()
	ca, err := os.ReadFile(filepath.Join(dir, "hub", "tls", "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	o := paho.NewClientOptions().AddBroker(fmt.Sprintf("ssl://127.0.0.1:%d", hub.brokerPort)).
		SetClientID("mynagate-hub-" + name).SetUsername("hub").SetPassword("e2e-hub-password").
		SetTLSConfig(&tls.Config{RootCAs: pool}).SetCleanSession(true).SetAutoReconnect(false).SetConnectTimeout(30 * time.Second)
	c := paho.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(60*time.Second) || tok.Error() != nil {
		t.Fatalf("connect as the hub (%s): %v", name, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(250) })
	return c
}

// recorder keeps the last message seen on every topic of a site's lists.
type recorder struct {
	mu  sync.Mutex
	got map[string][]byte
}

func record(t *testing.T, c paho.Client, filter string) *recorder {
	t.Helper()
	r := &recorder{got: map[string][]byte{}}
	tok := c.Subscribe(filter, 1, func(_ paho.Client, m paho.Message) {
		r.mu.Lock()
		r.got[m.Topic()] = append([]byte(nil), m.Payload()...)
		r.mu.Unlock()
	})
	if !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe %s: %v", filter, tok.Error())
	}
	return r
}

// recorded is one signed snapshot version as it was on the wire.
type recorded struct {
	manifest *lists.Manifest
	topic    string
	envelope []byte
	chunks   map[string][]byte
}

// payload joins the chunks' data.
func (v recorded) payload(t *testing.T) []byte {
	t.Helper()
	var out []byte
	for i := range v.manifest.Chunks {
		for _, b := range v.chunks {
			c, err := lists.ParseChunk(b)
			if err != nil {
				t.Fatal(err)
			}
			if c.Index == uint32(i) {
				out = append(out, c.Data...)
			}
		}
	}
	return out
}

// versionOf is a version built by the test as the messages the hub publishes.
func versionOf(prefix string, s *lists.Signed) recorded {
	v := recorded{manifest: s.Manifest, topic: lists.ManifestTopic(prefix, s.Manifest.Site, s.Manifest.List, s.Manifest.Kind, s.Manifest.Version), envelope: s.Envelope, chunks: map[string][]byte{}}
	for i, c := range s.Chunks {
		v.chunks[lists.ChunkTopic(prefix, s.Manifest.Site, s.Manifest.List, s.Manifest.Kind, s.Manifest.Version, i)] = c
	}
	return v
}

// wait waits until the retained snapshots of the lists are at the versions
// given, every chunk received, and returns them.
func (r *recorder) wait(t *testing.T, pub ed25519.PublicKey, want map[string]func(uint64) bool) map[string]recorded {
	t.Helper()
	out := map[string]recorded{}
	defer func() {
		if t.Failed() {
			r.logTopics(t, pub)
		}
	}()
	waitFor(t, "the hub's retained snapshots", 60*time.Second, func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		for topic, b := range r.got {
			m, err := lists.ParseManifest(b, []ed25519.PublicKey{pub})
			if err != nil || m.Kind != lists.Snapshot || want[m.List] == nil || !want[m.List](m.Version) {
				continue
			}
			v := recorded{manifest: m, topic: topic, envelope: b, chunks: map[string][]byte{}}
			for i := range m.Chunks {
				ct := strings.TrimSuffix(topic, "/snapshot") + fmt.Sprintf("/snapshot/%d", i)
				c, err := lists.ParseChunk(r.got[ct])
				if err != nil || c.Version != m.Version {
					return false
				}
				v.chunks[ct] = r.got[ct]
			}
			out[m.List] = v
		}
		return len(out) == len(want)
	})
	return out
}

// logTopics logs what the recorder holds, when a wait failed.
func (r *recorder) logTopics(t *testing.T, pub ed25519.PublicKey) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for topic, b := range r.got {
		m, err := lists.ParseManifest(b, []ed25519.PublicKey{pub})
		if err == nil {
			t.Logf("%s: %s %s v%d chunks %d", topic, m.List, m.Kind, m.Version, len(m.Chunks))
		} else {
			t.Logf("%s: %d bytes %v", topic, len(b), err)
		}
	}
}

// is and above are the versions wait waits for: exactly v; above v (config
// versions are not consecutive).
func is(v uint64) func(uint64) bool    { return func(x uint64) bool { return x == v } }
func above(v uint64) func(uint64) bool { return func(x uint64) bool { return x > v } }

// publishVersion makes v the retained version on the hub's broker.
func publishVersion(t *testing.T, c paho.Client, v recorded) {
	t.Helper()
	pub := func(topic string, b []byte) {
		if tok := c.Publish(topic, 1, true, b); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
			t.Fatalf("publish %s: %v", topic, tok.Error())
		}
	}
	for topic, b := range v.chunks {
		pub(topic, b)
	}
	pub(v.topic, v.envelope)
}

// statusWatch keeps the last status a gate published.
type statusWatch struct {
	mu   sync.Mutex
	last map[string]string
}

func watchStatus(t *testing.T, c paho.Client, topic string) *statusWatch {
	t.Helper()
	w := &statusWatch{}
	tok := c.Subscribe(topic, 1, func(_ paho.Client, m paho.Message) {
		var st struct {
			Health map[string]string `json:"health"`
		}
		if json.Unmarshal(m.Payload(), &st) == nil {
			w.mu.Lock()
			w.last = st.Health
			w.mu.Unlock()
		}
	})
	if !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe %s: %v", topic, tok.Error())
	}
	return w
}

func (w *statusWatch) health(part string) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.last[part]
}

// waitHealth waits for the gate's status to report part as want; the status
// goes out every 30 s.
func (w *statusWatch) waitHealth(t *testing.T, what, part, want string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for w.health(part) != want {
		if time.Now().After(deadline) {
			t.Fatalf("%s: the gate's status says %s: %q, want %q", what, part, w.health(part), want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (w *statusWatch) waitHealthPrefix(t *testing.T, what, part, prefix string) {
	t.Helper()
	waitFor(t, what, 2*time.Minute, func() bool { return strings.HasPrefix(w.health(part), prefix) })
}

// copiedCard is a card carrying the certificate of profile with another
// card's private key, as a copy of the certificate on a blank card: it passes
// only where the certificate alone is checked (the cert level).
func copiedCard(t *testing.T, profile string) *vcard.Profile {
	t.Helper()
	p := *taptest.Profile(t, profile)
	p.PrivateKey = taptest.Profile(t, "card-004.json").PrivateKey
	return &p
}

// tapReason presents a card and checks the reason the gate decided it with.
func tapReason(t *testing.T, slot pcsctest.Slot, metricsURL, stage string, p *vcard.Profile, want string) {
	t.Helper()
	before := reasons(metricsURL)
	total := metric(metricsURL, "mynagate_taps_total", "")
	remove := taptest.Present(t, slot, p)
	waitFor(t, stage+": the tap decided", 30*time.Second, func() bool {
		return metric(metricsURL, "mynagate_taps_total", "") == total+1
	})
	remove()
	for reason, n := range reasons(metricsURL) {
		if n > before[reason] && reason != want {
			t.Fatalf("%s: decided %s, want %s", stage, reason, want)
		}
	}
	if after := reasons(metricsURL); after[want] != before[want]+1 {
		t.Fatalf("%s: not decided %s", stage, want)
	}
}

// reasons sums mynagate_taps_total by reason.
func reasons(url string) map[string]float64 {
	out := map[string]float64{}
	resp, err := http.Get(url)
	if err != nil {
		return out
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		_, rest, ok := strings.Cut(line, `reason="`)
		if !strings.HasPrefix(line, "mynagate_taps_total{") || !ok {
			continue
		}
		reason, _, _ := strings.Cut(rest, `"`)
		var v float64
		fmt.Sscanf(line[strings.LastIndexByte(line, ' ')+1:], "%g", &v)
		out[reason] += v
	}
	return out
}
