package server

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/catqms/catqms/queue/flow"
	"github.com/catqms/catqms/queue/readmodel"
)

// statsTimeout bounds the store read behind one scrape.
const statsTimeout = time.Second

// registerMetrics registers the request histogram, the line collector, the
// build info and the Go and process collectors. A Go or process collector
// the caller registered already is kept.
func (s *Server) registerMetrics() error {
	s.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "catqms_http_request_duration_seconds",
		Help:    "Time to answer an HTTP request, by route pattern, method and status.",
		Buckets: prometheus.DefBuckets,
	}, []string{"route", "method", "status"})
	buildInfo := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "catqms_build_info",
		Help:        "Always 1; the version label says which build serves.",
		ConstLabels: prometheus.Labels{"version": s.cfg.Version},
	})
	buildInfo.Set(1)
	s.internalErrors = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "catqms_internal_errors_total",
		Help: "Answers that were a defect (500 internal): a store answer that broke the protocol, a script that failed, a bug. Each is logged with its detail.",
	})
	s.estimateError = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    flow.MetricAbsError,
		Help:    "Absolute error of a wait estimate's middle when its ticket was called, seconds, by estimator (flow, naive) and when in the wait it was made (take, half, quarter).",
		Buckets: prometheus.ExponentialBuckets(5, 2, 10), // 5 s to about 43 min
	}, []string{"estimator", "point"})
	s.estimateInRange = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    flow.MetricInRange,
		Help:    "1 when a called ticket's wait fell inside the estimate's range, else 0 (sum over count: the share inside), by estimator and point.",
		Buckets: []float64{0.5},
	}, []string{"estimator", "point"})
	// Every series from the start, so that /metrics lists them before the
	// first call is scored.
	for _, e := range []flow.Estimator{flow.EstimatorFlow, flow.EstimatorNaive} {
		for _, p := range []flow.Point{flow.PointTake, flow.PointHalf, flow.PointQuarter} {
			s.estimateError.WithLabelValues(e.String(), p.String())
			s.estimateInRange.WithLabelValues(e.String(), p.String())
		}
	}
	mine := []prometheus.Collector{s.duration, buildInfo, s.internalErrors, newLineCollector(s), s.estimateError, s.estimateInRange}
	if s.replica != nil {
		mine = append(mine, newViewCollector(s.replica))
	}
	for _, c := range mine {
		if err := s.reg.Register(c); err != nil {
			return err
		}
	}
	for _, c := range []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		if err := s.reg.Register(c); err != nil {
			if _, dup := errors.AsType[prometheus.AlreadyRegisteredError](err); !dup {
				return err
			}
		}
	}
	return nil
}

// observerKey is the label values of one child of the request histogram.
type observerKey struct {
	route, method string
	status        int
}

// observerCache keeps the request histogram's children. WithLabelValues on
// every request formats the status, hashes the three values and checks
// them; the routes, methods and statuses are few (observe bounds them), so
// each child is looked up once and then found here.
type observerCache struct {
	mu sync.RWMutex
	m  map[observerKey]prometheus.Observer
}

// observerFor returns the request histogram's child for the label values.
func (s *Server) observerFor(route, method string, status int) prometheus.Observer {
	key := observerKey{route, method, status}
	s.observers.mu.RLock()
	o, ok := s.observers.m[key]
	s.observers.mu.RUnlock()
	if ok {
		return o
	}
	o = s.duration.WithLabelValues(route, method, strconv.Itoa(status))
	s.observers.mu.Lock()
	if s.observers.m == nil {
		s.observers.m = make(map[observerKey]prometheus.Observer)
	}
	s.observers.m[key] = o
	s.observers.mu.Unlock()
	return o
}

// metricsHandler serves the registry in the Prometheus text format.
func (s *Server) metricsHandler() http.Handler {
	return promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{
		ErrorHandling: promhttp.ContinueOnError,
		Registry:      s.reg,
	})
}

// lineCollector reads the line's totals from the store once per scrape, so
// every replica exports the same global numbers.
type lineCollector struct {
	s                                     *Server
	issued, served, expired, left, bans   *prometheus.Desc
	length, busy, counters, wsConnections *prometheus.Desc
}

