package hub

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// liveInterval is how often /api/live looks at the store for a change: a
// stored event, a gate's status, a list seen published.
const liveInterval = 200 * time.Millisecond

// liveSpan bounds one stream: the browser reconnects by itself (and redraws
// once), and a hub shutting down does not wait long for open dashboards.
const liveSpan = 30 * time.Second

// serveLive streams server-sent events: a "change" whenever the overview the
// dashboard shows changed. It carries no data; the page fetches itself again.
func (h *Hub) serveLive(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	fmt.Fprint(w, "retry: 500\n\n")
	fl.Flush()
	tick := time.NewTicker(liveInterval)
	defer tick.Stop()
	end := time.After(liveSpan)
	var last [sha256.Size]byte
	for n := 0; ; {
		select {
		case <-r.Context().Done():
			return
		case <-end:
			return
		case <-tick.C:
		}
		v, err := h.store.View()
		if err != nil {
			// The store closed (the hub stops) or failed: end the stream;
			// the browser reconnects and redraws.
			h.log.Debug("hub: live dashboard: read overview", "err", err)
			return
		}
		v.At = time.Time{} // the clock alone is no change
		b, err := json.Marshal(v)
		if err != nil {
			continue
		}
		sum := sha256.Sum256(b)
		if sum == last {
			continue
		}
		first := last == [sha256.Size]byte{}
		last = sum
		if first {
			continue // the page the browser has is this state
		}
		n++
		if _, err := fmt.Fprintf(w, "event: change\ndata: %d\n\n", n); err != nil {
			return
		}
		fl.Flush()
	}
}
