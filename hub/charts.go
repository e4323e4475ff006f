package hub

import (
	"cmp"
	"fmt"
	"html/template"
	"slices"
	"strings"
	"time"

	"github.com/mynagate/mynagate/event"
)

// chartSpan is how far back the dashboard's charts and event table look.
const chartSpan = time.Hour

// maxTableRows bounds the dashboard's event table.
const maxTableRows = 50

// recent is what the dashboard draws from the last chartSpan of events.
type recent struct {
	From  time.Time
	Gates []gateSeries
	// Reasons counts denials by reason, most frequent first.
	Reasons []reasonCount
	Inside  []siteSeries
	// Table holds the latest events the page's filters select, newest first.
	Table []EventRecord
}

// gateSeries is a gate's admitted and denied taps per minute.
type gateSeries struct {
	Site, Gate    string
	Admit, Deny   []int
	Total, Denied int
}

type reasonCount struct {
	Reason event.Reason
	N      int
}

// siteSeries is how many were inside a site at the end of each minute.
type siteSeries struct {
	Site   string
	Inside []int
}

// collectRecent reads the events of the chartSpan before now. inside is each
// site's count now, from which the past is unwound event by event; table
// selects the events of the table.
func collectRecent(src EventSource, now time.Time, inside map[string]int, table EventQuery, zone func(string) *time.Location) (recent, error) {
	const minutes = int(chartSpan / time.Minute)
	from := now.Add(-chartSpan).Truncate(time.Minute).Add(time.Minute)
	r := recent{From: from}
	gates := map[string]*gateSeries{}
	reasons := map[event.Reason]int{}
	// delta[site][m] is the change of the inside count during minute m.
	delta := map[string][]int{}
	q := EventQuery{Since: from}
	err := q.scan(src, func(e *event.Event, received time.Time) bool {
		m := int(e.At.Sub(from) / time.Minute)
		if m < 0 || m >= minutes {
			return true
		}
		if delta[e.Site] == nil {
			delta[e.Site] = make([]int, minutes)
		}
		k := e.Site + "/" + e.Gate
		g := gates[k]
		if g == nil && e.Kind != event.KindAnnul {
			g = &gateSeries{Site: e.Site, Gate: e.Gate, Admit: make([]int, minutes), Deny: make([]int, minutes)}
			gates[k] = g
		}
		switch {
		case e.Kind == event.KindAnnul:
			delta[e.Site][m]--
		case e.Decision == event.Deny:
			g.Deny[m]++
			g.Denied++
			g.Total++
			reasons[e.Reason]++
		default:
			g.Admit[m]++
			g.Total++
			switch e.Kind {
			case event.KindEntry, event.KindCheckin:
				delta[e.Site][m]++
			case event.KindExit, event.KindCheckout:
				delta[e.Site][m]--
			}
		}
		if table.match(e) {
			loc := zone(e.Site)
			r.Table = append(r.Table, EventRecord{ID: e.ID, At: e.At.In(loc), ReceivedAt: received.In(loc), Site: e.Site, Gate: e.Gate,
				Lane: e.Lane, Kind: e.Kind, Decision: e.Decision, Reason: e.Reason, Assurance: e.Assurance, Offline: e.Offline})
			if len(r.Table) > 2*maxTableRows {
				r.Table = slices.Delete(r.Table, 0, len(r.Table)-maxTableRows)
			}
		}
		return true
	})
	if err != nil {
		return recent{}, err
	}
	if len(r.Table) > maxTableRows {
		r.Table = r.Table[len(r.Table)-maxTableRows:]
	}
	slices.Reverse(r.Table)
	for _, g := range gates {
		r.Gates = append(r.Gates, *g)
	}
	slices.SortFunc(r.Gates, func(a, b gateSeries) int { return cmp.Or(cmp.Compare(a.Site, b.Site), cmp.Compare(a.Gate, b.Gate)) })
	for reason, n := range reasons {
		r.Reasons = append(r.Reasons, reasonCount{reason, n})
	}
	slices.SortFunc(r.Reasons, func(a, b reasonCount) int { return cmp.Or(b.N-a.N, cmp.Compare(a.Reason, b.Reason)) })
	for site, now := range inside {
		d := delta[site]
		s := siteSeries{Site: site, Inside: make([]int, minutes)}
		n := now
		for m := minutes - 1; m >= 0; m-- {
			s.Inside[m] = max(n, 0)
			if d != nil {
				n -= d[m]
			}
		}
		r.Inside = append(r.Inside, s)
	}
	slices.SortFunc(r.Inside, func(a, b siteSeries) int { return cmp.Compare(a.Site, b.Site) })
	return r, nil
}

