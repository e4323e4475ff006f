package hub

import (
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/mynagate/mynagate/sync/uplink"
)

// Handler serves the dashboard: "/" (HTML, Japanese; English with ?lang=en),
// "/api/live" (server-sent events when its data changed), "/api/view" (JSON)
// and "/metrics" (Prometheus text format), where everything shown is counts,
// versions and ages; and the records: "/api/events" (paged events, with service ids and
// card keys, never names) and "/api/counts" (entries and exits per gate per
// interval).
func (h *Hub) Handler() http.Handler {
	mux := http.NewServeMux()
	sb := &siteBanners{path: filepath.Join(h.cfg.DataDir, "lists.db"), zone: h.cfg.Zone}
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { h.serveHTML(w, r, sb) })
	mux.HandleFunc("GET /api/view", h.serveJSON)
	mux.HandleFunc("GET /api/events", h.serveEvents)
	mux.HandleFunc("GET /api/counts", h.serveCounts)
	mux.HandleFunc("GET /api/live", h.serveLive)
	mux.Handle("GET /metrics", newMetrics(h.store.View, h.refused.snapshot, h.log).Handler())
	h.officeRoutes(mux)
	return mux
}

func (h *Hub) serveJSON(w http.ResponseWriter, _ *http.Request) {
	v, err := h.store.View()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// gateRow is one dashboard row, derived from a GateView.
type gateRow struct {
	Site, Gate string
	// Link is "online", "offline since ..." or "no status yet"; Down marks
	// the last two for the eye.
	Link                   string
	Down                   bool
	Events, Admits, Denies uint64
	Offline, Dups          uint64
	Missing                uint64
	Conflicts              uint64
	// Backlog is the gate's reported backlog, "?" when its last status is
	// the broker's will, which cannot know it.
	Backlog      string
	OldestUnsent string
	Lists        []note
	// Health is each part the gate reports ("journal: ok", "printer: paper
	// out") and a full outbox.
	Health     []note
	LastStatus string
	Software   string
}

// note is one line of a cell; Bad marks what needs the operator: a list behind
// the published version, a part not "ok".
type note struct {
	Text string
	Bad  bool
}

// ago renders how long before now t was, to the second.
func ago(l lang, now, t time.Time) string {
	return fmt.Sprintf(l.s("%s ago"), now.Sub(t).Round(time.Second))
}

func rows(v View, l lang, zone func(site string) *time.Location) []gateRow {
	published := map[string]uint64{} // site/list -> latest version
	for _, li := range v.Lists {
		published[li.Site+"/"+li.List] = li.Version
	}
	var out []gateRow
	for _, g := range v.Gates {
		r := gateRow{Site: g.Site, Gate: g.Gate, Events: g.Events, Admits: g.Admits, Denies: g.Denies,
			Offline: g.Offline, Dups: g.Duplicates, Conflicts: g.Conflicts, Link: l.s("no status yet"), Down: true}
		if g.MaxSeq > g.Events {
			r.Missing = g.MaxSeq - g.Events
		}
		if g.Status == nil {
			out = append(out, r)
			continue
		}
		r.LastStatus = ago(l, v.At, g.Status.ReceivedAt)
		var st uplink.Status
		if json.Unmarshal(g.Status.Status, &st) != nil {
			r.Link = l.s("status unreadable")
			out = append(out, r)
			continue
		}
		r.Down = !st.Online
		if st.Online {
			r.Link = l.s("online")
		} else {
			// The offline status arrives when the gate goes: a clean
			// disconnect or the broker's will.
			r.Link = fmt.Sprintf(l.s("offline since %s (%s)"), l.stamp(g.Status.ReceivedAt.In(zone(g.Site))), ago(l, v.At, g.Status.ReceivedAt))
		}
		r.Backlog = fmt.Sprint(st.Backlog)
		if !st.Online && st.Clock.IsZero() {
			r.Backlog = "?"
		}
		if st.Backlog > 0 {
			r.OldestUnsent = (time.Duration(st.OldestUnsentS) * time.Second).String()
		}
		names := make([]string, 0, len(st.Lists))
		for name := range st.Lists {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			ls := st.Lists[name]
			c := note{Text: fmt.Sprintf("%s v%d", name, ls.Version)}
			if !ls.AppliedAt.IsZero() {
				c.Text += fmt.Sprintf(l.s(", applied %s"), ago(l, v.At, ls.AppliedAt))
			}
			if hub := published[g.Site+"/"+name]; hub > ls.Version {
				c.Text += fmt.Sprintf(l.s(", hub has v%d"), hub)
				c.Bad = true
			}
			r.Lists = append(r.Lists, c)
		}
		parts := make([]string, 0, len(st.Health))
		for part := range st.Health {
			parts = append(parts, part)
		}
		sort.Strings(parts)
		for _, part := range parts {
			r.Health = append(r.Health, note{Text: part + ": " + st.Health[part], Bad: !healthOK(st.Health[part])})
		}
		if st.OutboxFull {
			r.Health = append(r.Health, note{Text: l.s("outbox: full, taps cannot be recorded"), Bad: true})
		}
		r.Software = st.Software
		out = append(out, r)
	}
	return out
}

// page needs nothing but itself: no external assets; its one inline script
// listens to /api/live and redraws the page when the hub's data changes
// (without scripts it reloads every 10 s). Below 900 px the gate table turns
// into one card per gate, so that a tablet does not scroll sideways.
var page = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="{{.L.Code}}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<noscript><meta http-equiv="refresh" content="10"></noscript>
<title>{{if .Down}}{{.Down}} {{call $.T "down"}} · {{end}}{{call $.T "MynaGate hub"}}</title>
<style>body{font-family:sans-serif;margin:1em}table{border-collapse:collapse;margin-bottom:1.5em;font-size:.9em}
td,th{border:1px solid #ccc;padding:.2em .5em;text-align:right}th{background:#eee}.l{text-align:left}.bad{color:#b00;font-weight:bold}
nav{float:right}.banner{background:#b00;color:#fff;padding:.6em 1em;margin:.5em 0;font-size:1.1em}.warn{background:#ff0;color:#000;padding:0 .3em}
.chart{width:100%;max-width:600px;height:auto;display:block}.admit{fill:#2a7}.deny{fill:#c33}.inside{stroke:#36c}figure{margin:0 0 1em}
form label{margin-right:.6em}
@media (max-width:900px){#gates tr:first-child{display:none}#gates,#gates tbody,#gates tr,#gates td{display:block;width:auto}
#gates tr{border:1px solid #ccc;margin-bottom:.8em}#gates td{border:0;text-align:left}#gates td::before{content:attr(data-label) ": ";color:#555}}</style>
</head><body>
<nav><a href="?lang={{.Other.Code}}" hreflang="{{.Other.Code}}">{{.Other.Name}}</a></nav>
<main id="live">
<h1>{{call $.T "MynaGate hub"}}</h1>
{{range .Banners}}<div class="banner" role="alert" data-site="{{.Site}}"><strong>{{.Text}}</strong>{{if .Warning}}<br><span class="warn">⚠ {{.Warning}}</span>{{end}}</div>{{end}}
{{if .Busy}}<p class="l">{{call $.T "a list command holds lists.db: the emergency banners may be a moment old"}}</p>{{end}}
<p>{{.Now}} &middot; {{call $.T "gates"}} {{len .Rows}}, {{call $.T "not online"}} {{.Down}} &middot; {{call $.T "anti-passback conflicts"}}: {{.View.Conflicts}}</p>
<h2>{{call $.T "Sites"}}</h2>
<table id="sites"><tr><th class="l">{{call $.T "site"}}</th><th>{{call $.T "inside now"}}</th><th>{{call $.T "events"}}</th></tr>
{{range .View.Sites}}<tr><td class="l">{{.Site}}</td><td>{{.Inside}}</td><td>{{.Events}}</td></tr>{{end}}
</table>
<h2>{{call $.T "Gates"}}</h2>
<table id="gates"><tr>{{range .GateCols}}<th{{if .Left}} class="l"{{end}}>{{.Name}}</th>{{end}}</tr>
{{range .Rows}}{{$c := $.GateCols}}<tr><td class="l" data-label="{{(index $c 0).Name}}">{{.Site}}</td><td class="l" data-label="{{(index $c 1).Name}}">{{.Gate}}</td><td class="l{{if .Down}} bad{{end}}" data-label="{{(index $c 2).Name}}">{{.Link}}</td><td data-label="{{(index $c 3).Name}}">{{.Backlog}}</td><td data-label="{{(index $c 4).Name}}">{{.OldestUnsent}}</td><td class="l" data-label="{{(index $c 5).Name}}">{{template "notes" .Lists}}</td><td class="l" data-label="{{(index $c 6).Name}}">{{template "notes" .Health}}</td><td data-label="{{(index $c 7).Name}}">{{.Events}}</td><td data-label="{{(index $c 8).Name}}">{{.Admits}}</td><td data-label="{{(index $c 9).Name}}">{{.Denies}}</td><td data-label="{{(index $c 10).Name}}">{{.Offline}}</td><td data-label="{{(index $c 11).Name}}">{{.Dups}}</td><td data-label="{{(index $c 12).Name}}">{{.Missing}}</td><td data-label="{{(index $c 13).Name}}">{{.Conflicts}}</td><td data-label="{{(index $c 14).Name}}">{{.LastStatus}}</td><td class="l" data-label="{{(index $c 15).Name}}">{{.Software}}</td></tr>{{end}}
</table>
<h2>{{call $.T "Published lists"}}</h2>
<table id="lists"><tr><th class="l">{{call $.T "site"}}</th><th class="l">{{call $.T "list"}}</th><th>{{call $.T "version"}}</th><th class="l">{{call $.T "kind"}}</th><th>{{call $.T "created"}}</th></tr>
{{range .View.Lists}}<tr><td class="l">{{.Site}}</td><td class="l">{{.List}}</td><td>{{.Version}}</td><td class="l">{{.Kind}}</td><td>{{call $.Ago .Created}}</td></tr>{{end}}
</table>
<h2>{{call $.T "The last hour"}}</h2>
<h3>{{call $.T "Taps per minute (green admitted, red denied)"}}</h3>
{{range .Recent.Gates}}<figure><figcaption>{{.Site}}/{{.Gate}}: {{call $.T "taps"}} {{.Total}}, {{call $.T "denied"}} {{.Denied}}</figcaption>{{call $.SVGTaps .}}</figure>{{else}}<p>{{call $.T "no taps in the last hour"}}</p>{{end}}
<h3>{{call $.T "Deny reasons"}}</h3>
{{if .Recent.Reasons}}{{call $.SVGReasons .Recent.Reasons}}{{else}}<p>{{call $.T "no denials in the last hour"}}</p>{{end}}
<h3>{{call $.T "Inside over time"}}</h3>
{{range .Recent.Inside}}<figure><figcaption>{{.Site}}</figcaption>{{call $.SVGInside .}}</figure>{{end}}
<h2>{{call $.T "Events"}}</h2>
<form method="get"><input type="hidden" name="lang" value="{{.L.Code}}">
{{range .Filters}}<label>{{.Label}} <input name="{{.Name}}" value="{{.Value}}" size="10"></label>{{end}}<button>{{call $.T "filter"}}</button></form>
{{if .FilterErr}}<p class="bad">{{.FilterErr}}</p>{{end}}
<table id="events"><tr><th class="l">{{call $.T "time"}}</th><th class="l">{{call $.T "site"}}</th><th class="l">{{call $.T "gate"}}</th><th class="l">{{call $.T "lane"}}</th><th class="l">{{call $.T "kind"}}</th><th class="l">{{call $.T "decision"}}</th><th class="l">{{call $.T "reason"}}</th><th class="l">{{call $.T "assurance"}}</th><th class="l">{{call $.T "offline"}}</th></tr>
{{range .Recent.Table}}<tr><td class="l">{{.At.Format "15:04:05"}}</td><td class="l">{{.Site}}</td><td class="l">{{.Gate}}</td><td class="l">{{.Lane}}</td><td class="l" title="{{.Kind}}">{{call $.T (print .Kind)}}</td><td class="l{{if eq .Decision "deny"}} bad{{end}}" title="{{.Decision}}">{{call $.T (print .Decision)}}</td><td class="l">{{.Reason}}</td><td class="l">{{.Assurance}}</td><td class="l">{{if .Offline}}{{call $.T "yes"}}{{end}}</td></tr>{{end}}
</table>
</main>
<script>
// Redraw on every change the hub reports; after a reconnect, once anyway.
// Changes that come during a redraw make one more, not one each.
(function () {
  var busy = false, again = false;
  var redraw = function () {
    if (busy) { again = true; return; }
    busy = true;
    fetch(location.href, {cache: "no-store"}).then(function (r) { return r.text(); }).then(function (html) {
      var doc = new DOMParser().parseFromString(html, "text/html");
      document.getElementById("live").replaceWith(doc.getElementById("live"));
      document.title = doc.title;
    }).finally(function () {
      busy = false;
      if (again) { again = false; redraw(); }
    });
  };
  var es = new EventSource("/api/live");
  es.addEventListener("change", redraw);
  es.addEventListener("open", redraw);
})();
</script>
</body></html>
{{define "notes"}}{{range $i, $n := .}}{{if $i}}<br>{{end}}<span{{if .Bad}} class="bad"{{end}}>{{.Text}}</span>{{end}}{{end}}`))

// gateCols are the gate table's columns, in order.
var gateCols = []string{"site", "gate", "link", "backlog", "oldest unsent", "lists on the gate", "health", "events", "admitted", "denied",
	"decided offline", "duplicates", "not yet received", "conflicts", "last status", "software"}

// gateColsLeft are the gate table's left-aligned (text) columns.
var gateColsLeft = map[int]bool{0: true, 1: true, 2: true, 5: true, 6: true, 15: true}

func (h *Hub) serveHTML(w http.ResponseWriter, r *http.Request, sb *siteBanners) {
	v, err := h.store.View()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	l := langOf(r)
	bs, busy, err := sb.read(l)
	if err != nil {
		h.log.Warn("hub: dashboard: emergency banners", "err", err)
	}
	rs := rows(v, l, h.cfg.Zone)
	down := 0
	for _, r := range rs {
		if r.Down {
			down++
		}
	}
	zone := h.cfg.Zone("")
	tq, ferr := ParseEventQuery(r.URL.Query(), h.cfg.Zone(r.URL.Query().Get("site")))
	filterErr := ""
	if ferr != nil {
		filterErr, tq = ferr.Error(), EventQuery{}
	}
	tq.Since, tq.Until, tq.After = time.Time{}, time.Time{}, ""
	inside := map[string]int{}
	for _, s := range v.Sites {
		inside[s.Site] = s.Inside
	}
	rec, err := collectRecent(h.store, v.At, inside, tq, h.cfg.Zone)
	if err != nil {
		h.log.Warn("hub: dashboard: recent events", "err", err)
	}
	type filter struct{ Name, Label, Value string }
	var filters []filter
	for _, f := range []string{"site", "gate", "lane", "kind", "decision", "reason"} {
		filters = append(filters, filter{f, l.s(f), r.URL.Query().Get(f)})
	}
	type col struct {
		Name string
		Left bool
	}
	cols := make([]col, len(gateCols))
	for i, c := range gateCols {
		cols[i] = col{l.s(c), gateColsLeft[i]}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	data := struct {
		View       View
		Recent     recent
		Filters    []filter
		FilterErr  string
		SVGTaps    func(gateSeries) template.HTML
		SVGReasons func([]reasonCount) template.HTML
		SVGInside  func(siteSeries) template.HTML
		Banners    []banner
		Busy       bool
		Rows       []gateRow
		GateCols   []col
		Down       int
		Now        string
		L, Other   lang
		T          func(string) string
		Ago        func(time.Time) string
	}{v, rec, filters, filterErr,
		func(g gateSeries) template.HTML {
			return svgTaps(g, l.s("Taps per minute (green admitted, red denied)")+": "+g.Site+"/"+g.Gate)
		},
		func(rs []reasonCount) template.HTML { return svgReasons(rs, l.s("Deny reasons")) },
		func(s siteSeries) template.HTML { return svgInside(s, l.s("Inside over time")+": "+s.Site) },
		bs, busy, rs, cols, down, l.stamp(v.At.In(zone)) + " " + v.At.In(zone).Format("MST"), l, l.other(), l.s,
		func(t time.Time) string { return ago(l, v.At, t) }}
	if err := page.Execute(w, data); err != nil {
		h.log.Warn("hub: render dashboard", "err", err)
	}
}

// healthOK reports whether a gate's health value is fine: "ok", or "ok, " or
// "ok: " followed by a detail such as a list's expiry.
func healthOK(v string) bool {
	return v == "ok" || strings.HasPrefix(v, "ok, ") || strings.HasPrefix(v, "ok: ")
}
