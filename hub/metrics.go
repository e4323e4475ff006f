package hub

import (
	"encoding/json"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/mynagate/mynagate/metrics"
	"github.com/mynagate/mynagate/sync/uplink"
)

// newMetrics declares the hub's series, read from the store's overview at
// scrape time (once per scrape, whatever the number of series), next to the
// Go runtime, process and build_info collectors.
func newMetrics(view func() (View, error), refused func() map[string]uint64, log *slog.Logger) *metrics.Registry {
	r := metrics.New()
	declareMetrics(r, view, log)
	// Logins refused, events from a gate's account on another gate's
	// topic, events for a gate that is not provisioned (or revoked), and
	// enrolments from a gate not provisioned as a kiosk.
	r.CounterFunc("mynagate_hub_refused_total", "Logins and events the hub's broker and ingest refused, by reason.", func() []metrics.Sample {
		counts := refused()
		var out []metrics.Sample
		for _, reason := range []string{"login", "not_own_topic", "unknown_gate", "enrol_not_kiosk"} {
			out = append(out, metrics.Sample{Labels: []string{"reason", reason}, Value: float64(counts[reason])})
		}
		return out
	})
	return r
}

// declareMetrics adds the hub's series to r.
func declareMetrics(r *metrics.Registry, view func() (View, error), log *slog.Logger) {
	v := &viewCache{read: view, log: log}
	perGate := func(f func(g GateView) []metrics.Sample) func() []metrics.Sample {
		return func() []metrics.Sample {
			var out []metrics.Sample
			for _, g := range v.get().Gates {
				out = append(out, f(g)...)
			}
			return out
		}
	}
	gate := func(g GateView, val float64, more ...string) []metrics.Sample {
		return []metrics.Sample{{Labels: append([]string{"site", g.Site, "gate", g.Gate}, more...), Value: val}}
	}
	r.CounterFunc("mynagate_hub_events_total", "Distinct events stored, by site, gate, decision and reason.", perGate(func(g GateView) []metrics.Sample {
		var out []metrics.Sample
		keys := make([]string, 0, len(g.ByReason))
		for k := range g.ByReason {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			decision, reason, _ := strings.Cut(k, "/")
			out = append(out, gate(g, float64(g.ByReason[k]), "decision", decision, "reason", reason)...)
		}
		if len(keys) == 0 && g.Events > 0 {
			// A store kept before reasons were counted.
			out = append(out, gate(g, float64(g.Admits), "decision", "admit", "reason", "unrecorded")...)
			out = append(out, gate(g, float64(g.Denies), "decision", "deny", "reason", "unrecorded")...)
		}
		return out
	}))
	r.CounterFunc("mynagate_hub_duplicates_total", "Re-delivered events dropped by id, per gate.", perGate(func(g GateView) []metrics.Sample {
		return gate(g, float64(g.Duplicates))
	}))
	r.CounterFunc("mynagate_hub_offline_events_total", "Events decided while the gate was offline, per gate.", perGate(func(g GateView) []metrics.Sample {
		return gate(g, float64(g.Offline))
	}))
	r.CounterFunc("mynagate_hub_conflicts_total", "Entries admitted while the holder was already inside, per gate.", perGate(func(g GateView) []metrics.Sample {
		return gate(g, float64(g.Conflicts))
	}))
	status := func(f func(g GateView, st uplink.Status) []metrics.Sample) func() []metrics.Sample {
		return perGate(func(g GateView) []metrics.Sample {
			if g.Status == nil {
				return nil
			}
			var st uplink.Status
			if json.Unmarshal(g.Status.Status, &st) != nil {
				return nil
			}
			return f(g, st)
		})
	}
	r.Gauge("mynagate_gate_online", "1 if the gate's last status says online.", status(func(g GateView, st uplink.Status) []metrics.Sample {
		on := 0.0
		if st.Online {
			on = 1
		}
		return gate(g, on)
	}))
	r.Gauge("mynagate_gate_backlog_events", "Events in the gate's outbox not yet receipted, as its last status says.", status(func(g GateView, st uplink.Status) []metrics.Sample {
		return gate(g, float64(st.Backlog))
	}))
	r.Gauge("mynagate_gate_awaiting_events", "The gate's backlog by what it waits for: the broker or the hub's receipt.", status(func(g GateView, st uplink.Status) []metrics.Sample {
		return append(gate(g, float64(st.AwaitingBroker), "waiting_for", "broker"), gate(g, float64(st.AwaitingHub), "waiting_for", "hub")...)
	}))
	r.Gauge("mynagate_gate_oldest_unsent_seconds", "Age of the gate's oldest event not yet receipted.", status(func(g GateView, st uplink.Status) []metrics.Sample {
		return gate(g, st.OldestUnsentS)
	}))
	r.Gauge("mynagate_site_inside", "Holders inside per site.", func() []metrics.Sample {
		var out []metrics.Sample
		for _, s := range v.get().Sites {
			out = append(out, metrics.Sample{Labels: []string{"site", s.Site}, Value: float64(s.Inside)})
		}
		return out
	})
	r.Gauge("mynagate_list_version", "Latest published list version per site.", func() []metrics.Sample {
		var out []metrics.Sample
		for _, li := range v.get().Lists {
			out = append(out, metrics.Sample{Labels: []string{"site", li.Site, "list", li.List}, Value: float64(li.Version)})
		}
		return out
	})
}

// viewCache reads the overview at most once a second: a scrape reads every
// series, and each would otherwise walk the store.
type viewCache struct {
	read func() (View, error)
	log  *slog.Logger

	mu   sync.Mutex
	at   time.Time
	last View
}

func (c *viewCache) get() View {
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.at) < time.Second {
		return c.last
	}
	v, err := c.read()
	if err != nil {
		c.log.Warn("hub: metrics: read the overview", "err", err)
		return c.last
	}
	c.last, c.at = v, time.Now()
	return v
}
