package e2e

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mynagate/mynagate/internal/mqtttest"
	"github.com/mynagate/mynagate/internal/pcsctest"
	"github.com/mynagate/mynagate/internal/taptest"
)

// build compiles a command of this module into dir.
func build(t *testing.T, dir, pkg string) string {
	t.Helper()
	out := filepath.Join(dir, filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-o", out, "github.com/mynagate/mynagate/"+pkg)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	return out
}

// daemon is a started gatehub or gateagent process with its log.
type daemon struct {
	cmd *exec.Cmd
	log *bytes.Buffer
}

func start(t *testing.T, bin string, args ...string) *daemon {
	t.Helper()
	d := &daemon{cmd: exec.Command(bin, args...), log: &bytes.Buffer{}}
	d.cmd.Stdout, d.cmd.Stderr = d.log, d.log
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		d.cmd.Process.Signal(syscall.SIGTERM)
		d.cmd.Wait()
		if t.Failed() {
			t.Logf("%s log:\n%s", filepath.Base(bin), d.log.String())
		}
	})
	return d
}

func run(t *testing.T, bin string, args ...string) string {
	t.Helper()
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(bin), strings.Join(args, " "), err, out)
	}
	return string(out)
}

// etcFile returns the config path of a gate box: a directory of its own, as
// /etc/mynagate is on each box, since gateagent enrol writes the gate's
// broker password and keys next to the config.
func etcFile(t *testing.T, dir, gate string) string {
	t.Helper()
	etc := filepath.Join(dir, gate+"-etc")
	if err := os.MkdirAll(etc, 0o700); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(etc, "gateagent.json")
}

func writeJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, _ := json.MarshalIndent(v, "", "  ")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func waitFor(t *testing.T, what string, within time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// enrolledHub is a gatehub run as in production, with the test PKI's list
// enrolled and published for one site.
type enrolledHub struct {
	// cfg is the hub's config file, secret its (demo) card-key secret file.
	cfg, secret          string
	brokerPort, httpPort int
	// published is what the first gatehub publish printed.
	published string
}

// siteRun runs a gatehub command ("enroll import") with the hub's config for
// site, and returns its output.
func (h enrolledHub) siteRun(t *testing.T, gatehub, site, command string, args ...string) string {
	t.Helper()
	words := append(strings.Fields(command), "--config", h.cfg, "--site", site)
	return run(t, gatehub, append(words, args...)...)
}

// startHub makes a demo hub in dir (signing key and card-key secret as
// files, secretByte repeated) and starts gatehub run on a TLS-only broker that
// lets in logins only. The hub is stopped when the test ends.
func startHub(t *testing.T, gatehub, dir string, secretByte byte) enrolledHub {
	t.Helper()
	h := enrolledHub{cfg: filepath.Join(dir, "gatehub.json"), secret: filepath.Join(dir, "cardkey.secret"),
		brokerPort: mqtttest.FreePort(t), httpPort: mqtttest.FreePort(t)}
	os.WriteFile(h.secret, []byte(hex.EncodeToString(bytes.Repeat([]byte{secretByte}, 32))+"\n"), 0o600)
	run(t, gatehub, "keygen", "--out", filepath.Join(dir, "hub-signing.pem"))
	os.WriteFile(filepath.Join(dir, "hub.password"), []byte("e2e-hub-password\n"), 0o600)
	writeJSON(t, h.cfg, map[string]any{
		"data_dir": filepath.Join(dir, "hub"), "listen": fmt.Sprintf("127.0.0.1:%d", h.brokerPort),
		"username": "hub", "password_file": filepath.Join(dir, "hub.password"),
		"signing_key": filepath.Join(dir, "hub-signing.pem"), "card_key_secret": h.secret, "demo_file_keys": true,
		"http": fmt.Sprintf("127.0.0.1:%d", h.httpPort),
	})
	start(t, gatehub, "run", "--config", h.cfg)
	return h
}

// startEnrolledHub is startHub with pkiDir's whitelist enrolled for site
// and published.
func startEnrolledHub(t *testing.T, gatehub, dir, pkiDir, site string, secretByte byte) enrolledHub {
	t.Helper()
	h := startHub(t, gatehub, dir, secretByte)
	run(t, gatehub, "enroll", "import", "--config", h.cfg, "--site", site, filepath.Join(pkiDir, "whitelist.csv"))
	waitFor(t, "gatehub publish", 20*time.Second, func() bool {
		out, err := exec.Command(gatehub, "publish", "--config", h.cfg, "--site", site).CombinedOutput()
		h.published = string(out)
		return err == nil
	})
	return h
}

// TestHubAndGate is the product as deployed: the hub enrols tickets and
// publishes a signed list, the gate (which never imported anything itself)
// receives and applies it, decides taps offline-capably with anti-passback,
// and every event reaches the hub, which counts it once.
func TestHubAndGate(t *testing.T) {
	slot := pcsctest.Acquire(t, 0)
	bin := t.TempDir()
	gatehub, gateagent := build(t, bin, "cmd/gatehub"), build(t, bin, "cmd/gateagent")
	dir := t.TempDir()
	pkiDir := taptest.PKI(t)

	hub := startEnrolledHub(t, gatehub, dir, pkiDir, "arena", 0x5c)
	hubCfg, secret, published := hub.cfg, hub.secret, hub.published
	if !strings.Contains(published, "snapshot v1") {
		t.Fatalf("publish: %s", published)
	}

	// Provisioning, one command on each side: gate add writes the bundle
	// (broker, CA, account, pinned key, the site's published versions);
	// enrol sets the gate up from it and deletes it.
	bundle := filepath.Join(dir, "north-1.bundle.json")
	run(t, gatehub, "gate", "add", "--config", hubCfg, "--site", "arena", "--gate", "north-1", "--out", bundle)
	if fi, err := os.Stat(bundle); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("bundle: %v %v, want owner-only", fi, err)
	}

	metricsPort := mqtttest.FreePort(t)
	metricsURL := fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort)
	gateCfg := filepath.Join(dir, "gateagent.json")
	writeJSON(t, gateCfg, map[string]any{
		"site": "arena", "gate": "north-1", "mode": "venue", "data_dir": filepath.Join(dir, "gate"),
		"lanes":          []map[string]string{{"name": "in-1", "reader": slot.Reader, "kind": "entry", "zone": "north"}},
		"roots":          []string{filepath.Join(pkiDir, "root.pem")},
		"card_key":       map[string]string{"secret_file": secret},
		"metrics_listen": fmt.Sprintf("127.0.0.1:%d", metricsPort),
	})
	run(t, gateagent, "enrol", "--config", gateCfg, bundle)
	if _, err := os.Stat(bundle); !os.IsNotExist(err) {
		t.Fatalf("the bundle is still there after enrol: %v", err)
	}
	var enrolled struct {
		MQTT struct {
			Broker string `json:"broker"`
		} `json:"mqtt"`
		MinListVersions map[string]uint64 `json:"min_list_versions"`
	}
	b, _ := os.ReadFile(gateCfg)
	if json.Unmarshal(b, &enrolled); !strings.HasPrefix(enrolled.MQTT.Broker, "ssl://") || enrolled.MinListVersions["whitelist"] != 1 {
		t.Fatalf("enrolled config: %s", b)
	}
	start(t, gateagent, "run", "--config", gateCfg)
	waitFor(t, "the hub's list applied on the gate", 30*time.Second, func() bool {
		return metric(metricsURL, "mynagate_list_version", `list="whitelist"`) == 1
	})

	tapExpect := func(n int, profile, reason string) {
		t.Helper()
		before := metric(metricsURL, "mynagate_taps_total", `reason="`+reason+`"`)
		remove := taptest.Present(t, slot, taptest.Profile(t, profile))
		waitFor(t, fmt.Sprintf("tap %d decided", n), 10*time.Second, func() bool {
			return metric(metricsURL, "mynagate_taps_total", "") == float64(n)
		})
		remove()
		if got := metric(metricsURL, "mynagate_taps_total", `reason="`+reason+`"`); got != before+1 {
			t.Fatalf("tap %d (%s): not decided %s", n, profile, reason)
		}
	}
	tapExpect(1, "card-001.json", "admit")
	tapExpect(2, "card-001.json", "already_inside")
	tapExpect(3, "card-005.json", "not_listed")

	// The disaster office changes the gate from the hub: only pinless is
	// accepted now (this gate has no PIN-less credential, so cards are refused)
	// until an emergency is declared, when the cert fallback admits.
	run(t, gatehub, "config", "set", "--config", hubCfg, "--site", "arena", "--accept=pinless", "--fallback=cert", "--emergency=false")
	waitFor(t, "the hub's config applied", 15*time.Second, func() bool {
		return metric(metricsURL, "mynagate_list_version", `list="config"`) > 0
	})
	tapExpect(4, "card-002.json", "assurance_not_accepted")
	run(t, gatehub, "config", "set", "--config", hubCfg, "--site", "arena", "--emergency=true")
	waitFor(t, "the emergency declared from the hub", 15*time.Second, func() bool {
		return metric(metricsURL, "mynagate_emergency", "") == 1
	})
	tapExpect(5, "card-002.json", "admit")

	// Every event reached the hub, once.
	viewURL := fmt.Sprintf("http://127.0.0.1:%d/api/view", hub.httpPort)
	waitFor(t, "five events at the hub", 15*time.Second, func() bool {
		resp, err := http.Get(viewURL)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var v struct {
			Sites []struct {
				Site   string `json:"site"`
				Events uint64 `json:"events"`
			} `json:"sites"`
		}
		json.Unmarshal(b, &v)
		return len(v.Sites) == 1 && v.Sites[0].Site == "arena" && v.Sites[0].Events == 5
	})
	// The gate forgets its events once the hub's receipts arrive.
	waitFor(t, "the gate's backlog to be receipted", 30*time.Second, func() bool {
		return metric(metricsURL, "mynagate_backlog_events", "") == 0
	})
	if l := metric(metricsURL, "mynagate_publish_latency_seconds", ""); l <= 0 {
		t.Errorf("publish latency %v after three acknowledged events", l)
	}
	if a := metric(metricsURL, "mynagate_list_age_seconds", `list="whitelist"`); a <= 0 {
		t.Errorf("no age reported for the whitelist in force")
	}
}

// metric sums the samples of a series on a Prometheus endpoint whose line
// contains label ("" for all); -1 if the endpoint does not answer.
func metric(url, name, label string) float64 {
	resp, err := http.Get(url)
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	total := 0.0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if (strings.HasPrefix(line, name+"{") || strings.HasPrefix(line, name+" ")) && strings.Contains(line, label) {
			var v float64
			fmt.Sscanf(line[strings.LastIndexByte(line, ' ')+1:], "%g", &v)
			total += v
		}
	}
	return total
}
