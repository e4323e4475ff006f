package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mynagate/mynagate/internal/browsertest"
	"github.com/mynagate/mynagate/internal/taptest"
	"github.com/mynagate/mynagate/internal/testenv"
	"github.com/mynagate/mynagate/kiosk"
)

// TestKioskPage is the example kiosk page as a box office would use it, in
// headless Chromium: the clerk types the order and seat, the buyer touches
// the card, mistypes the PIN on the page's keypad (the try is counted), taps
// again and enters it right; the page says the seat is registered, and the
// entry gate admits the card a few seconds later.
func TestKioskPage(t *testing.T) {
	sc := startKioskScene(t)
	chromium := testenv.LookPath(t, "chromium", "chromium")
	url := strings.TrimSpace(run(t, sc.gateagent, "kiosk", "url", "--config", sc.kioskCfg))
	if !strings.Contains(url, "/kiosk/#") || !strings.Contains(url, "token="+sc.token) || !strings.Contains(url, "lane=counter") {
		t.Fatalf("kiosk url: %s", url)
	}
	b := browsertest.Open(t, chromium, url, 800)
	waitFor(t, "the page connected to its stream", 30*time.Second, func() bool {
		return b.Eval(`document.getElementById('conn').dataset.connected || ''`) == "1"
	})
	b.Eval(`document.getElementById('service-id').value = 'ORD-90'; document.getElementById('seats').value = 'D-4';
		document.getElementById('bind').click(); 'ok'`)
	waitFor(t, "the page shows the order waiting", 10*time.Second, func() bool {
		return strings.Contains(b.Eval(`document.getElementById('pending').textContent`), "ORD-90 D-4")
	})
	c := card(t, "card-005.json", 3)
	pinShown := func(tries string) func() bool {
		return func() bool {
			return b.Eval(`document.getElementById('pin-panel').hidden`) == "false" &&
				strings.Contains(b.Eval(`document.getElementById('tries').textContent`), tries+" tries left")
		}
	}
	typePIN := func(pin string) {
		t.Helper()
		for _, d := range pin {
			b.Eval(fmt.Sprintf(`[...document.querySelectorAll('#keypad button')].find(k => k.textContent === %q).click(); 'ok'`, string(d)))
		}
		b.Eval(`document.getElementById('pin-ok').click(); 'ok'`)
	}
	latest := func() string {
		return b.Eval(`(() => { const li = document.querySelector('#results li'); return li ? li.dataset.outcome + ' ' + li.dataset.reason + ' ' + li.textContent : ''; })()`)
	}

	remove := taptest.PresentCard(t, sc.slots[0], c)
	waitFor(t, "the PIN pad with 3 tries", 20*time.Second, pinShown("3"))
	typePIN("0000")
	waitFor(t, "the wrong PIN said", 20*time.Second, func() bool { return strings.HasPrefix(latest(), "denied pin_wrong 暗証番号が違います") })
	remove()

	remove = taptest.PresentCard(t, sc.slots[0], c)
	waitFor(t, "the PIN pad with 2 tries", 20*time.Second, pinShown("2"))
	typePIN(kioskPIN)
	waitFor(t, "the seat registered", 20*time.Second, func() bool {
		l := latest()
		return strings.HasPrefix(l, "enrolled admit 登録しました: ORD-90 (席 D-4)") && strings.Contains(l, "Registered: ORD-90 (seat D-4)")
	})
	remove()
	if w := b.Eval(`document.documentElement.scrollWidth <= document.documentElement.clientWidth`); w != "true" {
		t.Errorf("the page scrolls sideways at 800 px")
	}
	if dir := os.Getenv("MYNAGATE_ARTEFACTS"); dir != "" {
		shot := filepath.Join(dir, "kiosk-page.png")
		if err := os.WriteFile(shot, b.Screenshot(), 0o644); err != nil {
			t.Fatalf("keep the kiosk page's screenshot: %v", err)
		}
		t.Logf("screenshot %s", shot)
	}
	waitFor(t, "the card admitted at the gate", 30*time.Second, func() bool { return sc.gateTapAdmits(t, c) })
}

// TestBenchEnrolToAdmit measures enrol_to_admit_s: a card enrolled at the
// kiosk (the result on its screen) until the entry gate admits it, the
// holder walking straight over: hub, list delta, gate, tap.
func TestBenchEnrolToAdmit(t *testing.T) {
	if os.Getenv("MYNAGATE_BENCH") != "1" {
		t.Skip("benchmark; set MYNAGATE_BENCH=1")
	}
	sc := startKioskScene(t)
	scr := sc.openScreen(t)
	var took []time.Duration
	for i, profile := range []string{"card-001.json", "card-002.json", "card-003.json", "card-004.json", "card-005.json"} {
		sc.mustCall(t, kiosk.OpBind, map[string]any{"lane": "counter", "service_id": fmt.Sprintf("B-%d", i), "seats": []string{"S-1"}})
		c := card(t, profile, 3)
		before := metric(sc.gateMetrics, "mynagate_list_version", `list="whitelist"`)
		remove := taptest.PresentCard(t, sc.slots[0], c)
		scr.next(t, kiosk.MsgPIN, kiosk.MsgResult)
		sc.mustCall(t, kiosk.OpPIN, map[string]string{"lane": "counter", "pin": kioskPIN})
		if res := scr.next(t, kiosk.MsgResult); res.Outcome != kiosk.OutcomeEnrolled {
			t.Fatalf("enrol %s: %+v", profile, res)
		}
		start := time.Now()
		remove()
		waitFor(t, "the delta at the gate", 30*time.Second, func() bool {
			return metric(sc.gateMetrics, "mynagate_list_version", `list="whitelist"`) > before
		})
		if !sc.gateTapAdmits(t, c) {
			t.Fatalf("%s not admitted after its delta", profile)
		}
		took = append(took, time.Since(start))
	}
	slices.Sort(took)
	fmt.Printf("BENCH enrol_to_admit_s %.2f s p50 of %d cards, max %.2f s: kiosk result -> hub (lists.db) -> signed delta -> gate applies -> card presented at the gate and admitted\n",
		took[len(took)/2].Seconds(), len(took), took[len(took)-1].Seconds())
}
