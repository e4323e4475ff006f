package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mynagate/mynagate/event"
	"github.com/mynagate/mynagate/internal/mqtttest"
	"github.com/mynagate/mynagate/internal/pcsctest"
	"github.com/mynagate/mynagate/internal/taptest"
	"github.com/mynagate/mynagate/kiosk"
	"github.com/mynagate/mynagate/offline/hsm/hsmtest"
	"github.com/mynagate/mynagate/vcard"
)

// kioskPIN is the PIN of the scene's cards: a value the test can look for in
// every log and file afterwards.
const kioskPIN = "8526"

// kioskScene is a venue as deployed with a kiosk: one hub with no list yet,
// a kiosk (enrol lane on vpcd slot 0, card-key secret in SoftHSM2, its
// screen's API on loopback) and an entry gate (slot 1).
type kioskScene struct {
	dir, gatehub, gateagent string
	hub                     enrolledHub
	kioskCfg                string
	// api is the kiosk's local API on loopback, token its current token.
	api, token string
	// gateMetrics is the entry gate's metrics endpoint.
	gateMetrics string
	slots       [2]pcsctest.Slot
	daemons     []*daemon
}

func startKioskScene(t *testing.T) *kioskScene {
	t.Helper()
	sc := &kioskScene{slots: pcsctest.AcquireAll(t), dir: t.TempDir()}
	tok := hsmtest.NewToken(t, "kiosk-scene")
	bin := t.TempDir()
	sc.gatehub, sc.gateagent = build(t, bin, "cmd/gatehub"), build(t, bin, "cmd/gateagent")
	pkiDir := taptest.PKI(t)
	sc.hub = startHub(t, sc.gatehub, sc.dir, 0x6b)
	run(t, sc.gateagent, "hsm", "init", "--import-secret", sc.hub.secret, "--hsm-module", tok.Module, "--hsm-token", tok.TokenLabel, "--hsm-pin-file", tok.PINFile)
	sock, err := os.MkdirTemp("", "ki") // unix socket paths must stay short
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sock) })

	apiPort, gatePort := mqtttest.FreePort(t), mqtttest.FreePort(t)
	sc.api = fmt.Sprintf("http://127.0.0.1:%d", apiPort)
	sc.kioskCfg = etcFile(t, sc.dir, "box-office")
	writeJSON(t, sc.kioskCfg, map[string]any{
		"site": "arena", "gate": "box-office", "mode": "kiosk", "data_dir": filepath.Join(sc.dir, "kiosk"),
		"lanes":   []map[string]string{{"name": "counter", "reader": sc.slots[0].Reader, "kind": "enrol"}},
		"roots":   []string{filepath.Join(pkiDir, "root.pem")},
		"hsm":     map[string]any{"module": tok.Module, "token_label": tok.TokenLabel, "pin_file": tok.PINFile},
		"policy":  map[string]any{"accept": []string{"pin"}},
		"control": map[string]string{"socket": filepath.Join(sock, "kiosk.sock")},
		"kiosk":   map[string]any{"listen": fmt.Sprintf("127.0.0.1:%d", apiPort), "page": true, "pin_timeout": "30s"},
	})
	gateCfg := etcFile(t, sc.dir, "north-1")
	sc.gateMetrics = fmt.Sprintf("http://127.0.0.1:%d/metrics", gatePort)
	writeJSON(t, gateCfg, map[string]any{
		"site": "arena", "gate": "north-1", "mode": "venue", "data_dir": filepath.Join(sc.dir, "gate"),
		"lanes":          []map[string]string{{"name": "in-1", "reader": sc.slots[1].Reader, "kind": "entry"}},
		"roots":          []string{filepath.Join(pkiDir, "root.pem")},
		"card_key":       map[string]string{"secret_file": sc.hub.secret},
		"metrics_listen": fmt.Sprintf("127.0.0.1:%d", gatePort),
	})
	for gate, cfg := range map[string]string{"box-office": sc.kioskCfg, "north-1": gateCfg} {
		bundle := filepath.Join(sc.dir, gate+".bundle.json")
		run(t, sc.gatehub, "gate", "add", "--config", sc.hub.cfg, "--site", "arena", "--gate", gate, "--out", bundle, fmt.Sprintf("--kiosk=%v", gate == "box-office"))
		run(t, sc.gateagent, "enrol", "--config", cfg, bundle)
		sc.daemons = append(sc.daemons, start(t, sc.gateagent, "run", "--config", cfg))
	}
	tokenFile := filepath.Join(sock, "kiosk.sock.token")
	waitFor(t, "the kiosk's token", 30*time.Second, func() bool {
		b, err := os.ReadFile(tokenFile)
		sc.token = strings.TrimSpace(string(b))
		return err == nil && sc.token != ""
	})
	waitFor(t, "the entry gate online", 30*time.Second, func() bool { return metric(sc.gateMetrics, "mynagate_online", "") == 1 })
	return sc
}

