package node

import (
	dto "github.com/prometheus/client_model/go"

	"github.com/shoal-dev/shoal/traffic"
)

// trafficTotals reads the node's byte counters for its traffic history:
// served to clients, fetched from peers, fetched from upstream.
func (n *Node) trafficTotals() traffic.Totals {
	var t traffic.Totals
	families, err := n.metrics.registry.Gather()
	if err != nil {
		return t
	}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			v := int64(m.GetCounter().GetValue())
			switch {
			case f.GetName() == "shoal_served_bytes_total" && label(m, "to") == "client":
				t.Client = v
			case f.GetName() == "shoal_fetched_bytes_total" && label(m, "source") == "peer":
				t.Peers = v
			case f.GetName() == "shoal_fetched_bytes_total" && label(m, "source") == "upstream":
				t.Upstream = v
			}
		}
	}
	return t
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}
