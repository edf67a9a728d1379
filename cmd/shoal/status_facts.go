package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/shoal-dev/shoal/adminapi"
)

// nodeFacts is what `shoal status` gathered from one node at one time:
// its status document, figures from its /metrics and the images it
// lists. --format json prints it as it is.
type nodeFacts struct {
	// Node is the node's base URL.
	Node string `json:"node"`
	// At is when the facts were gathered.
	At time.Time `json:"at"`
	// Status is the node's GET /shoal/v1/status.
	Status *adminapi.Status `json:"status"`
	// Metrics are the figures read from GET /metrics; nil when it could
	// not be read, and MetricsError says why.
	Metrics      *metricFacts `json:"metrics,omitempty"`
	MetricsError string       `json:"metrics_error,omitempty"`
	// Images are the images the node lists to this caller; ImagesError
	// says why the list is missing or short.
	Images      []imageFacts `json:"images"`
	ImagesError string       `json:"images_error,omitempty"`
}

// metricFacts are the /metrics figures `shoal status` shows. Byte counts
// are since the node started.
type metricFacts struct {
	// Started is when the node's process started
	// (process_start_time_seconds); nil where the node does not export it.
	Started *time.Time `json:"started,omitempty"`
	// ServedToClients and ServedToPeers are shoal_served_bytes_total.
	ServedToClients int64 `json:"served_to_clients_bytes"`
	ServedToPeers   int64 `json:"served_to_peers_bytes"`
	// FetchedFromPeers and FetchedFromUpstream are
	// shoal_fetched_bytes_total.
	FetchedFromPeers    int64 `json:"fetched_from_peers_bytes"`
	FetchedFromUpstream int64 `json:"fetched_from_upstream_bytes"`
	// PolicyExpires is shoal_policy_expiry_timestamp_seconds; nil without
	// a policy. PolicyExpired is shoal_policy_expired.
	PolicyExpires *time.Time `json:"policy_expires,omitempty"`
	PolicyExpired bool       `json:"policy_expired"`
}

// trafficShares splits the blob bytes this node has handed clients by
// where they came from. /metrics counts what was fetched from peers and
// upstream; what clients got beyond that came from the store. The shares
// are of the larger of the bytes served to clients and the bytes fetched
// (fetches for peers and preloads count too), so they add up to 1.
type trafficShares struct {
	Store, Peers, Upstream float64
	// Total is the bytes the shares are of; 0 when nothing moved.
	Total int64
}

func (m *metricFacts) shares() trafficShares {
	fetched := m.FetchedFromPeers + m.FetchedFromUpstream
	fromStore := max(0, m.ServedToClients-fetched)
	total := fromStore + fetched
	if total <= 0 {
		return trafficShares{}
	}
	t := float64(total)
	return trafficShares{
		Store: float64(fromStore) / t, Peers: float64(m.FetchedFromPeers) / t, Upstream: float64(m.FetchedFromUpstream) / t,
		Total: total,
	}
}

// upstreamSaved is the bytes clients and peers got from this node that it
// did not fetch from upstream: traffic a plain pull-through proxy per
// machine would have sent upstream.
func (m *metricFacts) upstreamSaved() int64 {
	return max(0, m.ServedToClients+m.ServedToPeers-m.FetchedFromUpstream)
}

// readMetricFacts picks metricFacts out of Prometheus text.
func readMetricFacts(text []byte) *metricFacts {
	ps := parsePromText(text)
	whole := func(name string, match ...string) int64 {
		v, _ := ps.get(name, match...)
		return int64(v)
	}
	m := &metricFacts{
		ServedToClients:     whole("shoal_served_bytes_total", "to", "client"),
		ServedToPeers:       whole("shoal_served_bytes_total", "to", "peer"),
		FetchedFromPeers:    whole("shoal_fetched_bytes_total", "source", "peer"),
		FetchedFromUpstream: whole("shoal_fetched_bytes_total", "source", "upstream"),
	}
	if v, ok := ps.get("process_start_time_seconds"); ok && v > 0 {
		t := unixSeconds(v)
		m.Started = &t
	}
	if v, ok := ps.get("shoal_policy_expiry_timestamp_seconds"); ok && v > 0 {
		t := unixSeconds(v)
		m.PolicyExpires = &t
	}
	if v, _ := ps.get("shoal_policy_expired"); v > 0 {
		m.PolicyExpired = true
	}
	return m
}

func unixSeconds(v float64) time.Time {
	return time.Unix(0, int64(v*1e9)).UTC()
}

// statusSource is where `shoal status` gathers from: the node's admin
// API and its registry API.
type statusSource struct {
	api    *adminapi.Client
	images imageLister
	now    func() time.Time
}

// gather reads one snapshot. Only a status document that cannot be read
// fails it; missing metrics or images are noted in the facts.
func (s statusSource) gather(ctx context.Context) (*nodeFacts, error) {
	f := &nodeFacts{Node: s.api.BaseURL().Redacted(), At: s.now().UTC(), Images: []imageFacts{}}
	st, err := s.api.Status(ctx)
	if err != nil {
		return nil, statusCallError(s.api, adminapi.PathStatus, err)
	}
	f.Status = st
	if text, err := s.api.Metrics(ctx); err != nil {
		f.MetricsError = statusCallError(s.api, adminapi.PathMetrics, err).Error()
	} else {
		f.Metrics = readMetricFacts(text)
	}
	if s.images != nil {
		f.Images, err = s.images.list(ctx, st.Upstream)
		if err != nil {
			f.ImagesError = err.Error()
		}
		if f.Images == nil {
			f.Images = []imageFacts{}
		}
	}
	return f, nil
}

// statusCallError words a failed call for a person: a refusal for want
// of credentials says so.
func statusCallError(api *adminapi.Client, path string, err error) error {
	what := path[strings.LastIndexByte(path, '/')+1:]
	var ae *adminapi.Error
	switch {
	case notSent(err):
		return fmt.Errorf("reading %s%s: %w", api.BaseURL().Redacted(), path, err)
	case errors.As(err, &ae) && (ae.StatusCode == http.StatusUnauthorized || ae.StatusCode == http.StatusForbidden):
		return fmt.Errorf("%s: %s%s answered %s: this caller may not read it, though a node answers it to anyone (is a proxy in front of the node asking for credentials?)", what, api.BaseURL().Redacted(), path, ae.Status)
	}
	return fmt.Errorf("%s: %w", what, err)
}
