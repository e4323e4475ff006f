package hub

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"html"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mynagate/mynagate/event"
	"github.com/mynagate/mynagate/hub/hubtest"
	"github.com/mynagate/mynagate/internal/browsertest"
	"github.com/mynagate/mynagate/internal/mqtttest"
	"github.com/mynagate/mynagate/internal/testenv"
	"github.com/mynagate/mynagate/offline/whitelist"
	"github.com/mynagate/mynagate/sync/gateconfig"
	"github.com/mynagate/mynagate/sync/lists"
	"github.com/mynagate/mynagate/sync/outbox"
	"github.com/mynagate/mynagate/sync/uplink"
)

// browserGate is a gate's sync side as cmd/gateagent wires it: outbox, uplink
// reporting its whitelist version, and (when it listens) the list receiver.
type browserGate struct {
	ob *outbox.Outbox
	wl *whitelist.Store
	up *uplink.Uplink
	// account is the gate's broker account.
	account uplink.Config
	stop    func()
	seq     int
	// secrets are the card keys and service ids of its taps.
	secrets []string
}

func startBrowserGate(t *testing.T, cfg *Config, gate string, receiveLists bool, health map[string]string) *browserGate {
	t.Helper()
	dir := t.TempDir()
	ob, err := outbox.Open(filepath.Join(dir, "outbox.db"), outbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ob.Close() })
	wl, err := whitelist.Open(filepath.Join(dir, "wl.db"), whitelist.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { wl.Close() })
	acct := gateAccount(t, cfg, "stadium", gate)
	uc := acct
	uc.SoftwareVersion, uc.StatusInterval = "mynagate test", 200*time.Millisecond
	uc.Lists = func() map[string]uplink.ListStatus {
		st, err := wl.Stats()
		if err != nil {
			return nil
		}
		return map[string]uplink.ListStatus{"whitelist": {Version: st.Version, AppliedAt: st.AppliedAt}}
	}
	uc.Health = func() map[string]string { return health }
	up, err := uplink.New(uc, ob, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if receiveLists {
		recv, err := lists.NewReceiver(lists.ReceiverConfig{Prefix: cfg.Prefix, Site: "stadium",
			Keys: []ed25519.PublicKey{signKey.Public().(ed25519.PublicKey)}, Lists: map[string]lists.Applier{"whitelist": wl}})
		if err != nil {
			t.Fatal(err)
		}
		if err := up.Handle(lists.Filter(cfg.Prefix, "stadium"), recv.Handle); err != nil {
			t.Fatal(err)
		}
		go recv.Run(ctx)
	}
	done := make(chan struct{})
	go func() { up.Run(ctx); close(done) }()
	g := &browserGate{ob: ob, wl: wl, up: up, account: acct}
	g.stop = func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Fatal("uplink did not stop within 30 s")
		}
	}
	t.Cleanup(g.stop)
	return g
}

// tap records one decision in the gate's outbox, with a card key and a
// service id the dashboard must never show.
func (g *browserGate) tap(t *testing.T, gate string, d event.Decision, offline bool) {
	t.Helper()
	g.seq++
	e := tap(g.seq, gate, event.KindEntry, time.Now())
	e.ServiceID = fmt.Sprintf("TICKET-%s-%d", gate, g.seq)
	e.Card = key(100 + g.seq).String()
	e.Decision, e.Offline = d, offline
	if d == event.Deny {
		e.Reason = event.ReasonNotListed
	}
	g.secrets = append(g.secrets, e.Card, e.ServiceID)
	if err := g.ob.Append(context.Background(), e); err != nil {
		t.Fatal(err)
	}
}

