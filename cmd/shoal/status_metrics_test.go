package main

import (
	"math"
	"testing"
)

func TestParsePromText(t *testing.T) {
	text := `# HELP shoal_served_bytes_total Blob bytes this node sent out.
# TYPE shoal_served_bytes_total counter
shoal_served_bytes_total{to="client"} 100
shoal_served_bytes_total{to="peer"} 50 1700000000000
shoal_fetched_bytes_total{source="peer",weird="a \"quoted\", } value"} 7
shoal_peers 3
shoal_nan NaN
shoal_inf +Inf

not a sample
shoal_no_value
shoal_bad_value{a="b"} twelve
shoal_open_labels{a="b" 1
shoal_bad_label{a=b} 1
{a="b"} 1
`
	ps := parsePromText([]byte(text))
	for _, tt := range []struct {
		name  string
		match []string
		want  float64
		found bool
	}{
		{name: "shoal_served_bytes_total", match: []string{"to", "client"}, want: 100, found: true},
		{name: "shoal_served_bytes_total", match: []string{"to", "peer"}, want: 50, found: true},
		{name: "shoal_served_bytes_total", want: 150, found: true},
		{name: "shoal_served_bytes_total", match: []string{"to", "nobody"}, found: false},
		{name: "shoal_fetched_bytes_total", match: []string{"weird", `a "quoted", } value`}, want: 7, found: true},
		{name: "shoal_peers", want: 3, found: true},
		{name: "shoal_nan", found: false},
		{name: "shoal_inf", want: math.Inf(1), found: true},
		{name: "shoal_no_value", found: false},
		{name: "shoal_bad_value", found: false},
		{name: "shoal_open_labels", found: false},
		{name: "shoal_bad_label", found: false},
		{name: "not", found: false},
	} {
		got, found := ps.get(tt.name, tt.match...)
		if got != tt.want || found != tt.found {
			t.Errorf("get(%s, %q) = %v, %v; want %v, %v", tt.name, tt.match, got, found, tt.want, tt.found)
		}
	}
	if len(ps) != 6 {
		t.Errorf("%d samples read, want 6: %+v", len(ps), ps)
	}
}

// FuzzParsePromText checks that no input makes the parser panic: the
// text is whatever answered at /metrics.
func FuzzParsePromText(f *testing.F) {
	f.Add([]byte(`a{b="c\\"d"} 1` + "\n# x\nz 2"))
	f.Add([]byte(`a{b="`))
	f.Add([]byte(`a{b="c\`))
	f.Fuzz(func(t *testing.T, text []byte) {
		ps := parsePromText(text)
		ps.get("a", "b", "c")
	})
}

func TestMetricFactsShares(t *testing.T) {
	for _, tt := range []struct {
		name                   string
		m                      metricFacts
		store, peers, upstream float64
		total, saved           int64
	}{
		{name: "nothing moved", m: metricFacts{}, saved: 0},
		{name: "all from the store", m: metricFacts{ServedToClients: 100}, store: 1, total: 100, saved: 100},
		{name: "all from upstream", m: metricFacts{ServedToClients: 100, FetchedFromUpstream: 100}, upstream: 1, total: 100, saved: 0},
		{
			name:  "a preload fetched more than clients took",
			m:     metricFacts{ServedToClients: 10, FetchedFromPeers: 30, FetchedFromUpstream: 10},
			peers: 0.75, upstream: 0.25, total: 40, saved: 0,
		},
		{name: "served to peers saves their upstream fetches", m: metricFacts{ServedToPeers: 80, FetchedFromUpstream: 20}, upstream: 1, total: 20, saved: 60},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sh := tt.m.shares()
			if sh.Store != tt.store || sh.Peers != tt.peers || sh.Upstream != tt.upstream || sh.Total != tt.total {
				t.Errorf("shares = %+v, want store %v, peers %v, upstream %v of %d", sh, tt.store, tt.peers, tt.upstream, tt.total)
			}
			if got := tt.m.upstreamSaved(); got != tt.saved {
				t.Errorf("upstream saved = %d, want %d", got, tt.saved)
			}
		})
	}
}
