package hub

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// officeRoutes adds the disaster office's shelter view to the dashboard's mux:
//
//	GET  /office                        the page (Japanese; English with ?lang=en)
//	GET  /api/shelters                  occupancy per shelter and the total (JSON)
//	GET  /api/shelters/roster           stays, ?place= for one shelter (JSON)
//	GET  /api/shelters/series           occupancy after each change (JSON)
//	GET  /api/shelters/{occupancy,roster,series}.csv   the same as CSV
//	POST /api/shelters/amend            attach a service id or a note to a check-in
//
// Each takes ?site= (default: the only site with shelters).
func (h *Hub) officeRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /office", h.serveOffice)
	mux.HandleFunc("GET /api/shelters", h.officeJSON(func(v *Shelters, _ *http.Request) any { return v }))
	mux.HandleFunc("GET /api/shelters/roster", h.officeJSON(func(v *Shelters, r *http.Request) any { return nonNil(v.Roster(r.URL.Query().Get("place"))) }))
	mux.HandleFunc("GET /api/shelters/series", h.officeJSON(func(v *Shelters, _ *http.Request) any { return nonNil(v.Series) }))
	mux.HandleFunc("GET /api/shelters/occupancy.csv", h.officeCSV("occupancy", occupancyCSV))
	mux.HandleFunc("GET /api/shelters/roster.csv", h.officeCSV("roster", rosterCSV))
	mux.HandleFunc("GET /api/shelters/series.csv", h.officeCSV("series", seriesCSV))
	mux.HandleFunc("POST /api/shelters/amend", h.serveAmend)
	mux.HandleFunc("GET /api/shelters/live", h.serveShelterLive)
}

// serveShelterLive streams server-sent events: a "change" whenever the store
// took an event or an amendment, so the office page redraws at once. It
// carries no data. Like /api/live, a stream lasts liveSpan and the browser
// reconnects by itself.
func (h *Hub) serveShelterLive(w http.ResponseWriter, r *http.Request) {
	last := h.store.changes.Load()
	streamChanges(w, r, officeLiveInterval, func() (bool, error) {
		c := h.store.changes.Load()
		changed := c != last
		last = c
		return changed, nil
	})
}

// officeLiveInterval is how often /api/shelters/live looks for a change.
const officeLiveInterval = 100 * time.Millisecond

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// officeSite is the site a request asks for: ?site=, else the only site with
// shelter events.
func (h *Hub) officeSite(r *http.Request) (string, error) {
	if s := r.URL.Query().Get("site"); s != "" {
		return s, nil
	}
	sites, err := h.store.ShelterSites()
	if err != nil {
		return "", err
	}
	switch len(sites) {
	case 0:
		return "", nil
	case 1:
		return sites[0], nil
	}
	return "", fmt.Errorf("several sites have shelters (%s): add ?site=", strings.Join(sites, ", "))
}

func (h *Hub) shelters(w http.ResponseWriter, r *http.Request) (*Shelters, bool) {
	site, err := h.officeSite(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return nil, false
	}
	v, err := h.store.Shelters(site)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return nil, false
	}
	return v, true
}

func (h *Hub) officeJSON(pick func(*Shelters, *http.Request) any) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v, ok := h.shelters(w, r)
		if !ok {
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(pick(v, r))
	}
}

func (h *Hub) officeCSV(name string, write func(*csv.Writer, *Shelters, *http.Request, *time.Location) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v, ok := h.shelters(w, r)
		if !ok {
			return
		}
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s-%s.csv"`, v.Site, name))
		cw := csv.NewWriter(w)
		if err := write(cw, v, r, h.cfg.Zone(v.Site)); err != nil {
			h.log.Warn("hub: office CSV", "file", name, "err", err)
			return
		}
		cw.Flush()
	}
}

func occupancyCSV(w *csv.Writer, v *Shelters, _ *http.Request, _ *time.Location) error {
	if err := w.Write([]string{"site", "place", "inside", "checked_in", "to_reconcile"}); err != nil {
		return err
	}
	for _, p := range v.Places {
		if err := w.Write([]string{v.Site, p.Place, strconv.Itoa(p.Inside), strconv.Itoa(p.CheckedIn), strconv.Itoa(p.ToReconcile)}); err != nil {
			return err
		}
	}
	return w.Write([]string{v.Site, "", strconv.Itoa(v.Total), "", ""})
}

func csvTime(t time.Time, loc *time.Location) string {
	if t.IsZero() {
		return ""
	}
	return t.In(loc).Format(time.RFC3339)
}