// TestDashboardInBrowser runs the hub with two real gates and reads the
// dashboard in headless Chromium: the central operator sees each gate's link
// state (with "offline since"), backlog, list version against the published
// one, and counts; the page holds no card key or service id, loads nothing
// from elsewhere and refreshes itself.
func TestDashboardInBrowser(t *testing.T) {
	chromium := testenv.LookPath(t, "chromium", "chromium")
	cfg := testConfig(t)
	cfg.HTTP = fmt.Sprintf("127.0.0.1:%d", mqtttest.FreePort(t))
	h := startHub(t, cfg)

	// The site's whitelist v1 is enrolled and published before the gates run.
	m, p := enrolTickets(t, cfg, 3, "TICKET-L-")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := m.Publish(ctx, p, signKey, "stadium", "whitelist", PublishOptions{Prefix: cfg.Prefix}); err != nil {
		t.Fatal(err)
	}

	// g1 applies the list and stays online: three admitted, one denied.
	g1 := startBrowserGate(t, cfg, "g1", true, map[string]string{"journal": "ok", "printer": "paper out"})
	waitFor(t, "whitelist v1 on g1", func() bool { return g1.wl.Version() == 1 })
	for _, d := range []event.Decision{event.Admit, event.Admit, event.Deny, event.Admit} {
		g1.tap(t, "g1", d, false)
	}
	// g2 does not listen for lists, sends two taps, then goes away cleanly
	// and records three more while gone.
	g2 := startBrowserGate(t, cfg, "g2", false, map[string]string{"journal": "ok"})
	g2.tap(t, "g2", event.Admit, false)
	g2.tap(t, "g2", event.Admit, false)
	waitFor(t, "g2's two events at the hub", func() bool { return gateStats(t, h, "g2").Events == 2 })
	waitFor(t, "g2's receipts for them", func() bool { n, _ := g2.ob.Backlog(); return n == 0 })
	g2.stop()
	for range 3 {
		g2.tap(t, "g2", event.Admit, true)
	}
	// A gate cannot report while it is gone. Its offline status as its own
	// uplink makes it now (what a clean shutdown with taps queued sends)
	// pins the backlog the hub shows.
	st := g2.up.CurrentStatus()
	if st.Online || st.Backlog != 3 {
		t.Fatalf("g2 status %+v: want offline with a backlog of 3", st)
	}
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	hubtest.Publish(t, g2.account, g2.up.StatusTopic(), b, true)

	waitFor(t, "the hub to have both gates' events, statuses and the list", func() bool {
		v, err := h.Store().View()
		if err != nil || len(v.Lists) != 1 {
			return false
		}
		var s1, s2 uplink.Status
		g1v, g2v := gateStats(t, h, "g1"), gateStats(t, h, "g2")
		return g1v.Events == 4 && g2v.Events == 2 && g1v.Status != nil && g2v.Status != nil &&
			json.Unmarshal(g1v.Status.Status, &s1) == nil && s1.Online && s1.Lists["whitelist"].Version == 1 &&
			json.Unmarshal(g2v.Status.Status, &s2) == nil && !s2.Online && s2.Backlog == 3
	})

	shot := artefact(t, "dashboard-en-1400.png")
	dom := runChromium(t, chromium, "--dump-dom", "--screenshot="+shot, "--window-size=1400,700", "--hide-scrollbars",
		"http://"+cfg.HTTP+"/?lang=en")

	const ago = `\d+s ago`
	gates := tableRows(t, dom, "gates")
	for _, tc := range []struct {
		gate string
		want map[string]string // column -> the cell's text, a regexp
	}{
		{"g1", map[string]string{"site": "stadium", "link": "online", "backlog": "0", "oldest unsent": "",
			"lists on the gate": "whitelist v1, applied " + ago, "health": "journal: ok; printer: paper out", "events": "4", "admitted": "3", "denied": "1",
			"decided offline": "0", "duplicates": "0", "not yet received": "0", "last status": ago, "software": "mynagate test"}},
		{"g2", map[string]string{"site": "stadium", "link": `offline since [A-Z][a-z]{2} \d{1,2} \d\d:\d\d:\d\d \(` + ago + `\)`,
			"backlog": "3", "oldest unsent": `\d+s`, "lists on the gate": "whitelist v0, hub has v1", "health": "journal: ok", "events": "2", "admitted": "2",
			"denied": "0", "not yet received": "0", "last status": ago}},
	} {
		row, ok := gates[tc.gate]
		if !ok {
			t.Errorf("gate %s not on the page; gates: %v", tc.gate, gates)
			continue
		}
		for col, want := range tc.want {
			if got, ok := row[col]; !ok || !regexp.MustCompile("^"+want+"$").MatchString(got) {
				t.Errorf("gate %s, column %q: got %q, want %q", tc.gate, col, got, want)
			}
		}
	}
	sites := tableRows(t, dom, "sites")
	if s := sites["stadium"]; s["inside now"] != "5" || s["events"] != "6" {
		t.Errorf("site row %v: want 5 inside (g1's three, g2's two received) and 6 events", s)
	}
	if l := tableRows(t, dom, "lists")["stadium"]; l["list"] != "whitelist" || l["version"] != "1" || !strings.Contains(l["created"], "s ago") {
		t.Errorf("published list row %v", l)
	}

	secrets := append(g1.secrets, g2.secrets...)
	for i := range 3 { // the enrolled list entries
		secrets = append(secrets, key(i).String(), fmt.Sprintf("TICKET-L-%d", i))
	}
	for _, s := range secrets {
		if strings.Contains(strings.ToLower(dom), strings.ToLower(s)) {
			t.Errorf("the page shows %s, a card key or service id", s)
		}
	}
	if m := regexp.MustCompile(`(?i)(src|href|action)\s*=\s*"?\s*(https?:)?//|url\(|@import|<script[^>]*\ssrc`).FindString(dom); m != "" {
		t.Errorf("the page loads something (%q): it must work without external assets", m)
	}
	if !strings.Contains(dom, `new EventSource("/api/live")`) || !regexp.MustCompile(`<noscript><meta http-equiv="refresh" content="\d+"></noscript>`).MatchString(dom) {
		t.Error("the page neither listens for changes nor, without scripts, refreshes itself")
	}
	checkScreenshot(t, shot, 1400)
	t.Logf("screenshot %s", shot)

	// Charts of the last hour, drawn by the hub, and the event table.
	for _, want := range []string{`<svg id="taps-stadium-g1"`, `<svg id="taps-stadium-g2"`, `<svg id="reasons"`, `<svg id="inside-stadium"`} {
		if !strings.Contains(dom, want) {
			t.Errorf("the page lacks %s", want)
		}
	}
	g1Chart := dom[strings.Index(dom, `<svg id="taps-stadium-g1"`):]
	g1Chart = g1Chart[:strings.Index(g1Chart, "</svg>")]
	if strings.Count(g1Chart, `class="deny"`) != 1 || !strings.Contains(g1Chart, `class="admit"`) {
		t.Errorf("g1's chart has no admitted bar or not one denied bar:\n%s", g1Chart)
	}
	if !regexp.MustCompile(`<svg id="reasons"[^>]*>.*not_listed.*</svg>`).MatchString(dom) {
		t.Error("the deny reasons chart lacks not_listed")
	}
	if n := strings.Count(eventsTable(t, dom), "<tr>"); n != 1+6 {
		t.Errorf("event table: %d rows, want a header and the 6 events the hub has", n)
	}
	denied := runChromium(t, chromium, "--dump-dom", "http://"+cfg.HTTP+"/?lang=en&decision=deny&gate=g1")
	if tb := eventsTable(t, denied); strings.Count(tb, "<tr>") != 2 || !strings.Contains(tb, "not_listed") {
		t.Errorf("event table filtered to g1's denials:\n%s", tb)
	}

	// The disaster office declares an emergency at the stadium, whose gates
	// have no fallback level: the banner says it changes nothing.
	if _, err := m.PublishConfig(context.Background(), p, signKey, "stadium", gateconfig.Doc{Emergency: true, EmergencyUntil: ptr(time.Now().Add(time.Hour).UTC().Truncate(time.Second)), Fallback: []string{}}, PublishOptions{Prefix: cfg.Prefix}); err != nil {
		t.Fatal(err)
	}
	m.Close()

	// By default the page is in Japanese, and fits an 800 px tablet: the
	// gate table becomes one card per gate.
	shot = artefact(t, "dashboard-ja-800.png")
	dom = runChromium(t, chromium, "--dump-dom", "--screenshot="+shot, "--window-size=800,2600", "--hide-scrollbars", "http://"+cfg.HTTP+"/")
	if !strings.Contains(dom, `<html lang="ja">`) || !strings.Contains(dom, `hreflang="en"`) {
		t.Error("the page is not in Japanese by default or offers no English")
	}
	ja := tableRows(t, dom, "gates")
	if g := ja["g1"]; g["接続"] != "接続中" || g["許可"] != "3" || g["拒否"] != "1" || !regexp.MustCompile(`^whitelist v1、適用 \d+s前$`).MatchString(g["ゲートのリスト"]) {
		t.Errorf("Japanese gate row g1: %v", g)
	}
	if g := ja["g2"]; !regexp.MustCompile(`^\d+月\d+日 \d\d:\d\d:\d\d から切断`).MatchString(g["接続"]) {
		t.Errorf("Japanese gate row g2: %v", g)
	}
	// The event table names kinds and decisions in Japanese, each with its
	// code (what the filters take) as the title; reasons stay codes.
	if tb := eventsTable(t, dom); !strings.Contains(tb, `<td class="l" title="entry">入場</td>`) ||
		!strings.Contains(tb, `<td class="l bad" title="deny">拒否</td><td class="l">not_listed</td>`) || !strings.Contains(tb, `title="admit">許可</td>`) {
		t.Errorf("Japanese event table:\n%s", tb)
	}
	if s := tableRows(t, dom, "sites")["stadium"]; s["現在の入場者"] != "5" {
		t.Errorf("Japanese site row: %v", s)
	}
	if !regexp.MustCompile(`(?s)<div class="banner" role="alert" data-site="stadium"><strong>緊急事態宣言中 \(stadium\)[^<]*</strong><br><span class="warn">⚠ この宣言では何も変わりません`).MatchString(dom) {
		t.Errorf("no emergency banner warning that the declaration changes nothing:\n%s", dom)
	}
	if !regexp.MustCompile(`緊急事態宣言中 \(stadium\)[^<]*\(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+09:00 まで\)`).MatchString(dom) {
		t.Error("the emergency banner's end is not in the site's zone (Asia/Tokyo)")
	}
	checkScreenshot(t, shot, 800)
	t.Logf("screenshot %s", shot)

	// Nothing scrolls sideways on the tablet: the laid-out page is no wider
	// than its 800 px window.
	tablet := browsertest.Open(t, chromium, "http://"+cfg.HTTP+"/", 800)
	waitFor(t, "the page at 800 px", func() bool {
		return tablet.Eval(`document.readyState === "complete" && document.querySelectorAll("#gates tr").length > 1`) == "true"
	})
	// The page's width (scrollWidth) within the window's (innerWidth) less a
	// vertical scroll bar (clientWidth).
	inner, _ := strconv.Atoi(tablet.Eval(`window.innerWidth + ""`))
	client, _ := strconv.Atoi(tablet.Eval(`document.documentElement.clientWidth + ""`))
	scroll, _ := strconv.Atoi(tablet.Eval(`document.documentElement.scrollWidth + ""`))
	if inner != 800 || scroll > 800 || scroll > client {
		t.Errorf("at 800 px: window %d px wide, %d px inside its scroll bar, page %d px: want a page no wider than what shows", inner, client, scroll)
	}
}

