package hub

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/mynagate/mynagate/event"
	"github.com/mynagate/mynagate/internal/browsertest"
	"github.com/mynagate/mynagate/internal/mqtttest"
	"github.com/mynagate/mynagate/internal/testenv"
)

// officeTotal is a JavaScript expression: the office page's total, "" before
// the page is there.
const officeTotal = `(document.getElementById('total')||{textContent:''}).textContent.trim()`

// officeInside is a JavaScript expression: the inside count of a shelter row.
func officeInside(place string) string {
	return fmt.Sprintf(`((document.querySelector('#places tr[data-place=%q] td.inside'))||{textContent:''}).textContent.trim()`, place)
}

// officeTap stores one shelter check-in at the hub and waits until the open
// office page shows the count change, returning how long that took.
func officeTap(t *testing.T, b *browsertest.Browser, st *Store, e *event.Event) time.Duration {
	t.Helper()
	before := b.Eval(officeInside(e.Place))
	start := time.Now()
	ingestAll(t, st, e)
	deadline := start.Add(30 * time.Second)
	for b.Eval(officeInside(e.Place)) == before {
		if time.Now().After(deadline) {
			t.Fatalf("the office page did not show the check-in within 30 s (still %s)", before)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start)
}

// TestOfficeLiveInBrowser keeps the office page open in headless Chromium: a
// check-in reaching the hub changes the shelter's count and the total on the
// open page without a reload; a screenshot of the Japanese page is kept.
func TestOfficeLiveInBrowser(t *testing.T) {
	chromium := testenv.LookPath(t, "chromium", "chromium")
	cfg := testConfig(t)
	cfg.HTTP = fmt.Sprintf("127.0.0.1:%d", mqtttest.FreePort(t))
	h := startHub(t, cfg)
	st := h.Store()
	now := time.Now().Add(-time.Hour)
	rel := func(e *event.Event) { e.At = now; now = now.Add(time.Minute) }
	ingestAll(t, st,
		stap(1, "es2-a", "es2", event.KindCheckin, "s:R-1", 0, rel),
		stap(2, "es2-a", "es2", event.KindCheckin, "c:unlisted", 0, rel),
		stap(1, "ms1-a", "ms1", event.KindCheckin, "m:0042", 0, rel, func(e *event.Event) { e.Note = "子ども・保護者同伴" }),
	)
	b := browsertest.Open(t, chromium, "http://"+cfg.HTTP+"/office?site=city", 1200)
	waitFor(t, "the office page", func() bool { return b.Eval(officeTotal) == "3" })
	b.Eval(`document.body.dataset.loaded = "1"`) // gone if the page reloads
	took := officeTap(t, b, st, stap(3, "es2-a", "es2", event.KindCheckin, "s:R-2", 0, rel))
	if got := b.Eval(officeTotal); got != "4" {
		t.Errorf("total %q after a check-in, want 4", got)
	}
	if got := b.Eval(officeInside("es2")); got != "3" {
		t.Errorf("es2 shows %q inside, want 3", got)
	}
	if b.Eval(`document.body.dataset.loaded || ""`) != "1" {
		t.Error("the page reloaded instead of redrawing")
	}
	if got := b.Eval(`document.querySelectorAll('table.roster tr.reconcile form.amend').length`); got != "1" {
		t.Errorf("%s to-reconcile rows with a form, want 1", got)
	}
	if got := b.Eval(`document.querySelectorAll('#occupancy polyline.place').length`); got != "2" {
		t.Errorf("%s lines on the occupancy chart, want one per shelter", got)
	}
	png := b.Screenshot()
	path := artefact(t, "office-ja.png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	checkScreenshot(t, path, 1200)
	t.Logf("check-in to the open office page: %s; screenshot %s", took, path)
}
