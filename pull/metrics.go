package pull

import "github.com/prometheus/client_golang/prometheus"

// metrics are the pull path's series.
type metrics struct {
	fetchedBytes *prometheus.CounterVec
	staleTags    prometheus.Counter
	peerTags     prometheus.Counter
	// upstreamErrors counts through countedUpstream.
	upstreamErrors *prometheus.CounterVec
	passThrough    *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		fetchedBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shoal_fetched_bytes_total",
			Help: "Content bytes this node brought in, by where they came from.",
		}, []string{"source"}),
		staleTags: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "shoal_stale_tags_served_total",
			Help: "Tags answered with their last known digest because upstream, or a local repository's owner, could not be reached.",
		}),
		peerTags: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "shoal_peer_tag_resolutions_total",
			Help: "Tags resolved by asking peers, because upstream could not be reached or the repository is another node's.",
		}),
		upstreamErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shoal_upstream_errors_total",
			Help: "Requests to upstream registries that failed (unreachable, refused, 5xx, 429; not-found answers are not counted), by operation.",
		}, []string{"op"}),
		passThrough: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shoal_passthrough_total",
			Help: "Blobs and manifests served from peers or upstream without being stored, because the store could not write.",
		}, []string{"kind"}),
	}
	for _, op := range upstreamOps {
		m.upstreamErrors.WithLabelValues(op)
	}
	m.passThrough.WithLabelValues("blob")
	m.passThrough.WithLabelValues("manifest")
	// Pre-create the contract's series so they read 0 rather than missing.
	m.fetchedBytes.WithLabelValues("peer")
	m.fetchedBytes.WithLabelValues("upstream")
	if reg != nil {
		for _, c := range []prometheus.Collector{m.fetchedBytes, m.staleTags, m.peerTags, m.upstreamErrors, m.passThrough} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

func (m *metrics) fetched(source string, n int) {
	m.fetchedBytes.WithLabelValues(source).Add(float64(n))
}