// eventsTable returns the event table of a serialized DOM.
func eventsTable(t *testing.T, dom string) string {
	t.Helper()
	start := strings.Index(dom, `<table id="events">`)
	if start < 0 {
		t.Fatal("no event table on the page")
	}
	end := strings.Index(dom[start:], "</table>")
	return dom[start : start+end]
}

// artefact returns where a test keeps a file for people to look at: under
// $MYNAGATE_ARTEFACTS (scripts/test sets it to the repository's artefacts/
// directory, so the file outlives the run) or else the test's temporary
// directory, removed when the test ends.
func artefact(t *testing.T, name string) string {
	t.Helper()
	dir := os.Getenv("MYNAGATE_ARTEFACTS")
	if dir == "" {
		return filepath.Join(t.TempDir(), name)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, name)
}

// runChromium loads a page in headless Chromium with a throwaway profile and
// returns what it prints (the DOM with --dump-dom). The browser and its
// helpers run in their own process group, killed if they outlive 2 minutes
// (a loaded CI box takes a while to start a browser; the limit only stops a
// hung one).
func runChromium(t *testing.T, bin string, args ...string) string {
	t.Helper()
	home := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
		"--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + filepath.Join(home, "profile")}, args...)...)
	// HOME keeps its crash-report and dconf folders out of the real home.
	cmd.Env = append(os.Environ(), "HOME="+home)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 2 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // helpers left behind, if any
	}
	if err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, stderr.Bytes())
	}
	return stdout.String()
}

