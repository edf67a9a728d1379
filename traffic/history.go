// Package traffic keeps a node's recent traffic by source: how many bytes
// it served its clients and fetched from peers and from upstream, per
// interval, for the last hour. The node keeps only running totals in its
// metrics; an operator's page wants the shape of the last hour without a
// Prometheus server.
package traffic

import (
	"sync"
	"time"
)

// Totals are running byte counts, as the node's counters hold them.
type Totals struct {
	// Client is what the node served its clients; Peers and Upstream
	// what it fetched from each.
	Client, Peers, Upstream int64
}

// Sample is the traffic of one interval, ending At.
type Sample struct {
	At time.Time
	Totals
}

// History is the traffic of the last Len intervals. It is safe for
// concurrent use.
type History struct {
	mu      sync.Mutex
	len     int
	last    Totals
	started bool
	samples []Sample // oldest first, at most len
}

// NewHistory keeps the last n samples.
func NewHistory(n int) *History { return &History{len: max(1, n)} }

// Record takes the totals at now and keeps what moved since the last
// call as the sample ending now. The first call only sets the baseline.
// Totals that went down (a counter reset) count from zero.
func (h *History) Record(now time.Time, t Totals) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.started {
		h.started, h.last = true, t
		return
	}
	d := Totals{Client: delta(h.last.Client, t.Client), Peers: delta(h.last.Peers, t.Peers), Upstream: delta(h.last.Upstream, t.Upstream)}
	h.last = t
	h.samples = append(h.samples, Sample{At: now, Totals: d})
	if extra := len(h.samples) - h.len; extra > 0 {
		h.samples = append(h.samples[:0], h.samples[extra:]...)
	}
}

func delta(before, now int64) int64 {
	if now < before {
		return now
	}
	return now - before
}

// Samples are the kept samples, oldest first.
func (h *History) Samples() []Sample {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Sample(nil), h.samples...)
}

// Run records read's totals now and every interval until stop is closed.
func (h *History) Run(stop <-chan struct{}, every time.Duration, read func() Totals) {
	h.Record(time.Now(), read())
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case now := <-t.C:
			h.Record(now, read())
		}
	}
}