// call posts a kiosk operation with the token and returns the status and body.
func (sc *kioskScene) call(t *testing.T, token, op string, body any) (int, string) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, sc.api+"/v1/"+op, bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", op, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out)
}

// mustCall is call that expects 200.
func (sc *kioskScene) mustCall(t *testing.T, op string, body any) {
	t.Helper()
	if code, out := sc.call(t, sc.token, op, body); code != http.StatusOK {
		t.Fatalf("%s: %d %s", op, code, out)
	}
}

// screen follows the kiosk's event stream as its screen would.
type screen struct {
	msgs chan kiosk.Message
}

func (sc *kioskScene) openScreen(t *testing.T) *screen {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, sc.api+"/v1/"+kiosk.StreamEvents, nil)
	req.Header.Set("Authorization", "Bearer "+sc.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("event stream: %v %v", resp, err)
	}
	s := &screen{msgs: make(chan kiosk.Message, 64)}
	t.Cleanup(func() { resp.Body.Close() })
	go func() {
		defer close(s.msgs)
		lines := bufio.NewScanner(resp.Body)
		for lines.Scan() {
			if data, ok := strings.CutPrefix(lines.Text(), "data: "); ok {
				var m kiosk.Message
				if json.Unmarshal([]byte(data), &m) == nil {
					s.msgs <- m
				}
			}
		}
	}()
	return s
}

// next returns the next message of one of the types, failing on the way on
// any message of a type in fail.
func (s *screen) next(t *testing.T, want string, fail ...string) kiosk.Message {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case m, ok := <-s.msgs:
			if !ok {
				t.Fatalf("event stream ended waiting for %q", want)
			}
			if m.Type == want {
				return m
			}
			for _, f := range fail {
				if m.Type == f {
					t.Fatalf("got %+v while waiting for %q", m, want)
				}
			}
		case <-deadline:
			t.Fatalf("no %q message within 30 s", want)
		}
	}
}

// card is a test card with the scene's PIN; its PIN counter persists across
// presentations.
func card(t *testing.T, profile string, tries int) *vcard.Card {
	t.Helper()
	p := taptest.Profile(t, profile)
	p.PIN, p.PINTries = kioskPIN, tries
	return vcard.NewCard(p)
}

// enrol presents c at the kiosk, answers the PIN prompt with pin and returns
// the result, after the card is taken off again.
func (sc *kioskScene) enrol(t *testing.T, scr *screen, c *vcard.Card, pin string) (prompt, result kiosk.Message) {
	t.Helper()
	remove := taptest.PresentCard(t, sc.slots[0], c)
	prompt = scr.next(t, kiosk.MsgPIN, kiosk.MsgResult)
	sc.mustCall(t, kiosk.OpPIN, map[string]string{"lane": "counter", "pin": pin})
	result = scr.next(t, kiosk.MsgResult)
	remove()
	scr.next(t, kiosk.MsgCard) // "removed"
	return prompt, result
}

// gateTap presents a card at the entry gate until it is decided.
func (sc *kioskScene) gateTap(t *testing.T, c *vcard.Card) {
	t.Helper()
	before := metric(sc.gateMetrics, "mynagate_taps_total", "")
	remove := taptest.PresentCard(t, sc.slots[1], c)
	defer remove()
	waitFor(t, "the gate's decision", 20*time.Second, func() bool { return metric(sc.gateMetrics, "mynagate_taps_total", "") == before+1 })
}

// gateCount returns the entry gate's taps decided with reason.
func (sc *kioskScene) gateCount(reason event.Reason) float64 {
	return metric(sc.gateMetrics, "mynagate_taps_total", `reason="`+string(reason)+`"`)
}

// hubEvents returns what the hub stored for a gate.
func (sc *kioskScene) hubEvents(t *testing.T, gate string) []map[string]any {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/api/events?site=arena&gate=%s", sc.hub.httpPort, gate))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var page struct {
		Events []map[string]any `json:"events"`
	}
	json.NewDecoder(resp.Body).Decode(&page)
	return page.Events
}

