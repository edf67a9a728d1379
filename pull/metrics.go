package pull

import "github.com/prometheus/client_golang/prometheus"

// metrics are the pull path's series.
type metrics struct {
	fetchedBytes *prometheus.CounterVec
	staleTags    prometheus.Counter
	peerTags     prometheus.Counter
	passThrough  *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		fetchedBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shoal_fetched_bytes_total",
			Help: "Content bytes this node brought in, by where they came from.",
		}, []string{"source"}),
		staleTags: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "shoal_stale_tags_served_total",
			Help: "Tags answered with their last known digest because upstream could not be reached.",
		}),
		peerTags: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "shoal_peer_tag_resolutions_total",
			Help: "Tags resolved by asking peers, because upstream could not be reached or the repository is another node's.",
		}),
		passThrough: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shoal_passthrough_total",
			Help: "Blobs and manifests served from peers or upstream without being stored, because the store could not write.",
		}, []string{"kind"}),
	}
	m.passThrough.WithLabelValues("blob")
	m.passThrough.WithLabelValues("manifest")
	// Pre-create the contract's series so they read 0 rather than missing.
	m.fetchedBytes.WithLabelValues("peer")
	m.fetchedBytes.WithLabelValues("upstream")
	if reg != nil {
		for _, c := range []prometheus.Collector{m.fetchedBytes, m.staleTags, m.peerTags, m.passThrough} {
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