func newLineCollector(s *Server) *lineCollector {
	desc := func(name, help string) *prometheus.Desc { return prometheus.NewDesc(name, help, nil, nil) }
	return &lineCollector{
		s:             s,
		issued:        desc("catqms_tickets_issued_total", "Tickets issued by the line, across all replicas."),
		served:        desc("catqms_tickets_served_total", "Tickets whose viewing session ended, across all replicas."),
		expired:       desc("catqms_tickets_expired_total", "Called tickets not redeemed in time, across all replicas."),
		left:          desc("catqms_tickets_left_total", "Tickets whose holder left the line or was banned, across all replicas."),
		bans:          desc("catqms_bans_total", "Clients banned for a forged token, across all replicas."),
		length:        desc("catqms_line_length", "Tickets called or waiting now."),
		busy:          desc("catqms_counters_busy", "Counters serving a ticket now."),
		counters:      desc("catqms_counters", "Service counters of the line."),
		wsConnections: desc("catqms_websocket_clients", "WebSocket clients connected to this replica."),
	}
}

// Describe sends the descriptors of every metric Collect may send.
func (lc *lineCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		lc.issued, lc.served, lc.expired, lc.left, lc.bans,
		lc.length, lc.busy, lc.counters, lc.wsConnections,
	} {
		ch <- d
	}
}

// Collect sends the current values. When the store does not answer, the
// line's metrics are left out of this scrape rather than failing it.
func (lc *lineCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(lc.wsConnections, prometheus.GaugeValue, float64(lc.s.hub.Clients()))

	ctx, cancel := context.WithTimeout(context.Background(), statsTimeout)
	defer cancel()
	st, err := lc.s.stats.Stats(ctx)
	if err != nil {
		lc.s.backgroundError("metrics: line stats", err)
		return
	}
	counter := func(d *prometheus.Desc, v int64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	gauge := func(d *prometheus.Desc, v int64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v))
	}
	counter(lc.issued, st.Issued)
	counter(lc.served, st.Served)
	counter(lc.expired, st.Expired)
	counter(lc.left, st.Left)
	counter(lc.bans, st.Bans)
	gauge(lc.length, st.Length)
	gauge(lc.busy, st.Serving)
	gauge(lc.counters, int64(st.Counters))
}

// viewCollector exports the work of the replica's view of the line (the
// read model the live feed shows).
type viewCollector struct {
	r                                        *readmodel.Replica
	loaded, version, tickets, bytes, entries *prometheus.Desc
	loads, lastLoad                          *prometheus.Desc
}

func newViewCollector(r *readmodel.Replica) *viewCollector {
	desc := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return &viewCollector{
		r:        r,
		loaded:   desc("catqms_view_loaded", "1 while this replica holds the line in memory and follows its change log; 0 while it cannot (the board shows stale)."),
		version:  desc("catqms_view_version", "The line's version this replica's view holds."),
		tickets:  desc("catqms_view_tickets", "Waiting, called and serving tickets in this replica's view."),
		bytes:    desc("catqms_view_waiting_bytes", "Memory of the view's set of waiting tickets."),
		entries:  desc("catqms_view_entries_applied_total", "Change log entries this replica's view applied."),
		loads:    desc("catqms_view_loads_total", "Whole loads of the line into the view, by reason: start, gap (a trimmed log, a wiped store, a failover), error (a failed read).", "reason"),
		lastLoad: desc("catqms_view_last_load_seconds", "How long the view's last whole load took, the log's replay included."),
	}
}

// Describe sends the descriptors of every metric Collect may send.
func (vc *viewCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{vc.loaded, vc.version, vc.tickets, vc.bytes, vc.entries, vc.loads, vc.lastLoad} {
		ch <- d
	}
}

// Collect sends the current values, read from memory.
func (vc *viewCollector) Collect(ch chan<- prometheus.Metric) {
	st := vc.r.Stats()
	gauge := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
	loaded := 0.0
	if st.Loaded {
		loaded = 1
	}
	gauge(vc.loaded, loaded)
	gauge(vc.version, float64(st.Version))
	gauge(vc.tickets, float64(st.Tickets))
	gauge(vc.bytes, float64(st.WaitingBytes))
	gauge(vc.lastLoad, st.LastLoad.Seconds())
	ch <- prometheus.MustNewConstMetric(vc.entries, prometheus.CounterValue, float64(st.Entries))
	for _, reason := range []string{readmodel.ReasonStart, readmodel.ReasonGap, readmodel.ReasonError} {
		ch <- prometheus.MustNewConstMetric(vc.loads, prometheus.CounterValue, float64(st.Loads[reason]), reason)
	}
}

// observeScore feeds the estimate's histograms one score (flow.Config's
// OnScore): called by the read model under its lock, in log order.
func (s *Server) observeScore(sc flow.Score) {
	if s.estimateError == nil {
		return // before registerMetrics: nothing is scored that early
	}
	labels := []string{sc.Estimator.String(), sc.Point.String()}
	s.estimateError.WithLabelValues(labels...).Observe(sc.AbsError.Seconds())
	in := 0.0
	if sc.Inside {
		in = 1
	}
	s.estimateInRange.WithLabelValues(labels...).Observe(in)
}