func rosterCSV(w *csv.Writer, v *Shelters, r *http.Request, loc *time.Location) error {
	if err := w.Write([]string{"place", "event", "service_id", "slip", "checkin_at", "checkout_at", "moved_to", "reconcile", "reconciled", "reason", "assurance", "note", "office_note"}); err != nil {
		return err
	}
	for _, st := range v.Roster(r.URL.Query().Get("place")) {
		row := []string{st.Place, st.Event, st.ServiceID, st.Slip, csvTime(st.In, loc), csvTime(st.Out, loc), st.MovedTo,
			strconv.FormatBool(st.Reconcile), strconv.FormatBool(st.Reconciled), st.Reason, st.Assurance, csvSafe(st.Note), csvSafe(st.OfficeNote)}
		if err := w.Write(row); err != nil {
			return err
		}
	}
	return nil
}

// csvSafe keeps a free note from being read as a formula by a spreadsheet.
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func seriesCSV(w *csv.Writer, v *Shelters, _ *http.Request, loc *time.Location) error {
	if err := w.Write([]string{"at", "place", "inside"}); err != nil {
		return err
	}
	for _, p := range v.Series {
		if err := w.Write([]string{csvTime(p.At, loc), p.Place, strconv.Itoa(p.Inside)}); err != nil {
			return err
		}
	}
	return nil
}

// amendRequest is the body of POST /api/shelters/amend.
type amendRequest struct {
	Event     string `json:"event"`
	ServiceID string `json:"service_id"`
	Note      string `json:"note"`
}