var (
	tableRow  = regexp.MustCompile(`(?s)<tr[^>]*>(.*?)</tr>`)
	tableCell = regexp.MustCompile(`(?s)<t[hd][^>]*>(.*?)</t[hd]>`)
	markup    = regexp.MustCompile(`<[^>]*>`)
)

// tableRows reads the table with the given id from a serialized DOM: its
// header row names the columns, and each further row is keyed by its first
// cell's text; for the gates table, whose first column is the site, by the
// second (the gate).
func tableRows(t *testing.T, dom, id string) map[string]map[string]string {
	t.Helper()
	start := strings.Index(dom, `<table id="`+id+`"`)
	if start < 0 {
		t.Fatalf("no table %q in the page:\n%s", id, dom)
	}
	end := strings.Index(dom[start:], "</table>")
	if end < 0 {
		t.Fatalf("table %q not closed", id)
	}
	keyCol := 0
	if id == "gates" {
		keyCol = 1
	}
	var header []string
	out := map[string]map[string]string{}
	for _, tr := range tableRow.FindAllStringSubmatch(dom[start:start+end], -1) {
		var cells []string
		for _, td := range tableCell.FindAllStringSubmatch(tr[1], -1) {
			text := html.UnescapeString(markup.ReplaceAllString(strings.ReplaceAll(td[1], "<br>", "; "), ""))
			cells = append(cells, strings.Join(strings.Fields(text), " "))
		}
		if header == nil {
			header = cells
			continue
		}
		if len(cells) != len(header) {
			t.Fatalf("table %q: row %v does not match header %v", id, cells, header)
		}
		row := map[string]string{}
		for i, c := range cells {
			row[header[i]] = c
		}
		out[cells[keyCol]] = row
	}
	return out
}

