package node

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/shoal-dev/shoal/cache"
)

// metrics are the node's Prometheus series, on a registry of its own so
// that several nodes can live in one process (tests do).
type metrics struct {
	registry    *prometheus.Registry
	servedBytes *prometheus.CounterVec
	requests    *prometheus.CounterVec
	latency     *prometheus.HistogramVec
	penalties   prometheus.Counter
	relayed     prometheus.Counter
}

// storeState is whether the store can write and the filesystem under
// it (cache.Store).
type storeState interface {
	Health() cache.Health
	Space() (fs cache.Filesystem, high, low float64, ok bool)
}

// cacheUsage and uploads report the store's size and blobs, and the part
// of that size held by open upload sessions and how many are open;
// cacheLimit is --cache-max-bytes (0: none).
func newMetrics(cacheUsage, uploads func() (int64, int), cacheLimit int64, store storeState, peers func() int) *metrics {
	space := func(pick func(fs cache.Filesystem, high, low float64) float64) func() float64 {
		return func() float64 {
			fs, high, low, ok := store.Space()
			if !ok {
				return 0
			}
			return pick(fs, high, low)
		}
	}
	m := &metrics{
		registry: prometheus.NewRegistry(),
		servedBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shoal_served_bytes_total",
			Help: "Blob bytes this node sent out, by whom to.",
		}, []string{"to"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shoal_http_requests_total",
			Help: "Registry API requests, by route, method and status code.",
		}, []string{"route", "method", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "shoal_http_request_duration_seconds",
			Help:    "Registry API request latency, by route and method (blob bodies included).",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120},
		}, []string{"route", "method"}),
		penalties: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "shoal_peer_penalties_total",
			Help: "Peers penalised for sending content that did not match its digest.",
		}),
		relayed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "shoal_swarm_relayed_pieces_total",
			Help: "Pieces sent to peers from blobs this node was still receiving.",
		}),
	}
	// Pre-create the contract's series so they read 0 rather than missing.
	m.servedBytes.WithLabelValues("client")
	m.servedBytes.WithLabelValues("peer")
	m.registry.MustRegister(
		m.servedBytes, m.requests, m.latency, m.penalties, m.relayed,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "shoal_peers", Help: "Peers connected now.",
		}, func() float64 { return float64(peers()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "shoal_cache_bytes", Help: "The store's size, which its size limit bounds: its blobs and its open upload sessions.",
		}, func() float64 { b, _ := cacheUsage(); return float64(b) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "shoal_cache_limit_bytes", Help: "The store's size limit (--cache-max-bytes); 0 when only the disk's free space bounds it.",
		}, func() float64 { return float64(cacheLimit) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "shoal_cache_blobs", Help: "Blobs in the store.",
		}, func() float64 { _, n := cacheUsage(); return float64(n) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "shoal_cache_upload_bytes", Help: "Bytes held by open upload sessions (part of shoal_cache_bytes).",
		}, func() float64 { b, _ := uploads(); return float64(b) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "shoal_cache_uploads", Help: "Upload sessions open.",
		}, func() float64 { _, n := uploads(); return float64(n) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "shoal_cache_degraded", Help: "1 while the store cannot write (content is then served without being stored), 0 otherwise.",
		}, func() float64 {
			if store.Health().Degraded {
				return 1
			}
			return 0
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "shoal_cache_filesystem_bytes", Help: "Size of the filesystem that holds the store.",
		}, space(func(fs cache.Filesystem, _, _ float64) float64 { return float64(fs.Size) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "shoal_cache_filesystem_available_bytes", Help: "Bytes available on the filesystem that holds the store.",
		}, space(func(fs cache.Filesystem, _, _ float64) float64 { return float64(fs.Avail) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "shoal_cache_filesystem_used_ratio", Help: "How full the filesystem that holds the store is, as df counts it (used over used plus available).",
		}, space(func(fs cache.Filesystem, _, _ float64) float64 { return fs.UsedRatio() })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "shoal_cache_high_watermark_ratio", Help: "Past this ratio of the filesystem used, mirrored content is evicted (0: off).",
		}, space(func(_ cache.Filesystem, high, _ float64) float64 { return high })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "shoal_cache_low_watermark_ratio", Help: "Eviction for the high watermark stops at this ratio of the filesystem used.",
		}, space(func(_ cache.Filesystem, _, low float64) float64 { return low })),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

func (m *metrics) observe(route, method string, status int, d time.Duration) {
	m.requests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
	m.latency.WithLabelValues(route, method).Observe(d.Seconds())
}
