package handlers

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/specloop/specloop/store"
)

// Metrics are the intake's Prometheus series, on a registry of the server's
// own (no global registry).
type Metrics struct {
	Registry   *prometheus.Registry
	deliveries *prometheus.CounterVec
	latency    prometheus.Histogram
	batch      prometheus.Histogram
}

// NewMetrics registers the intake series and a queue-depth collector that
// reads River's table at scrape time.
func NewMetrics(pool *pgxpool.Pool) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		Registry: reg,
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "specloop_webhook_deliveries_total",
			Help: "Webhook deliveries by event and outcome (accepted, duplicate, rejected_*, unavailable, error).",
		}, []string{"event", "outcome"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "specloop_webhook_intake_seconds",
			Help:    "Time from request to reply for webhook deliveries.",
			Buckets: []float64{.001, .0025, .005, .01, .02, .05, .1, .25, .5, 1, 2.5},
		}),
	}
	m.batch = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "specloop_webhook_commit_batch_size",
		Help:    "Deliveries recorded per transaction (group commit).",
		Buckets: []float64{1, 2, 4, 8, 16, 32, 64},
	})
	reg.MustRegister(m.deliveries, m.latency, m.batch,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if pool != nil {
		reg.MustRegister(&queueDepth{pool: pool, desc: prometheus.NewDesc(
			"specloop_queue_depth", "Jobs waiting or running, by kind and state.", []string{"kind", "state"}, nil)})
	}
	return m
}

type queueDepth struct {
	pool *pgxpool.Pool
	desc *prometheus.Desc
}

func (q *queueDepth) Describe(ch chan<- *prometheus.Desc) { ch <- q.desc }

func (q *queueDepth) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	counts, err := store.PendingJobs(ctx, q.pool)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(q.desc, err)
		return
	}
	for _, c := range counts {
		ch <- prometheus.MustNewConstMetric(q.desc, prometheus.GaugeValue, float64(c.N), c.Kind, c.State)
	}
}
