// Package metrics is the seam between MynaGate's programs and Prometheus: a
// small registry of counters, histograms and gauges read at scrape time, built
// on github.com/prometheus/client_golang, with the Go runtime, process and
// build_info collectors every exporter is expected to have.
//
// Programs declare a series once by name and then add to it by name, so that a
// part of the gate can count without holding a client_golang type; a series
// used without a declaration is a programming error and panics.
package metrics

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/expfmt"
)

// Registry holds a program's series. It is safe for concurrent use.
type Registry struct {
	reg *prometheus.Registry

	mu         sync.Mutex
	counters   map[string]*prometheus.CounterVec
	histograms map[string]*prometheus.HistogramVec
}

// Sample is one gauge value with its labels, as name=value pairs.
type Sample struct {
	Labels []string
	Value  float64
}

// New returns a registry with the Go runtime, process and build_info
// collectors.
func New() *Registry {
	r := NewBare()
	r.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), collectors.NewBuildInfoCollector())
	return r
}

// NewBare returns a registry without the standard collectors, for tests that
// pin the exposition byte for byte.
func NewBare() *Registry {
	return &Registry{reg: prometheus.NewRegistry(), counters: map[string]*prometheus.CounterVec{}, histograms: map[string]*prometheus.HistogramVec{}}
}

// Counter declares a counter with the given label names.
func (r *Registry) Counter(name, help string, labels ...string) {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	r.reg.MustRegister(c)
	r.mu.Lock()
	r.counters[name] = c
	r.mu.Unlock()
}

// Add adds v to the counter for these label values.
func (r *Registry) Add(name string, v float64, labelValues ...string) {
	r.mu.Lock()
	c, ok := r.counters[name]
	r.mu.Unlock()
	if !ok {
		panic(fmt.Sprintf("metrics: counter %s used but not declared", name))
	}
	c.WithLabelValues(labelValues...).Add(v)
}

// Histogram declares a histogram with the given upper bounds and label names.
func (r *Registry) Histogram(name, help string, buckets []float64, labels ...string) {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, labels)
	r.reg.MustRegister(h)
	r.mu.Lock()
	r.histograms[name] = h
	r.mu.Unlock()
}

// Observe records v in the histogram for these label values.
func (r *Registry) Observe(name string, v float64, labelValues ...string) {
	r.mu.Lock()
	h, ok := r.histograms[name]
	r.mu.Unlock()
	if !ok {
		panic(fmt.Sprintf("metrics: histogram %s used but not declared", name))
	}
	h.WithLabelValues(labelValues...).Observe(v)
}

// Gauge declares a gauge whose samples read returns at every scrape. Every
// sample must carry the same label names.
func (r *Registry) Gauge(name, help string, read func() []Sample) {
	r.reg.MustRegister(&valueFunc{name: name, help: help, typ: prometheus.GaugeValue, read: read})
}

// CounterFunc declares a counter whose samples read returns at every scrape:
// for counts kept elsewhere, such as the hub's stored events, which survive
// restarts.
func (r *Registry) CounterFunc(name, help string, read func() []Sample) {
	r.reg.MustRegister(&valueFunc{name: name, help: help, typ: prometheus.CounterValue, read: read})
}

// Value is a read func for a gauge with one unlabelled value.
func Value(f func() float64) func() []Sample {
	return func() []Sample { return []Sample{{Value: f()}} }
}

// valueFunc is a gauge or counter read at scrape time, with labels:
// client_golang's GaugeFunc and CounterFunc have none.
type valueFunc struct {
	name, help string
	typ        prometheus.ValueType
	read       func() []Sample
}

// Describe sends nothing: the label names are known only once read runs,
// which makes the collector unchecked.
func (g *valueFunc) Describe(chan<- *prometheus.Desc) {}

// Collect reads the samples.
func (g *valueFunc) Collect(ch chan<- prometheus.Metric) {
	for _, s := range g.read() {
		var names, values []string
		for i := 0; i+1 < len(s.Labels); i += 2 {
			names, values = append(names, s.Labels[i]), append(values, s.Labels[i+1])
		}
		d := prometheus.NewDesc(g.name, g.help, names, nil)
		m, err := prometheus.NewConstMetric(d, g.typ, s.Value, values...)
		if err != nil {
			m = prometheus.NewInvalidMetric(d, err)
		}
		ch <- m
	}
}

// WriteText writes every series in the text exposition format, sorted by name
// and labels.
func (r *Registry) WriteText(w io.Writer) error {
	mfs, err := r.reg.Gather()
	if err != nil {
		return fmt.Errorf("metrics: gather: %w", err)
	}
	var b bytes.Buffer
	enc := expfmt.NewEncoder(&b, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			return fmt.Errorf("metrics: encode %s: %w", mf.GetName(), err)
		}
	}
	_, err = w.Write(b.Bytes())
	return err
}

// Handler serves the registry, for a local Prometheus to scrape.
func (r *Registry) Handler() http.Handler {
	return promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}