// checkScreenshot makes sure Chromium rendered something: a PNG of the window's
// width that is more than a blank page.
func checkScreenshot(t *testing.T, path string, width int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("screenshot is not a PNG: %v", err)
	}
	if w := img.Bounds().Dx(); w != width || len(b) < 20_000 {
		t.Fatalf("screenshot %d px wide, %d bytes: want %d px and a rendered page", w, len(b), width)
	}
}

// TestDashboardRows pins how a gate's stats and last status become a row:
// the cases the browser test does not reach.
func TestDashboardRows(t *testing.T) {
	at := time.Date(2026, 12, 1, 18, 0, 0, 0, time.Local)
	status := func(st uplink.Status) *GateStatus {
		b, err := json.Marshal(st)
		if err != nil {
			t.Fatal(err)
		}
		return &GateStatus{Status: b, ReceivedAt: at.Add(-time.Minute)}
	}
	wl := func(v uint64) map[string]uplink.ListStatus {
		return map[string]uplink.ListStatus{"whitelist": {Version: v, AppliedAt: at.Add(-time.Hour)}}
	}
	for _, tc := range []struct {
		name   string
		gate   GateView
		want   gateRow
		listed []note
		health []note
	}{
		{name: "no status yet", gate: GateView{GateStats: GateStats{Events: 7, MaxSeq: 10}},
			want: gateRow{Link: "no status yet", Down: true, Events: 7, Missing: 3}},
		{name: "unreadable status", gate: GateView{Status: &GateStatus{Status: json.RawMessage(`"up"`), ReceivedAt: at}},
			want: gateRow{Link: "status unreadable", Down: true, LastStatus: "0s ago"}},
		{name: "online on the published version",
			gate:   GateView{Status: status(uplink.Status{Online: true, Clock: at, Lists: wl(2), Software: "v1"})},
			want:   gateRow{Link: "online", Backlog: "0", LastStatus: "1m0s ago", Software: "v1"},
			listed: []note{{Text: "whitelist v2, applied 1h0m0s ago"}}},
		{name: "online behind the published version, draining",
			gate: GateView{Status: status(uplink.Status{Online: true, Clock: at, Backlog: 40, OldestUnsentS: 95.5, Lists: wl(1),
				Health: map[string]string{"printer": "paper out", "journal": "ok"}})},
			want:   gateRow{Link: "online", Backlog: "40", OldestUnsent: "1m35s", LastStatus: "1m0s ago"},
			listed: []note{{Text: "whitelist v1, applied 1h0m0s ago, hub has v2", Bad: true}},
			health: []note{{Text: "journal: ok"}, {Text: "printer: paper out", Bad: true}}},
		{name: "clean shutdown with a backlog",
			gate:   GateView{Status: status(uplink.Status{Clock: at.Add(-time.Minute), Backlog: 3, OldestUnsentS: 4, OutboxFull: true})},
			want:   gateRow{Link: "offline since " + at.Add(-time.Minute).Format("Jan 2 15:04:05") + " (1m0s ago)", Down: true, Backlog: "3", OldestUnsent: "4s", LastStatus: "1m0s ago"},
			health: []note{{Text: "outbox: full, taps cannot be recorded", Bad: true}}},
		{name: "vanished: the broker's will knows no backlog",
			gate: GateView{Status: status(uplink.Status{Software: "v1"})},
			want: gateRow{Link: "offline since " + at.Add(-time.Minute).Format("Jan 2 15:04:05") + " (1m0s ago)", Down: true, Backlog: "?", LastStatus: "1m0s ago", Software: "v1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.gate.Site, tc.gate.Gate = "stadium", "g1"
			tc.want.Site, tc.want.Gate, tc.want.Lists, tc.want.Health = "stadium", "g1", tc.listed, tc.health
			got := rows(View{Gates: []GateView{tc.gate}, At: at,
				Lists: []ListInfo{{Site: "stadium", List: "whitelist", Version: 2}, {Site: "elsewhere", List: "whitelist", Version: 9}}},
				langEN, func(string) *time.Location { return time.Local })
			if len(got) != 1 || fmt.Sprintf("%+v", got[0]) != fmt.Sprintf("%+v", tc.want) {
				t.Fatalf("row\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// dashboardTap records a tap at the gate and waits until the page open in
// the browser shows it: the gate's event count and its chart's bars. It
// returns how long that took from the tap's record on the gate.
func dashboardTap(t *testing.T, b *browsertest.Browser, g *browserGate, d event.Decision) time.Duration {
	t.Helper()
	class := map[event.Decision]string{event.Admit: "admit", event.Deny: "deny"}[d]
	events, bars := b.Eval(gateCell("g1", 7)), b.Eval(chartSum("taps-stadium-g1", class))
	start := time.Now()
	g.tap(t, "g1", d, false)
	deadline := start.Add(30 * time.Second)
	for b.Eval(gateCell("g1", 7)) == events || b.Eval(chartSum("taps-stadium-g1", class)) == bars {
		if time.Now().After(deadline) {
			t.Fatalf("the open page did not show the tap within 30 s (events %s, %s bars %s)", events, class, bars)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start)
}

// TestDashboardLiveInBrowser keeps the dashboard open in headless Chromium:
// a tap at a gate changes the gate's count and chart on the open page, with
// no reload, pushed by the hub.
func TestDashboardLiveInBrowser(t *testing.T) {
	chromium := testenv.LookPath(t, "chromium", "chromium")
	cfg := testConfig(t)
	cfg.HTTP = fmt.Sprintf("127.0.0.1:%d", mqtttest.FreePort(t))
	h := startHub(t, cfg)
	g1 := startBrowserGate(t, cfg, "g1", false, map[string]string{"journal": "ok"})
	g1.tap(t, "g1", event.Admit, false)
	waitFor(t, "the first tap at the hub", func() bool { return gateStats(t, h, "g1").Events == 1 })

	b := browsertest.Open(t, chromium, "http://"+cfg.HTTP+"/?lang=en", 1200)
	waitFor(t, "the page", func() bool { return b.Eval(gateCell("g1", 7)) == "1" })
	b.Eval(`document.body.dataset.loaded = "1"`) // gone if the page reloads
	took := dashboardTap(t, b, g1, event.Deny)
	if got := b.Eval(gateCell("g1", 9)); got != "1" {
		t.Errorf("denied cell %q after a denial", got)
	}
	if b.Eval(`document.body.dataset.loaded || ""`) != "1" {
		t.Error("the page reloaded instead of redrawing")
	}
	t.Logf("tap to the open page: %s", took)
}
