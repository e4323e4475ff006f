package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mynagate/mynagate/internal/mqtttest"
	"github.com/mynagate/mynagate/internal/pcsctest"
	"github.com/mynagate/mynagate/internal/taptest"
	"github.com/mynagate/mynagate/offline/hsm/hsmtest"
)

// TestShelterScene is a municipality in a disaster, as deployed: one hub, two
// shelters (es2 with two stations, ms1 with one) of the site "city", the
// resident list enrolled and published by the hub. Cards are tapped through
// pcscd+vpcd; station es2-a keeps its card-key secret in SoftHSM2; es2-b is a
// desk station without a reader where staff check in a child by slip number.
// ms1-a loses its network in the middle and a resident moves to it meanwhile.
// Afterwards the hub's per-shelter counts and rosters are exactly right.
func TestShelterScene(t *testing.T) {
	slots := pcsctest.AcquireAll(t)
	tok := hsmtest.NewToken(t, "shelter-scene")
	bin := t.TempDir()
	gatehub, gateagent := build(t, bin, "cmd/gatehub"), build(t, bin, "cmd/gateagent")
	dir := t.TempDir()
	pkiDir := taptest.PKI(t)

	hub := startEnrolledHub(t, gatehub, dir, pkiDir, "city", 0x5d)
	hubCfg, secret, brokerPort, httpPort := hub.cfg, hub.secret, hub.brokerPort, hub.httpPort
	run(t, gateagent, "hsm", "init", "--import-secret", secret, "--hsm-module", tok.Module, "--hsm-token", tok.TokenLabel, "--hsm-pin-file", tok.PINFile)
	proxy := mqtttest.NewProxy(t, fmt.Sprintf("127.0.0.1:%d", brokerPort)) // ms1-a's uplink, to unplug
	sock, err := os.MkdirTemp("", "sh")                                    // unix socket paths must stay short
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sock) })

	type station struct{ cfg, metrics string }
	stations := map[string]station{}
	for _, s := range []struct {
		gate, place, reader string
		hsm, unplugged      bool
	}{
		{"es2-a", "es2", slots[0].Reader, true, false},
		{"es2-b", "es2", "Desk station without a reader", false, false},
		{"ms1-a", "ms1", slots[1].Reader, false, true},
	} {
		port := mqtttest.FreePort(t)
		cfg := map[string]any{
			"site": "city", "gate": s.gate, "place": s.place, "mode": "shelter", "data_dir": filepath.Join(dir, s.gate),
			"lanes":          []map[string]string{{"name": "entrance", "reader": s.reader, "kind": "checkin"}},
			"roots":          []string{filepath.Join(pkiDir, "root.pem")},
			"metrics_listen": fmt.Sprintf("127.0.0.1:%d", port),
			"policy":         map[string]any{"accept": []string{"cert"}},
			"control":        map[string]string{"socket": filepath.Join(sock, s.gate+".sock")},
		}
		if s.hsm {
			cfg["hsm"] = map[string]any{"module": tok.Module, "token_label": tok.TokenLabel, "pin_file": tok.PINFile}
		} else {
			cfg["card_key"] = map[string]string{"secret_file": secret}
		}
		path := etcFile(t, dir, s.gate)
		writeJSON(t, path, cfg)
		bundle := filepath.Join(dir, s.gate+".bundle.json")
		run(t, gatehub, "gate", "add", "--config", hubCfg, "--site", "city", "--gate", s.gate, "--out", bundle)
		run(t, gateagent, "enrol", "--config", path, bundle)
		if s.unplugged {
			// Through the proxy, which the test can unplug; TLS passes it.
			setBroker(t, path, "ssl://"+strings.TrimPrefix(proxy.Addr(), "tcp://"))
		}
		start(t, gateagent, "run", "--config", path)
		st := station{cfg: path, metrics: fmt.Sprintf("http://127.0.0.1:%d/metrics", port)}
		stations[s.gate] = st
		waitFor(t, s.gate+" applied the hub's list", 30*time.Second, func() bool {
			return metric(st.metrics, "mynagate_list_version", `list="whitelist"`) == 1
		})
	}
	slotOf := map[string]pcsctest.Slot{"es2-a": slots[0], "ms1-a": slots[1]}
	tap := func(gate, profile string) {
		t.Helper()
		st := stations[gate]
		before := metric(st.metrics, "mynagate_taps_total", "")
		remove := taptest.Present(t, slotOf[gate], taptest.Profile(t, profile))
		waitFor(t, gate+" decided "+profile, 15*time.Second, func() bool {
			return metric(st.metrics, "mynagate_taps_total", "") == before+1
		})
		remove()
	}

	tap("es2-a", "card-001.json") // resident T-0001 checks in at es2
	tap("es2-a", "card-003.json") // resident T-0003 checks in at es2
	tap("es2-a", "card-005.json") // not on the list: checked in to reconcile
	tap("ms1-a", "expired.json")  // expired certificate: checked in to reconcile at ms1
	run(t, gateagent, "staff", "checkin", "--config", stations["es2-b"].cfg, "--slip", "0042", "--note", "子ども・保護者同伴")

	proxy.Cut()
	waitFor(t, "ms1-a offline", 30*time.Second, func() bool { return metric(stations["ms1-a"].metrics, "mynagate_online", "") == 0 })
	tap("ms1-a", "card-003.json") // T-0003 moves to ms1 while ms1 is offline
	tap("es2-a", "card-001.json") // T-0001 taps again at es2: checks out
	proxy.Restore()

	api := fmt.Sprintf("http://127.0.0.1:%d/api/shelters", httpPort)
	getJSON := func(url string, v any) bool {
		resp, err := http.Get(url)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode == 200 && json.Unmarshal(b, v) == nil
	}
	type places struct {
		Total  int `json:"total"`
		Events int `json:"events"`
		Places []struct {
			Place       string `json:"place"`
			Inside      int    `json:"inside"`
			CheckedIn   int    `json:"checked_in"`
			ToReconcile int    `json:"to_reconcile"`
		} `json:"places"`
	}
	var got places
	waitFor(t, "all seven records at the hub", 60*time.Second, func() bool {
		return getJSON(api+"?site=city", &got) && got.Events == 7
	})
	b, _ := json.Marshal(got.Places)
	if want := `[{"place":"es2","inside":2,"checked_in":4,"to_reconcile":1},{"place":"ms1","inside":2,"checked_in":2,"to_reconcile":1}]`; got.Total != 4 || string(b) != want {
		t.Fatalf("shelters: total %d, %s\nwant total 4, %s", got.Total, b, want)
	}
	var roster []struct {
		Place     string `json:"place"`
		Gate      string `json:"gate"`
		ServiceID string `json:"service_id"`
		Slip      string `json:"slip"`
		Out       string `json:"checkout_at"`
		MovedTo   string `json:"moved_to"`
		Reconcile bool   `json:"reconcile"`
		Reason    string `json:"reason"`
		Assurance string `json:"assurance"`
		Note      string `json:"note"`
		Offline   bool   `json:"offline"`
	}
	if !getJSON(api+"/roster?site=city", &roster) {
		t.Fatal("no roster")
	}
	var rows []string
	for _, r := range roster {
		rows = append(rows, fmt.Sprintf("%s %s id=%s slip=%s out=%v moved=%s reconcile=%v %s/%s offline=%v note=%s",
			r.Place, r.Gate, r.ServiceID, r.Slip, r.Out != "", r.MovedTo, r.Reconcile, r.Reason, r.Assurance, r.Offline, r.Note))
	}
	want := []string{
		"es2 es2-a id= slip= out=false moved= reconcile=true not_listed/cert offline=false note=",
		"ms1 ms1-a id= slip= out=false moved= reconcile=true cert_expired/none offline=false note=",
		"es2 es2-b id= slip=0042 out=false moved= reconcile=false staff/staff offline=false note=子ども・保護者同伴",
		"ms1 ms1-a id=T-0003 slip= out=false moved= reconcile=false admit/cert offline=true note=",
		"es2 es2-a id=T-0001 slip= out=true moved= reconcile=false admit/cert offline=false note=",
		"es2 es2-a id=T-0003 slip= out=true moved=ms1 reconcile=false admit/cert offline=false note=",
	}
	if strings.Join(rows, "\n") != strings.Join(want, "\n") {
		t.Fatalf("roster:\n%s\nwant:\n%s", strings.Join(rows, "\n"), strings.Join(want, "\n"))
	}
}

// setBroker points a gate's config at another broker address.
func setBroker(t *testing.T, path, broker string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	cfg["mqtt"].(map[string]any)["broker"] = broker
	writeJSON(t, path, cfg)
}
