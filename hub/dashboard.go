package hub

import (
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/mynagate/mynagate/sync/uplink"
)

// Handler serves the dashboard: "/" (HTML), "/api/view" (JSON) and "/metrics"
// (Prometheus text format), where everything shown is counts, versions and
// ages; and the records: "/api/events" (paged events, with service ids and
// card keys, never names) and "/api/counts" (entries and exits per gate per
// interval).
func (h *Hub) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", h.serveHTML)
	mux.HandleFunc("GET /api/view", h.serveJSON)
	mux.HandleFunc("GET /api/events", h.serveEvents)
	mux.HandleFunc("GET /api/counts", h.serveCounts)
	mux.HandleFunc("GET /metrics", h.serveMetrics)
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
func ago(now, t time.Time) string {
	return now.Sub(t).Round(time.Second).String() + " ago"
}

func rows(v View) []gateRow {
	published := map[string]uint64{} // site/list -> latest version
	for _, li := range v.Lists {
		published[li.Site+"/"+li.List] = li.Version
	}
	var out []gateRow
	for _, g := range v.Gates {
		r := gateRow{Site: g.Site, Gate: g.Gate, Events: g.Events, Admits: g.Admits, Denies: g.Denies,
			Offline: g.Offline, Dups: g.Duplicates, Conflicts: g.Conflicts, Link: "no status yet", Down: true}
		if g.MaxSeq > g.Events {
			r.Missing = g.MaxSeq - g.Events
		}
		if g.Status == nil {
			out = append(out, r)
			continue
		}
		r.LastStatus = ago(v.At, g.Status.ReceivedAt)
		var st uplink.Status
		if json.Unmarshal(g.Status.Status, &st) != nil {
			r.Link = "status unreadable"
			out = append(out, r)
			continue
		}
		r.Down = !st.Online
		if st.Online {
			r.Link = "online"
		} else {
			// The offline status arrives when the gate goes: a clean
			// disconnect or the broker's will.
			r.Link = "offline since " + g.Status.ReceivedAt.Format("Jan 2 15:04:05") + " (" + ago(v.At, g.Status.ReceivedAt) + ")"
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
			l := st.Lists[name]
			c := note{Text: fmt.Sprintf("%s v%d", name, l.Version)}
			if !l.AppliedAt.IsZero() {
				c.Text += ", applied " + ago(v.At, l.AppliedAt)
			}
			if hub := published[g.Site+"/"+name]; hub > l.Version {
				c.Text += fmt.Sprintf(", hub has v%d", hub)
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
			r.Health = append(r.Health, note{Text: part + ": " + st.Health[part], Bad: st.Health[part] != "ok"})
		}
		if st.OutboxFull {
			r.Health = append(r.Health, note{Text: "outbox: full, taps cannot be recorded", Bad: true})
		}
		r.Software = st.Software
		out = append(out, r)
	}
	return out
}

// page needs nothing but itself: no scripts, no external assets, and it
// reloads every 10 s.
var page = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="10">
<title>{{if .Down}}{{.Down}} down · {{end}}MynaGate hub</title>
<style>body{font-family:sans-serif;margin:1em}table{border-collapse:collapse;margin-bottom:1.5em;font-size:.9em}
td,th{border:1px solid #ccc;padding:.2em .5em;text-align:right}th{background:#eee}.l{text-align:left}.bad{color:#b00;font-weight:bold}</style>
</head><body>
<h1>MynaGate hub</h1>
<p>{{.View.At.Format "2006-01-02 15:04:05 MST"}} &middot; {{len .Rows}} gates, {{.Down}} not online &middot; anti-passback conflicts: {{.View.Conflicts}} &middot; refreshes every 10 s</p>
<h2>Sites</h2>
<table id="sites"><tr><th class="l">site</th><th>inside now</th><th>events</th></tr>
{{range .View.Sites}}<tr><td class="l">{{.Site}}</td><td>{{.Inside}}</td><td>{{.Events}}</td></tr>{{end}}
</table>
<h2>Gates</h2>
<table id="gates"><tr><th class="l">site</th><th class="l">gate</th><th class="l">link</th><th>backlog</th><th>oldest unsent</th><th class="l">lists on the gate</th><th class="l">health</th><th>events</th><th>admitted</th><th>denied</th><th>decided offline</th><th>duplicates</th><th>not yet received</th><th>conflicts</th><th>last status</th><th class="l">software</th></tr>
{{range .Rows}}<tr><td class="l">{{.Site}}</td><td class="l">{{.Gate}}</td><td class="l{{if .Down}} bad{{end}}">{{.Link}}</td><td>{{.Backlog}}</td><td>{{.OldestUnsent}}</td><td class="l">{{template "notes" .Lists}}</td><td class="l">{{template "notes" .Health}}</td><td>{{.Events}}</td><td>{{.Admits}}</td><td>{{.Denies}}</td><td>{{.Offline}}</td><td>{{.Dups}}</td><td>{{.Missing}}</td><td>{{.Conflicts}}</td><td>{{.LastStatus}}</td><td class="l">{{.Software}}</td></tr>{{end}}
</table>
<h2>Published lists</h2>
<table id="lists"><tr><th class="l">site</th><th class="l">list</th><th>version</th><th class="l">kind</th><th>created</th></tr>
{{range .View.Lists}}<tr><td class="l">{{.Site}}</td><td class="l">{{.List}}</td><td>{{.Version}}</td><td class="l">{{.Kind}}</td><td>{{call $.Ago .Created}}</td></tr>{{end}}
</table>
</body></html>
{{define "notes"}}{{range $i, $n := .}}{{if $i}}<br>{{end}}<span{{if .Bad}} class="bad"{{end}}>{{.Text}}</span>{{end}}{{end}}`))

func (h *Hub) serveHTML(w http.ResponseWriter, _ *http.Request) {
	v, err := h.store.View()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	rs := rows(v)
	down := 0
	for _, r := range rs {
		if r.Down {
			down++
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	data := struct {
		View View
		Rows []gateRow
		Down int
		Ago  func(time.Time) string
	}{v, rs, down, func(t time.Time) string { return ago(v.At, t) }}
	if err := page.Execute(w, data); err != nil {
		h.log.Warn("hub: render dashboard", "err", err)
	}
}

func (h *Hub) serveMetrics(w http.ResponseWriter, _ *http.Request) {
	v, err := h.store.View()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	WriteMetrics(w, v)
}

// WriteMetrics writes the overview in the Prometheus text exposition format.
func WriteMetrics(w io.Writer, v View) {
	type metric struct {
		name, help, typ string
		rows            []string
	}
	lbl := func(site, gate string) string {
		return `{site="` + labelValue(site) + `",gate="` + labelValue(gate) + `"}`
	}
	ms := []metric{
		{name: "mynagate_hub_events_total", help: "Distinct events stored per gate.", typ: "counter"},
		{name: "mynagate_hub_duplicates_total", help: "Re-delivered events dropped by id per gate.", typ: "counter"},
		{name: "mynagate_hub_offline_events_total", help: "Events decided while the gate was offline.", typ: "counter"},
		{name: "mynagate_hub_conflicts_total", help: "Entries admitted while the holder was already inside.", typ: "counter"},
		{name: "mynagate_gate_online", help: "1 if the gate's last status says online.", typ: "gauge"},
		{name: "mynagate_gate_backlog", help: "Events waiting in the gate's outbox.", typ: "gauge"},
		{name: "mynagate_gate_oldest_unsent_seconds", help: "Age of the gate's oldest unsent event.", typ: "gauge"},
		{name: "mynagate_site_inside", help: "Holders inside per site.", typ: "gauge"},
		{name: "mynagate_list_version", help: "Latest published list version per site.", typ: "gauge"},
	}
	for _, g := range v.Gates {
		l := lbl(g.Site, g.Gate)
		ms[0].rows = append(ms[0].rows, fmt.Sprintf("%s%s %d", ms[0].name, l, g.Events))
		ms[1].rows = append(ms[1].rows, fmt.Sprintf("%s%s %d", ms[1].name, l, g.Duplicates))
		ms[2].rows = append(ms[2].rows, fmt.Sprintf("%s%s %d", ms[2].name, l, g.Offline))
		ms[3].rows = append(ms[3].rows, fmt.Sprintf("%s%s %d", ms[3].name, l, g.Conflicts))
		if g.Status != nil {
			var st uplink.Status
			if json.Unmarshal(g.Status.Status, &st) == nil {
				on := 0
				if st.Online {
					on = 1
				}
				ms[4].rows = append(ms[4].rows, fmt.Sprintf("%s%s %d", ms[4].name, l, on))
				ms[5].rows = append(ms[5].rows, fmt.Sprintf("%s%s %d", ms[5].name, l, st.Backlog))
				ms[6].rows = append(ms[6].rows, fmt.Sprintf("%s%s %g", ms[6].name, l, st.OldestUnsentS))
			}
		}
	}
	for _, s := range v.Sites {
		ms[7].rows = append(ms[7].rows, fmt.Sprintf(`%s{site="%s"} %d`, ms[7].name, labelValue(s.Site), s.Inside))
	}
	for _, li := range v.Lists {
		ms[8].rows = append(ms[8].rows, fmt.Sprintf(`%s{site="%s",list="%s"} %d`, ms[8].name, labelValue(li.Site), labelValue(li.List), li.Version))
	}
	for _, m := range ms {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", m.name, m.help, m.name, m.typ)
		for _, r := range m.rows {
			fmt.Fprintln(w, r)
		}
	}
}

// labelEscaper escapes what the text format requires in a label value
// (backslash, double quote, newline), leaving UTF-8 as is.
var labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

// labelValue escapes a label value for the text exposition format.
func labelValue(s string) string { return labelEscaper.Replace(s) }
