// Package metrics exposes a gate's counters and gauges in the Prometheus text
// exposition format, written by hand: the gate runs on small boxes and needs a
// dozen series, not a client library.
package metrics

import (
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
)

// Registry holds counters and gauges. It is safe for concurrent use.
type Registry struct {
	mu       sync.Mutex
	counters map[string]*counter
	gauges   []gauge
}

type counter struct {
	help   string
	labels []string
	values map[string]float64 // key: label values joined by \xff
}

type gauge struct {
	name, help string
	// read returns the current values by label set ("" for none).
	read func() []Sample
}

// Sample is one gauge value with its labels, as name=value pairs.
type Sample struct {
	Labels []string
	Value  float64
}

// New returns an empty Registry.
func New() *Registry { return &Registry{counters: map[string]*counter{}} }

// Counter declares a counter with the given label names.
func (r *Registry) Counter(name, help string, labels ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.counters[name] = &counter{help: help, labels: labels, values: map[string]float64{}}
}

// Add adds v to the counter for these label values; an undeclared counter is a
// programming error and panics.
func (r *Registry) Add(name string, v float64, labelValues ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.counters[name]
	if !ok || len(labelValues) != len(c.labels) {
		panic(fmt.Sprintf("metrics: counter %s used with %d labels, declared with %v", name, len(labelValues), c))
	}
	c.values[strings.Join(labelValues, "\xff")] += v
}

// Gauge declares a gauge whose samples read returns at every scrape.
func (r *Registry) Gauge(name, help string, read func() []Sample) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.gauges = append(r.gauges, gauge{name: name, help: help, read: read})
}

// Value is a read func for a gauge with one unlabelled value.
func Value(f func() float64) func() []Sample {
	return func() []Sample { return []Sample{{Value: f()}} }
}

// WriteText writes every series in the text exposition format, counters first,
// each sorted by name and labels so the output is stable.
func (r *Registry) WriteText(w io.Writer) error {
	r.mu.Lock()
	names := make([]string, 0, len(r.counters))
	for n := range r.counters {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		c := r.counters[n]
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s counter\n", n, c.help, n)
		keys := make([]string, 0, len(c.values))
		for k := range c.values {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			var pairs []string
			if len(c.labels) > 0 {
				for i, v := range strings.Split(k, "\xff") {
					pairs = append(pairs, c.labels[i], v)
				}
			}
			writeSample(&b, n, pairs, c.values[k])
		}
	}
	gauges := append([]gauge(nil), r.gauges...)
	r.mu.Unlock()
	for _, g := range gauges {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s gauge\n", g.name, g.help, g.name)
		for _, s := range g.read() {
			writeSample(&b, g.name, s.Labels, s.Value)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func writeSample(b *strings.Builder, name string, pairs []string, v float64) {
	b.WriteString(name)
	if len(pairs) > 0 {
		b.WriteByte('{')
		for i := 0; i+1 < len(pairs); i += 2 {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(b, "%s=%q", pairs[i], pairs[i+1])
		}
		b.WriteByte('}')
	}
	fmt.Fprintf(b, " %g\n", v)
}

// Handler serves the registry at any path, for a local Prometheus to scrape.
func (r *Registry) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		r.WriteText(w)
	})
}
