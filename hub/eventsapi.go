package hub

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// DefaultPage is an /api/events page without a limit.
const DefaultPage = 100

// EventPage is one page of /api/events: the events and the cursor of the
// next page ("" at the end).
type EventPage struct {
	Events []EventRecord `json:"events"`
	Next   string        `json:"next"`
}

// CountsPage is /api/counts's answer.
type CountsPage struct {
	Interval string      `json:"interval"`
	Counts   []GateCount `json:"counts"`
}

func (h *Hub) queryFrom(r *http.Request) (EventQuery, error) {
	return ParseEventQuery(r.URL.Query(), h.cfg.Zone(r.URL.Query().Get("site")))
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(v)
}

func (h *Hub) serveEvents(w http.ResponseWriter, r *http.Request) {
	q, err := h.queryFrom(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if q.Limit == 0 {
		q.Limit = DefaultPage
	}
	page := EventPage{Events: []EventRecord{}}
	page.Next, err = QueryEvents(h.store, q, h.cfg.Zone, func(e EventRecord) error {
		page.Events = append(page.Events, e)
		return nil
	})
	if err != nil {
		h.log.Error("hub: events query", "err", err)
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	writeJSON(w, page)
}

func (h *Hub) serveCounts(w http.ResponseWriter, r *http.Request) {
	q, err := h.queryFrom(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	interval := 15 * time.Minute
	if s := r.URL.Query().Get("interval"); s != "" {
		if interval, err = time.ParseDuration(s); err != nil {
			http.Error(w, fmt.Sprintf("interval %q: want a duration such as 15m or 1h", s), http.StatusBadRequest)
			return
		}
	}
	counts, err := CountEvents(h.store, q, interval, h.cfg.Zone)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	writeJSON(w, CountsPage{Interval: interval.String(), Counts: counts})
}
