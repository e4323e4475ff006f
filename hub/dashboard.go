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
// (Prometheus text format). Everything shown is counts, versions and ages: no
// card keys, service ids or names.
func (h *Hub) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", h.serveHTML)
	mux.HandleFunc("GET /api/view", h.serveJSON)
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
	Site, Gate             string
	Online                 string
	Events, Admits, Denies uint64
	Offline, Dups          uint64
	Missing                uint64
	Conflicts              uint64
	Backlog                int
	OldestUnsent           string
	Lists                  string
	LastSeen               string
	Software               string
}

func rows(v View) []gateRow {
	var out []gateRow
	for _, g := range v.Gates {
		r := gateRow{Site: g.Site, Gate: g.Gate, Events: g.Events, Admits: g.Admits, Denies: g.Denies,
			Offline: g.Offline, Dups: g.Duplicates, Conflicts: g.Conflicts, Online: "?"}
		if g.MaxSeq > g.Events {
			r.Missing = g.MaxSeq - g.Events
		}
		if g.Status != nil {
			var st uplink.Status
			if json.Unmarshal(g.Status.Status, &st) == nil {
				r.Online = map[bool]string{true: "online", false: "OFFLINE"}[st.Online]
				r.Backlog = st.Backlog
				r.OldestUnsent = (time.Duration(st.OldestUnsentS) * time.Second).String()
				var ls []string
				for name, l := range st.Lists {
					ls = append(ls, fmt.Sprintf("%s v%d", name, l.Version))
				}
				sort.Strings(ls)
				r.Lists = strings.Join(ls, ", ")
				r.Software = st.Software
			}
			r.LastSeen = v.At.Sub(g.Status.ReceivedAt).Round(time.Second).String() + " ago"
		}
		out = append(out, r)
	}
	return out
}

var page = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="10">
<title>MynaGate hub</title>
<style>body{font-family:sans-serif;margin:1em}table{border-collapse:collapse;margin-bottom:1.5em}
td,th{border:1px solid #ccc;padding:.2em .5em;text-align:right}th{background:#eee}td.l{text-align:left}.off{color:#b00;font-weight:bold}</style>
</head><body>
<h1>MynaGate hub</h1>
<p>{{.View.At.Format "2006-01-02 15:04:05 MST"}} &middot; anti-passback conflicts: {{.View.Conflicts}}</p>
<h2>Sites</h2>
<table><tr><th>site</th><th>inside now</th><th>events</th></tr>
{{range .View.Sites}}<tr><td class="l">{{.Site}}</td><td>{{.Inside}}</td><td>{{.Events}}</td></tr>{{end}}
</table>
<h2>Gates</h2>
<table><tr><th>site</th><th>gate</th><th>link</th><th>backlog</th><th>oldest unsent</th><th>lists</th><th>events</th><th>admit</th><th>deny</th><th>offline</th><th>duplicates</th><th>not yet received</th><th>conflicts</th><th>status age</th><th>software</th></tr>
{{range .Rows}}<tr><td class="l">{{.Site}}</td><td class="l">{{.Gate}}</td><td class="l{{if eq .Online "OFFLINE"}} off{{end}}">{{.Online}}</td><td>{{.Backlog}}</td><td>{{.OldestUnsent}}</td><td class="l">{{.Lists}}</td><td>{{.Events}}</td><td>{{.Admits}}</td><td>{{.Denies}}</td><td>{{.Offline}}</td><td>{{.Dups}}</td><td>{{.Missing}}</td><td>{{.Conflicts}}</td><td>{{.LastSeen}}</td><td class="l">{{.Software}}</td></tr>{{end}}
</table>
<h2>Published lists</h2>
<table><tr><th>site</th><th>list</th><th>version</th><th>kind</th><th>age</th></tr>
{{range .View.Lists}}<tr><td class="l">{{.Site}}</td><td class="l">{{.List}}</td><td>{{.Version}}</td><td class="l">{{.Kind}}</td><td>{{$.Age .Created}}</td></tr>{{end}}
</table>
</body></html>
`))

func (h *Hub) serveHTML(w http.ResponseWriter, _ *http.Request) {
	v, err := h.store.View()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	data := struct {
		View View
		Rows []gateRow
		Age  func(time.Time) string
	}{v, rows(v), func(t time.Time) string { return v.At.Sub(t).Round(time.Second).String() }}
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