// Chart geometry, in SVG user units; the SVGs scale to their box.
const (
	chartW, chartH = 600, 120
	chartPad       = 28
)

// svgOpen starts a chart with its title for screen readers and its axes.
func svgOpen(b *strings.Builder, id, title string, ymax int) {
	fmt.Fprintf(b, `<svg id="%s" class="chart" viewBox="0 0 %d %d" role="img" aria-label="%s"><title>%s</title>`,
		template.HTMLEscapeString(id), chartW, chartH, template.HTMLEscapeString(title), template.HTMLEscapeString(title))
	fmt.Fprintf(b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#999"/>`, chartPad, chartH-chartPad/2, chartW, chartH-chartPad/2)
	fmt.Fprintf(b, `<text x="0" y="12" font-size="10">%d</text><text x="0" y="%d" font-size="10">0</text>`, ymax, chartH-chartPad/2)
}

// svgTaps draws a gate's taps per minute: admitted (green) under denied
// (red), one bar a minute.
func svgTaps(g gateSeries, title string) template.HTML {
	ymax := 1
	for i := range g.Admit {
		ymax = max(ymax, g.Admit[i]+g.Deny[i])
	}
	var b strings.Builder
	svgOpen(&b, "taps-"+g.Site+"-"+g.Gate, title, ymax)
	n := len(g.Admit)
	bw := float64(chartW-chartPad) / float64(n)
	plotH := float64(chartH - chartPad)
	for i := range n {
		x := float64(chartPad) + float64(i)*bw
		base := float64(chartH - chartPad/2)
		for _, part := range []struct {
			v     int
			class string
		}{{g.Admit[i], "admit"}, {g.Deny[i], "deny"}} {
			if part.v == 0 {
				continue
			}
			h := plotH * float64(part.v) / float64(ymax)
			base -= h
			fmt.Fprintf(&b, `<rect class="%s" x="%.1f" y="%.1f" width="%.1f" height="%.1f"><title>%d</title></rect>`, part.class, x, base, bw*0.8, h, part.v)
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// svgReasons draws denials by reason as horizontal bars.
func svgReasons(rs []reasonCount, title string) template.HTML {
	var b strings.Builder
	rowH := 18
	h := max(len(rs), 1)*rowH + 8
	fmt.Fprintf(&b, `<svg id="reasons" class="chart" viewBox="0 0 %d %d" role="img" aria-label="%s"><title>%s</title>`,
		chartW, h, template.HTMLEscapeString(title), template.HTMLEscapeString(title))
	top := 1
	if len(rs) > 0 {
		top = rs[0].N
	}
	for i, r := range rs {
		w := float64(chartW-200) * float64(r.N) / float64(top)
		y := 4 + i*rowH
		fmt.Fprintf(&b, `<text x="0" y="%d" font-size="12">%s</text><rect class="deny" x="190" y="%d" width="%.1f" height="%d"/><text x="%.1f" y="%d" font-size="12">%d</text>`,
			y+12, template.HTMLEscapeString(string(r.Reason)), y, w, rowH-4, 194+w, y+12, r.N)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// svgInside draws a site's inside count over the span as a line.
func svgInside(s siteSeries, title string) template.HTML {
	ymax := 1
	for _, v := range s.Inside {
		ymax = max(ymax, v)
	}
	var b strings.Builder
	svgOpen(&b, "inside-"+s.Site, title, ymax)
	n := len(s.Inside)
	step := float64(chartW-chartPad) / float64(max(n-1, 1))
	plotH := float64(chartH - chartPad)
	pts := make([]string, n)
	for i, v := range s.Inside {
		pts[i] = fmt.Sprintf("%.1f,%.1f", float64(chartPad)+float64(i)*step, float64(chartH-chartPad/2)-plotH*float64(v)/float64(ymax))
	}
	fmt.Fprintf(&b, `<polyline class="inside" fill="none" stroke-width="2" points="%s"/></svg>`, strings.Join(pts, " "))
	return template.HTML(b.String())
}