func (h *Hub) serveAmend(w http.ResponseWriter, r *http.Request) {
	site, err := h.officeSite(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var req amendRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&req); err != nil {
		http.Error(w, "body: want {\"event\":..., \"service_id\":..., \"note\":...}: "+err.Error(), http.StatusBadRequest)
		return
	}
	err = h.store.AmendCheckin(site, req.Event, Amend{ServiceID: req.ServiceID, Note: req.Note, At: time.Now()})
	switch {
	case errors.Is(err, ErrNoSuchCheckin):
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	case err != nil:
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	h.log.Info("hub: office amended a check-in", "site", site, "event", req.Event, "service_id_attached", req.ServiceID != "")
	w.WriteHeader(http.StatusNoContent)
}

// officeJA is the office page's Japanese wording, keyed by its English form;
// ?lang=en shows the English.
var officeJA = map[string]string{
	"Shelters":                      "避難所の状況",
	"Total in shelters":             "避難者数（合計）",
	"shelter":                       "避難所",
	"inside now":                    "現在の避難者",
	"checked in":                    "受付累計",
	"to reconcile":                  "要確認",
	"Occupancy over time":           "避難者数の推移",
	"Roster":                        "名簿",
	"service id / slip":             "住民番号・受付票番号",
	"checked in at":                 "受付日時",
	"checked out at":                "退所日時",
	"status":                        "状態",
	"note":                          "メモ",
	"inside":                        "在所",
	"moved to %s":                   "%sへ移動",
	"left":                          "退所",
	"reconciled":                    "確認済",
	"slip":                          "受付票",
	"No shelter check-ins yet.":     "まだ受付はありません。",
	"CSV":                           "CSV出力",
	"Attach":                        "登録",
	"English":                       "English",
	"updated":                       "更新",
	"card not confirmed: %s":        "カード未確認: %s",
	"service id":                    "住民番号",
	"Municipality":                  "自治体",
	"Occupancy":                     "避難者数",
	"Series":                        "推移",
	"to reconcile: attach an id":    "要確認: 番号を登録",
	"(staff record without a card)": "（カードなし・職員受付）",
}

type officeLang struct{ en bool }

// T translates an English text of the page.
func (l officeLang) T(en string) string {
	if l.en {
		return en
	}
	if t, ok := officeJA[en]; ok {
		return t
	}
	return en
}

// Code is the page's language code.
func (l officeLang) Code() string {
	if l.en {
		return "en"
	}
	return "ja"
}

// officeData is what the page template renders.
type officeData struct {
	L        officeLang
	Site     string
	V        *Shelters
	Chart    template.HTML
	Rosters  []officeRoster
	Updated  string
	Query    template.URL
	Switch   template.URL
	SwitchTo string
}

type officeRoster struct {
	Place string
	Rows  []officeRow
}

type officeRow struct {
	Who, In, Out, Status, Note string
	Reconcile, Inside          bool
	Event                      string
}

func (h *Hub) serveOffice(w http.ResponseWriter, r *http.Request) {
	v, ok := h.shelters(w, r)
	if !ok {
		return
	}
	l := officeLang{en: r.URL.Query().Get("lang") == "en"}
	loc := h.cfg.Zone(v.Site)
	d := officeData{L: l, Site: v.Site, V: v, Updated: time.Now().In(loc).Format("15:04:05")}
	q := "site=" + v.Site
	if l.en {
		d.Query, d.Switch, d.SwitchTo = template.URL(q+"&lang=en"), template.URL(q), "日本語"
	} else {
		d.Query, d.Switch, d.SwitchTo = template.URL(q), template.URL(q+"&lang=en"), "English"
	}
	d.Chart = svgShelters(v, l.T("Occupancy over time"), time.Now(), loc)
	for _, p := range v.Places {
		ro := officeRoster{Place: p.Place}
		for _, st := range v.Roster(p.Place) {
			row := officeRow{In: st.In.In(loc).Format("01/02 15:04"), Reconcile: st.Reconcile && !st.Reconciled, Inside: st.Inside(), Event: st.Event}
			switch {
			case st.ServiceID != "":
				row.Who = st.ServiceID
			case st.Slip != "":
				row.Who = l.T("slip") + " " + st.Slip
			default:
				row.Who = "—"
			}
			if !st.Out.IsZero() {
				row.Out = st.Out.In(loc).Format("01/02 15:04")
			}
			switch {
			case st.Inside():
				row.Status = l.T("inside")
			case st.MovedTo != "":
				row.Status = fmt.Sprintf(l.T("moved to %s"), st.MovedTo)
			default:
				row.Status = l.T("left")
			}
			notes := []string{}
			if st.Reconcile {
				if st.Reconciled {
					notes = append(notes, l.T("reconciled"))
				} else {
					notes = append(notes, fmt.Sprintf(l.T("card not confirmed: %s"), st.Reason))
				}
			}
			for _, n := range []string{st.Note, st.OfficeNote} {
				if n != "" {
					notes = append(notes, n)
				}
			}
			row.Note = strings.Join(notes, " / ")
			ro.Rows = append(ro.Rows, row)
		}
		d.Rosters = append(d.Rosters, ro)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := officePage.Execute(w, d); err != nil {
		h.log.Warn("hub: office page", "err", err)
	}
}

// placeColours tell the shelters apart on the chart.
var placeColours = []string{"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"}

// svgShelters draws each shelter's occupancy as a step line from its first
// change until now, with a legend.
func svgShelters(v *Shelters, title string, now time.Time, loc *time.Location) template.HTML {
	var b strings.Builder
	ymax := 1
	var start time.Time
	for _, p := range v.Series {
		ymax = max(ymax, p.Inside)
		if start.IsZero() || p.At.Before(start) {
			start = p.At
		}
	}
	svgOpen(&b, "occupancy", title, ymax)
	if len(v.Series) == 0 {
		b.WriteString(`</svg>`)
		return template.HTML(b.String())
	}
	span := max(now.Sub(start), time.Minute)
	plotW, plotH := float64(chartW-chartPad), float64(chartH-chartPad)
	x := func(t time.Time) float64 { return float64(chartPad) + plotW*float64(t.Sub(start))/float64(span) }
	y := func(n int) float64 { return float64(chartH-chartPad/2) - plotH*float64(n)/float64(ymax) }
	fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="10">%s</text><text x="%d" y="%d" font-size="10" text-anchor="end">%s</text>`,
		chartPad, chartH-2, start.In(loc).Format("01/02 15:04"), chartW, chartH-2, now.In(loc).Format("01/02 15:04"))
	for i, p := range v.Places {
		colour := placeColours[i%len(placeColours)]
		pts := []string{}
		last := 0
		for _, pt := range v.Series {
			if pt.Place != p.Place {
				continue
			}
			pts = append(pts, fmt.Sprintf("%.1f,%.1f %.1f,%.1f", x(pt.At), y(last), x(pt.At), y(pt.Inside)))
			last = pt.Inside
		}
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(now), y(last)))
		fmt.Fprintf(&b, `<polyline class="place" data-place="%s" fill="none" stroke="%s" stroke-width="2" points="%s"/>`,
			template.HTMLEscapeString(p.Place), colour, strings.Join(pts, " "))
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="10" fill="%s">%s %d</text>`, chartPad+4+(i%4)*140, 12+(i/4)*12, colour, template.HTMLEscapeString(p.Place), last)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

var officePage = template.Must(template.New("office").Parse(`<!doctype html>
<html lang="{{.L.Code}}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{{.L.T "Shelters"}} — {{.Site}}</title>
<style>
body{font-family:system-ui,"Noto Sans CJK JP",sans-serif;margin:1rem;color:#222}
h1{font-size:1.4rem;margin:0 0 .5rem} h2{font-size:1.1rem;margin:1.2rem 0 .4rem}
.total{font-size:2.4rem;font-weight:bold} table{border-collapse:collapse;margin:.3rem 0}
td,th{border:1px solid #ccc;padding:.2rem .5rem;text-align:left} td.n{text-align:right;font-variant-numeric:tabular-nums}
tr.reconcile td{background:#fff4d6} tr.gone td{color:#777} .chart{width:100%;max-width:900px;height:auto}
nav a{margin-right:1rem} .muted{color:#777;font-size:.85rem}
</style></head>
<body><div id="office">
<nav><a href="?{{.Switch}}" id="lang">{{.SwitchTo}}</a>
<a href="/api/shelters/occupancy.csv?{{.Query}}">{{.L.T "Occupancy"}} {{.L.T "CSV"}}</a>
<a href="/api/shelters/roster.csv?{{.Query}}">{{.L.T "Roster"}} {{.L.T "CSV"}}</a>
<a href="/api/shelters/series.csv?{{.Query}}">{{.L.T "Series"}} {{.L.T "CSV"}}</a></nav>
<h1>{{.L.T "Shelters"}} — {{.Site}}</h1>
<p>{{.L.T "Total in shelters"}}: <span class="total" id="total">{{.V.Total}}</span> <span class="muted">{{.L.T "updated"}} {{.Updated}}</span></p>
{{if not .V.Places}}<p>{{.L.T "No shelter check-ins yet."}}</p>{{else}}
<table id="places"><tr><th>{{.L.T "shelter"}}</th><th>{{.L.T "inside now"}}</th><th>{{.L.T "checked in"}}</th><th>{{.L.T "to reconcile"}}</th></tr>
{{range .V.Places}}<tr data-place="{{.Place}}"><td>{{.Place}}</td><td class="n inside">{{.Inside}}</td><td class="n">{{.CheckedIn}}</td><td class="n">{{.ToReconcile}}</td></tr>
{{end}}</table>
<h2>{{.L.T "Occupancy over time"}}</h2>
{{.Chart}}
{{range .Rosters}}<h2>{{$.L.T "Roster"}}: {{.Place}}</h2>
<table class="roster" data-place="{{.Place}}"><tr><th>{{$.L.T "service id / slip"}}</th><th>{{$.L.T "checked in at"}}</th><th>{{$.L.T "checked out at"}}</th><th>{{$.L.T "status"}}</th><th>{{$.L.T "note"}}</th></tr>
{{range .Rows}}<tr class="{{if .Reconcile}}reconcile{{end}}{{if not .Inside}} gone{{end}}" data-event="{{.Event}}"><td>{{.Who}}</td><td>{{.In}}</td><td>{{.Out}}</td><td>{{.Status}}</td><td>{{.Note}}{{if .Reconcile}}
<form class="amend" data-event="{{.Event}}"><input name="service_id" size="10" placeholder="{{$.L.T "service id"}}"><input name="note" size="14" placeholder="{{$.L.T "note"}}"><button>{{$.L.T "Attach"}}</button></form>{{end}}</td></tr>
{{end}}</table>{{end}}{{end}}
</div>
<script>
// Redraw from the server when the hub says something changed (server-sent
// events), and every 5 s anyway, while nobody is typing in a form.
const q = {{.Query}};
// The login's CSRF token travels in a cookie only this site's pages can read.
function csrf(){const m=document.cookie.match(/(?:^|; )mynagate_csrf=([^;]*)/);return m?m[1]:''}
function wire(){document.querySelectorAll('form.amend').forEach(f=>f.onsubmit=async ev=>{ev.preventDefault();
 const body={event:f.dataset.event,service_id:f.service_id.value,note:f.note.value};
 const r=await fetch('/api/shelters/amend?'+q,{method:'POST',headers:{'Content-Type':'application/json','X-CSRF-Token':csrf()},body:JSON.stringify(body)});
 if(!r.ok){alert(await r.text())} else {refresh(true)}});}
let last='';
async function refresh(force){
 if(!force && document.activeElement && document.activeElement.tagName==='INPUT') return;
 try{const r=await fetch('/office?'+q,{cache:'no-store'}); if(!r.ok) return;
 const d=new DOMParser().parseFromString(await r.text(),'text/html').getElementById('office');
 if(d && d.innerHTML!==last){last=d.innerHTML; document.getElementById('office').innerHTML=last; wire();}}catch(e){}
}
wire(); setInterval(refresh,5000);
if (window.EventSource) { const es=new EventSource('/api/shelters/live'); es.onopen=()=>refresh(false); es.addEventListener('change', ()=>refresh(false)); }
</script></body></html>
`))