// TestKioskEnrolmentToGate: a family of three buys one order at the box
// office; each card is enrolled with its holder's PIN to its own seat through
// the kiosk's local API; the hub turns the enrolments into a list delta and
// the entry gate admits each card to its seat within seconds, per seat. Wrong
// PINs count down, a blocked PIN is refused without asking, a card pulled at
// the PIN prompt is told so, the API refuses callers without the token, and
// the PIN is found in no log and no file afterwards.
func TestKioskEnrolmentToGate(t *testing.T) {
	sc := startKioskScene(t)

	// Without the token, nothing.
	if code, _ := sc.call(t, "", kiosk.OpBind, map[string]any{"lane": "counter", "service_id": "X"}); code != http.StatusUnauthorized {
		t.Errorf("bind without token: %d, want 401", code)
	}
	if code, _ := sc.call(t, strings.Repeat("0", 64), kiosk.OpPIN, map[string]any{"lane": "counter", "pin": kioskPIN}); code != http.StatusUnauthorized {
		t.Errorf("pin with a wrong token: %d, want 401", code)
	}
	if resp, err := http.Get(sc.api + "/v1/" + kiosk.StreamEvents); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("event stream without token: %v %v, want 401", resp, err)
	}
	scr := sc.openScreen(t)

	// A card before the screen chose anything: not bound, and no PIN asked.
	lead := card(t, "card-001.json", 3)
	remove := taptest.PresentCard(t, sc.slots[0], lead)
	if m := scr.next(t, kiosk.MsgResult, kiosk.MsgPIN); m.Reason != event.ReasonNotBound {
		t.Fatalf("unbound tap: %+v", m)
	}
	remove()

	// The family: one order, three seats, three cards.
	sc.mustCall(t, kiosk.OpBind, map[string]any{"lane": "counter", "service_id": "ORD-77", "seats": []string{"A-1", "A-2", "A-3"},
		"grant": map[string]any{"kind": "ticket", "group": "ORD-77"}})
	family := []*vcard.Card{lead, card(t, "card-002.json", 3), card(t, "card-003.json", 3)}
	var enrolledAt time.Time
	for i, c := range family {
		prompt, res := sc.enrol(t, scr, c, kioskPIN)
		if prompt.TriesLeft != 3 || prompt.Warning {
			t.Errorf("card %d prompt: %+v", i+1, prompt)
		}
		if seat := fmt.Sprintf("A-%d", i+1); res.Outcome != kiosk.OutcomeEnrolled || res.ServiceID != "ORD-77" || res.Seat != seat ||
			res.Assurance != "pin" || !strings.Contains(res.Text.EN, seat) {
			t.Fatalf("card %d: %+v, want enrolled to %s", i+1, res, seat)
		}
		enrolledAt = time.Now()
	}
	waitFor(t, "the enrolments' delta applied at the gate", 30*time.Second, func() bool {
		return metric(sc.gateMetrics, "mynagate_list_version", `list="whitelist"`) >= 1 && sc.gateTapAdmits(t, family[0])
	})
	t.Logf("enrolment to admission at the gate: %v", time.Since(enrolledAt).Round(time.Millisecond))
	// Each seat is a holder of its own: the second companion is not
	// "already inside" because the first is (only not listed until the
	// delta with its seat arrives); the first is, on a second tap.
	waitFor(t, "the companion on seat A-2 admitted", 30*time.Second, func() bool {
		if sc.gateCount(event.ReasonAlreadyInside) > 0 {
			t.Fatal("the companion on seat A-2 was refused already_inside")
		}
		return sc.gateTapAdmits(t, family[1])
	})
	inside := sc.gateCount(event.ReasonAlreadyInside)
	sc.gateTap(t, family[0])
	if sc.gateCount(event.ReasonAlreadyInside) != inside+1 {
		t.Fatalf("seat A-1 tapped twice was not refused already_inside")
	}
	waitFor(t, "the gate's admits at the hub with their seats", 20*time.Second, func() bool {
		seats := map[string]bool{}
		for _, e := range sc.hubEvents(t, "north-1") {
			if e["decision"] == "admit" && e["service_id"] == "ORD-77" {
				seats[fmt.Sprint(e["seat"])] = true
			}
		}
		return seats["A-1"] && seats["A-2"] && len(seats) == 2
	})

	// Wrong PINs count down; a card pulled at the prompt is told so; the
	// last try warns; a blocked PIN is refused without a prompt.
	sc.mustCall(t, kiosk.OpBind, map[string]any{"lane": "counter", "service_id": "ORD-78", "seats": []string{"B-1"}})
	c := card(t, "card-004.json", 3)
	if prompt, res := sc.enrol(t, scr, c, "0000"); prompt.TriesLeft != 3 || res.Reason != event.ReasonPINWrong {
		t.Fatalf("wrong PIN: %+v then %+v", prompt, res)
	}
	remove = taptest.PresentCard(t, sc.slots[0], c)
	if m := scr.next(t, kiosk.MsgPIN, kiosk.MsgResult); m.TriesLeft != 2 {
		t.Fatalf("after one wrong PIN: %+v", m)
	}
	remove()
	if m := scr.next(t, kiosk.MsgResult); m.Reason != event.ReasonCardRemoved {
		t.Fatalf("card pulled at the PIN prompt: %+v", m)
	}
	if _, res := sc.enrol(t, scr, c, "0000"); res.Reason != event.ReasonPINWrong {
		t.Fatalf("second wrong PIN: %+v", res)
	}
	prompt, res := sc.enrol(t, scr, c, "0000")
	if prompt.TriesLeft != 1 || !prompt.Warning || res.Reason != event.ReasonPINBlocked || !strings.Contains(res.Text.JA, "市区町村の窓口") {
		t.Fatalf("last try: %+v then %+v", prompt, res)
	}
	remove = taptest.PresentCard(t, sc.slots[0], c)
	if m := scr.next(t, kiosk.MsgResult, kiosk.MsgPIN); m.Reason != event.ReasonPINBlocked {
		t.Fatalf("blocked card: %+v", m)
	}
	remove()

	// A gate provisioned after the kiosk's deltas starts from the retained
	// snapshot and catches up to the latest version.
	latest := metric(sc.gateMetrics, "mynagate_list_version", `list="whitelist"`)
	if latest < 2 {
		t.Fatalf("whitelist version %v at the gate after the family's enrolments, want deltas", latest)
	}
	lateCfg, latePort := etcFile(t, sc.dir, "south-1"), mqtttest.FreePort(t)
	writeJSON(t, lateCfg, map[string]any{
		"site": "arena", "gate": "south-1", "mode": "venue", "data_dir": filepath.Join(sc.dir, "late"),
		"lanes":          []map[string]string{{"name": "in-1", "reader": "A reader not plugged in yet", "kind": "entry"}},
		"roots":          []string{filepath.Join(taptest.PKI(t), "root.pem")},
		"card_key":       map[string]string{"secret_file": sc.hub.secret},
		"metrics_listen": fmt.Sprintf("127.0.0.1:%d", latePort),
	})
	bundle := filepath.Join(sc.dir, "south-1.bundle.json")
	run(t, sc.gatehub, "gate", "add", "--config", sc.hub.cfg, "--site", "arena", "--gate", "south-1", "--out", bundle)
	run(t, sc.gateagent, "enrol", "--config", lateCfg, bundle)
	sc.daemons = append(sc.daemons, start(t, sc.gateagent, "run", "--config", lateCfg))
	waitFor(t, "the late gate at the latest list version", 30*time.Second, func() bool {
		return metric(fmt.Sprintf("http://127.0.0.1:%d/metrics", latePort), "mynagate_list_version", `list="whitelist"`) >= latest
	})

	// The PIN crossed the API, and is found nowhere: not in the daemons'
	// logs, not in any file of the hub, the kiosk or the gate.
	assertNoPIN(t, sc)
}

// gateTapAdmits taps c at the gate and reports whether it was admitted.
func (sc *kioskScene) gateTapAdmits(t *testing.T, c *vcard.Card) bool {
	t.Helper()
	before := sc.gateCount(event.ReasonAdmit)
	sc.gateTap(t, c)
	return sc.gateCount(event.ReasonAdmit) == before+1
}

// pinPattern finds the PIN as a value: quoted, after = or :, or alone on a
// line, never as digits inside a longer number, id or timestamp.
var pinPattern = regexp.MustCompile(`(^|["'=:\s])` + kioskPIN + `(["'\s,}]|$)`)

func assertNoPIN(t *testing.T, sc *kioskScene) {
	t.Helper()
	for i, d := range sc.daemons {
		if loc := pinPattern.FindStringIndex(d.log.String()); loc != nil {
			t.Errorf("daemon %d's log shows the PIN: %q", i, d.log.String()[max(loc[0]-80, 0):loc[1]])
		}
	}
	filepath.WalkDir(sc.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(path)
		if err == nil && pinPattern.Match(b) {
			t.Errorf("%s holds the PIN", path)
		}
		return nil
	})
}
