package hub

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/mynagate/mynagate/config"
	"github.com/mynagate/mynagate/event"
)

// DefaultRetentionDays is how long the hub keeps events, by the mode of the
// gate that recorded them, when the config does not say (retention_days):
// a venue's taps for 90 days (refunds, disputes, the season's report); a
// kiosk's identifications and enrolments for a year; a shelter's check-ins
// for five years, since disaster-response records are kept for years (a
// municipality sets what its records rules require, or 0 to keep them).
var DefaultRetentionDays = map[string]int{config.ModeVenue: 90, config.ModeShelter: 5 * 365, config.ModeKiosk: 365}

// modeOf is the gate mode whose retention applies to an event of kind k;
// "" for a kind the hub does not know, which is kept.
func modeOf(k event.Kind) string {
	switch k {
	case event.KindEntry, event.KindExit, event.KindAnnul: // an annul is a turnstile's
		return config.ModeVenue
	case event.KindCheckin, event.KindCheckout:
		return config.ModeShelter
	case event.KindEnrol, event.KindIdentify:
		return config.ModeKiosk
	}
	return ""
}

// retention is when events expire: events of a mode tapped before its cut
// are purged; a mode without a cut keeps its events.
type retention struct{ cut map[string]time.Time }

// retentionAt returns the cuts at now for days of keeping by mode (0: for
// ever).
func retentionAt(days map[string]int, now time.Time) retention {
	// Cuts on the microsecond, as PostgreSQL keeps times: both stores cut
	// the same events.
	now = now.Truncate(time.Microsecond)
	r := retention{cut: map[string]time.Time{}}
	for mode, d := range days {
		if d > 0 {
			r.cut[mode] = now.AddDate(0, 0, -d)
		}
	}
	return r
}

func (r retention) expired(k event.Kind, at time.Time) bool {
	cut, ok := r.cut[modeOf(k)]
	return ok && at.Before(cut)
}

// modes lists the modes with a cut, sorted.
func (r retention) modes() []string {
	var out []string
	for m := range r.cut {
		out = append(out, m)
	}
	sort.Strings(out)
	return out
}

// Purge deletes the events tapped before now less their mode's retention in
// days (0: kept for ever), with their conflicts and office amendments, and
// returns how many went. The gates' counters stay as they were: they count
// what the hub ever received.
func (s *Store) Purge(days map[string]int, now time.Time) (int, error) {
	n, err := s.db.purge(retentionAt(days, now))
	if n > 0 {
		// The shelter views are folded from the events: fold them again.
		s.shelters.reset()
		s.changes.Add(1)
	}
	if err != nil {
		return n, fmt.Errorf("hub: purge events past their retention: %w; the next purge tries again", err)
	}
	return n, nil
}

// checkRetention fills in and checks retention_days.
func (c *Config) checkRetention() error {
	days := map[string]int{}
	for m, d := range DefaultRetentionDays {
		days[m] = d
	}
	var bad []string
	for m, d := range c.RetentionDays {
		if _, ok := DefaultRetentionDays[m]; !ok || d < 0 {
			bad = append(bad, fmt.Sprintf("%q: %d", m, d))
			continue
		}
		days[m] = d
	}
	c.RetentionDays = days
	if len(bad) > 0 {
		sort.Strings(bad)
		return fmt.Errorf("retention_days %s: want venue, shelter or kiosk with 0 (keep for ever) or more days", strings.Join(bad, ", "))
	}
	return nil
}

// purgeEvery is how often gatehub run purges events past their retention.
const purgeEvery = time.Hour

// purgeLoop purges soon after start and then every purgeEvery, while this
// instance leads (one instance purges a shared store); an instance that
// takes over the lead purges within a minute.
func (h *Hub) purgeLoop(ctx context.Context) {
	var last time.Time
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	wait := time.NewTimer(leaderCheck * 2) // time to take the lead at start
	defer wait.Stop()
	select {
	case <-ctx.Done():
		return
	case <-wait.C:
	}
	for {
		if h.leadsPurge() && time.Since(last) >= purgeEvery {
			last = time.Now()
			n, err := h.store.Purge(h.cfg.RetentionDays, last)
			switch {
			case err != nil:
				h.log.Warn("hub: retention purge failed", "err", err)
			case n > 0:
				h.log.Info("hub: purged events past their retention", "events", n)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
