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
	var last [sha256.Size]byte
	streamChanges(w, r, liveInterval, func() (bool, error) {
		v, err := h.store.View()
		if err != nil {
			// The store closed (the hub stops) or failed: end the stream;
			// the browser reconnects and redraws.
			h.log.Debug("hub: live dashboard: read overview", "err", err)
			return false, err
		}
		v.At = time.Time{} // the clock alone is no change
		b, err := json.Marshal(v)
		if err != nil {
			return false, nil
		}
		sum := sha256.Sum256(b)
		first := last == [sha256.Size]byte{}
		changed := sum != last
		last = sum
		// On the first look the browser has this state already.
		return changed && !first, nil
	})
}

// streamChanges writes a server-sent "change" event each time changed, asked
// every interval, says so, until the browser goes, liveSpan passes or changed
// fails. The events carry only a counter: the page fetches what it shows.
func streamChanges(w http.ResponseWriter, r *http.Request, interval time.Duration, changed func() (bool, error)) {
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	fmt.Fprint(w, "retry: 500\n\n")
	fl.Flush()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	end := time.After(liveSpan)
	for n := 1; ; {
		select {
		case <-r.Context().Done():
			return
		case <-end:
			return
		case <-tick.C:
		}
		c, err := changed()
		if err != nil {
			return
		}
		if !c {
			continue
		}
		if _, err := fmt.Fprintf(w, "event: change\ndata: %d\n\n", n); err != nil {
			return
		}
		fl.Flush()
		n++
	}
}
