package e2e

import (
	"bytes"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mynagate/mynagate/internal/mqtttest"
	"github.com/mynagate/mynagate/internal/pcsctest"
	"github.com/mynagate/mynagate/internal/taptest"
	"github.com/mynagate/mynagate/offline/cardkey"
)

// TestCardKeyRotationScene rotates the card-key secret of a running site the
// way the README tells the operator, with the real binaries: gatehub run
// (embedded broker, TLS, logins) and a provisioned gateagent deciding taps
// through pcscd+vpcd. Tickets enrolled by issuer key id and serial, a card
// enrolled by card key alone (as a kiosk reports it) and a revoked ticket go
// through the window (the gate looks up under both secrets and reports both
// keys), cardkey rekey and finish with publishes (the hub learns the kiosk
// card's next key from its tap), and the switch: every card is still admitted
// or refused as before, and the revoked one never gets in.
func TestCardKeyRotationScene(t *testing.T) {
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
	curSecret, nextSecret := bytes.Repeat([]byte{0x5c}, 32), bytes.Repeat([]byte{0x6d}, 32)
	nextFile := filepath.Join(dir, "cardkey-2.secret")
	os.WriteFile(nextFile, []byte(hex.EncodeToString(nextSecret)+"\n"), 0o600)
	keyOf := func(secret []byte, profile string) string {
		blk, _ := pem.Decode([]byte(taptest.Profile(t, profile).Certificate))
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		k, err := cardkey.ForCert(cardkey.NewSoftware(secret), c)
		if err != nil {
			t.Fatal(err)
		}
		return k.String()
	}

	// Before: a kiosk enrolled card-005 by its card key; T-0002 is revoked.
	kiosk := filepath.Join(dir, "kiosk.csv")
	os.WriteFile(kiosk, []byte("card_key,service_id,kind\n"+keyOf(curSecret, "card-005.json")+",R-0005,resident\n"), 0o600)
	hubRun("enroll import", kiosk)
	hubRun("revoke", "--service-id", "T-0002")
	// A snapshot: a gate provisioned after a delta would refuse the older
	// retained snapshot as below its minimum version (reported to the lead).
	hubRun("publish", "--snapshot")

	bundle := filepath.Join(dir, "north-1.bundle.json")
	hubRun("gate add", "--gate", "north-1", "--out", bundle)
	metricsPort := mqtttest.FreePort(t)
	metricsURL := fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort)
	gateCfg := filepath.Join(dir, "gateagent.json")
	writeJSON(t, gateCfg, map[string]any{
		"site": "arena", "gate": "north-1", "mode": "venue", "data_dir": filepath.Join(dir, "gate"),
		"lanes":          []map[string]string{{"name": "in-1", "reader": slot.Reader, "kind": "entry", "zone": "north"}},
		"roots":          []string{filepath.Join(pkiDir, "root.pem")},
		"card_key":       map[string]string{"secret_file": hub.secret},
		"policy":         map[string]any{"anti_passback": false},
		"metrics_listen": fmt.Sprintf("127.0.0.1:%d", metricsPort),
	})
	run(t, gateagent, "enrol", "--config", gateCfg, bundle)
	// setCardKey rewrites the gate's card_key section and (re)starts it.
	var gate *daemon
	setCardKey := func(ck map[string]string) {
		t.Helper()
		if gate != nil {
			gate.cmd.Process.Signal(syscall.SIGTERM)
			gate.cmd.Wait()
		}
		var cfg map[string]any
		b, _ := os.ReadFile(gateCfg)
		json.Unmarshal(b, &cfg)
		cfg["card_key"] = ck
		writeJSON(t, gateCfg, cfg)
		gate = start(t, gateagent, "run", "--config", gateCfg)
		waitFor(t, "the gate up", 30*time.Second, func() bool { return metric(metricsURL, "mynagate_list_version", `list="whitelist"`) > 0 })
	}
	// waitList waits until the gate applied the hub's latest whitelist version.
	waitList := func() {
		t.Helper()
		var st struct{ Version float64 }
		json.Unmarshal([]byte(hubRun("lists", "--json")), &st)
		waitFor(t, fmt.Sprintf("whitelist v%v at the gate", st.Version), 30*time.Second, func() bool {
			return metric(metricsURL, "mynagate_list_version", `list="whitelist"`) == st.Version
		})
	}
	type hubEvent struct {
		Reason   string `json:"reason"`
		Card     string `json:"card"`
		CardNext string `json:"card_next"`
	}
	events := func() []hubEvent {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/api/events?site=arena&limit=1000", hub.httpPort))
		if err != nil {
			return nil
		}
		defer resp.Body.Close()
		var page struct{ Events []hubEvent }
		json.NewDecoder(resp.Body).Decode(&page)
		return page.Events
	}
	// tap presents a card and checks what the hub stored: the reason, and
	// the keys under the secrets given ("" none).
	tap := func(stage, profile, reason string, card, cardNext []byte) {
		t.Helper()
		n := len(events())
		remove := taptest.Present(t, slot, taptest.Profile(t, profile))
		var got []hubEvent
		waitFor(t, stage+": "+profile+" at the hub", 20*time.Second, func() bool { got = events(); return len(got) > n })
		remove()
		e, wantNext := got[len(got)-1], ""
		if cardNext != nil {
			wantNext = keyOf(cardNext, profile)
		}
		if e.Reason != reason || e.Card != keyOf(card, profile) || e.CardNext != wantNext {
			t.Errorf("%s: %s: %+v; want %s, card and card_next under the expected secrets", stage, profile, e, reason)
		}
	}
	setCardKey(map[string]string{"secret_file": hub.secret})
	waitList()
	tap("before", "card-001.json", "admit", curSecret, nil)
	tap("before", "card-002.json", "revoked", curSecret, nil)
	tap("before", "card-005.json", "admit", curSecret, nil)

	// Steps 1-3: the next secret at the hub and on the gate.
	var hubCfg map[string]any
	b, _ := os.ReadFile(hub.cfg)
	json.Unmarshal(b, &hubCfg)
	hubCfg["next_card_key_secret"] = nextFile
	writeJSON(t, hub.cfg, hubCfg)
	run(t, gatehub, "config", "check", hub.cfg)
	setCardKey(map[string]string{"secret_file": hub.secret, "next_secret_file": nextFile})
	tap("window", "card-005.json", "admit", curSecret, nextSecret) // the hub learns its next key here

	// Step 4: re-key from the enrolment file and the window's events, publish.
	out := hubRun("cardkey rekey", "--enrolment", filepath.Join(pkiDir, "whitelist.csv"), "--json")
	var rk struct {
		Unpaired   int `json:"unpaired"`
		Carried    int `json:"carried"`
		FromEvents int `json:"pairs_from_events"`
	}
	if err := json.Unmarshal([]byte(out[strings.LastIndex(strings.TrimSpace(out), "\n")+1:]), &rk); err != nil || rk.Unpaired != 0 || rk.Carried != 1 || rk.FromEvents != 1 {
		t.Fatalf("rekey: %s", out)
	}
	hubRun("publish")
	waitList()
	tap("window, re-keyed", "card-001.json", "admit", curSecret, nextSecret)
	tap("window, re-keyed", "card-002.json", "revoked", curSecret, nextSecret)

	// Step 5: finish; the list is keyed by the next secret alone.
	hubRun("cardkey finish", "--enrolment", filepath.Join(pkiDir, "whitelist.csv"))
	hubRun("publish")
	waitList()
	tap("window, finished", "card-001.json", "admit", curSecret, nextSecret)
	tap("window, finished", "card-002.json", "revoked", curSecret, nextSecret)
	tap("window, finished", "card-005.json", "admit", curSecret, nextSecret)

	// Step 6: the switch. The old secret is gone from the gate's config.
	setCardKey(map[string]string{"secret_file": nextFile})
	tap("after", "card-001.json", "admit", nextSecret, nil)
	tap("after", "card-002.json", "revoked", nextSecret, nil)
	tap("after", "card-005.json", "admit", nextSecret, nil)
	tap("after", "card-003.json", "admit", nextSecret, nil)
}
