package main

import (
	"fmt"
	"io"
	"slices"
	"time"
)

// result is one run: the three phases rolloutbench measures, and where
// the fleet's time went.
type result struct {
	Nodes   int     `json:"nodes"`
	RateBps float64 `json:"rate_bytes_per_s"`
	SizeMiB float64 `json:"size_mib"`
	Layers  int     `json:"layers"`
	Latency string  `json:"latency"`
	Leave   float64 `json:"leave"`
	Seed    uint64  `json:"seed"`

	Alone     float64 `json:"alone_s"`      // one node pulling alone
	NoSharing float64 `json:"no_sharing_s"` // every node from upstream, last done
	P50       float64 `json:"fleet_p50_s"`
	Last      float64 `json:"fleet_last_s"`
	Ratio     float64 `json:"last_over_no_sharing"`
	PerPull   float64 `json:"last_over_alone"`
	Copies    float64 `json:"upstream_copies"`
	Done      int     `json:"nodes_done"`
	Died      int     `json:"nodes_died"`

	UploadMean float64 `json:"upload_util_mean"` // of the link, until the last node is done
	UploadMin  float64 `json:"upload_util_min"`
	UploadMax  float64 `json:"upload_util_max"`
	// UploadBySecond is the fleet's upload, as a fraction of its links,
	// in each tenth of the fleet's time.
	UploadByTenth []float64 `json:"upload_util_by_tenth"`
	// Inject is how long the origins took to send each piece's first
	// copy, on average, and LastInjected when the last one left.
	InjectPerPiece float64 `json:"origin_inject_per_piece_s"`
	LastInjected   float64 `json:"last_piece_injected_s"`
	Requests       int     `json:"piece_requests"`
	Busy           int     `json:"busy_answers"`
	Timeouts       int     `json:"piece_timeouts"`
	Stalls         int     `json:"upstream_fallbacks"`
	// Relays counts the piece requests served while the piece was
	// still arriving to its holder (cut-through), RelaysBroken those of
	// them broken off because the holder's own copy failed.
	Relays       int `json:"relays"`
	RelaysBroken int `json:"relays_broken"`
	Statuses     int `json:"status_questions"`
	// HeaderShare is the requests' and answer headers' bytes, as a
	// fraction of all bytes the fleet's nodes sent each other.
	HeaderShare float64 `json:"header_share"`
	// ReaderWait is the longest any fetch's reader waited for its next
	// piece: a node gives a fetch up after idleTimeout without a byte.
	ReaderWait float64 `json:"longest_reader_wait_s"`
	// Starved counts the fetches whose reader waited that long.
	Starved int `json:"starved_fetches"`
}

func measure(cfg config, limit time.Duration) result {
	r := result{Nodes: cfg.nodes, RateBps: cfg.rate, SizeMiB: float64(cfg.size) / (1 << 20), Layers: cfg.layers, Latency: cfg.latency.String(), Leave: cfg.leave, Seed: cfg.seed}

	alone := cfg
	alone.nodes, alone.share, alone.leave = 1, false, 0
	a := newFleet(alone)
	a.run(limit)
	r.Alone = a.nodes[0].doneAt.Seconds()

	solo := cfg
	solo.share, solo.leave = false, 0
	s := newFleet(solo)
	s.run(limit)
	r.NoSharing = lastDone(s)

	shared := cfg
	shared.share = true
	f := newFleet(shared)
	f.run(limit)
	if cfg.heapProfile != "" {
		writeHeapProfile(cfg.heapProfile)
	}
	var done []time.Duration
	for _, n := range f.nodes {
		switch {
		case n.dead:
			r.Died++
		case n.left == 0:
			done = append(done, n.doneAt)
		}
	}
	r.Done = len(done)
	slices.Sort(done)
	if len(done) > 0 {
		r.P50 = done[(len(done)-1)/2].Seconds()
		r.Last = done[len(done)-1].Seconds()
	}
	r.Ratio = r.Last / r.NoSharing
	r.PerPull = r.Last / r.Alone
	r.Copies = f.stats.upstreamBytes / float64(cfg.size)
	r.Requests, r.Busy, r.Timeouts, r.Stalls, r.Statuses = f.stats.requests, f.stats.busy, f.stats.timeouts, f.stats.stalls, f.stats.statuses
	r.ReaderWait, r.Starved = f.stats.readerWait.Seconds(), f.stats.starved
	r.Relays, r.RelaysBroken = f.stats.relays, f.stats.relaysBroken
	var sent float64
	for _, n := range f.nodes {
		sent += n.uploaded
	}
	if sent+f.stats.headerBytes > 0 {
		r.HeaderShare = f.stats.headerBytes / (sent + f.stats.headerBytes)
	}

	if r.Last > 0 {
		r.UploadMin = 1
		var sum float64
		for _, n := range f.nodes {
			u := n.uploaded / (cfg.rate * r.Last)
			sum += u
			r.UploadMin, r.UploadMax = min(r.UploadMin, u), max(r.UploadMax, u)
		}
		r.UploadMean = sum / float64(len(f.nodes))
		tenths := make([]float64, 10)
		for k, b := range f.upBuckets {
			at := (float64(k) + 0.5) * bucket.Seconds()
			if at < r.Last {
				tenths[int(at/r.Last*10)] += b
			}
		}
		for _, b := range tenths {
			r.UploadByTenth = append(r.UploadByTenth, b/(cfg.rate*float64(cfg.nodes)*r.Last/10))
		}
	}
	var spans int
	for _, b := range f.blobs {
		first, last, n := time.Duration(-1), time.Duration(0), 0
		for _, t := range b.injected {
			if t == 0 {
				continue
			}
			n++
			if first < 0 || t < first {
				first = t
			}
			last = max(last, t)
		}
		r.LastInjected = max(r.LastInjected, last.Seconds())
		if n > 1 {
			r.InjectPerPiece += (last - first).Seconds() / float64(n-1)
			spans++
		}
	}
	if spans > 0 {
		r.InjectPerPiece /= float64(spans)
	}
	return r
}

func lastDone(f *fleet) float64 {
	var last time.Duration
	for _, n := range f.nodes {
		last = max(last, n.doneAt)
	}
	return last.Seconds()
}

func (r result) print(w io.Writer) {
	fmt.Fprintf(w, "nodes %d, %.1f MiB in %d layers, %.1f Mbit/s each way, latency %s, leave %.2f, seed %d\n", r.Nodes, r.SizeMiB, r.Layers, r.RateBps*8/1e6, r.Latency, r.Leave, r.Seed)
	fmt.Fprintf(w, "  one pull alone     %7.1f s\n", r.Alone)
	fmt.Fprintf(w, "  no sharing, last  %7.1f s   upstream %dx\n", r.NoSharing, r.Nodes)
	fmt.Fprintf(w, "  fleet p50 / last  %7.1f s / %.1f s   last/no-sharing %.2f   last/one pull %.2f   upstream copies %.2f\n", r.P50, r.Last, r.Ratio, r.PerPull, r.Copies)
	fmt.Fprintf(w, "  nodes done %d, died %d\n", r.Done, r.Died)
	fmt.Fprintf(w, "  upload use of the link until the last node: mean %.2f (min %.2f, max %.2f); by tenth of the time:", r.UploadMean, r.UploadMin, r.UploadMax)
	for _, u := range r.UploadByTenth {
		fmt.Fprintf(w, " %.2f", u)
	}
	fmt.Fprintf(w, "\n  origins: last piece's first copy out at %.1f s (%.2f s a piece on average); tail after it %.1f s\n", r.LastInjected, r.InjectPerPiece, r.Last-r.LastInjected)
	fmt.Fprintf(w, "  piece requests %d, busy answers %d, timeouts %d, upstream fall-backs %d\n", r.Requests, r.Busy, r.Timeouts, r.Stalls)
	fmt.Fprintf(w, "  served while still arriving (cut-through) %d, broken off %d\n", r.Relays, r.RelaysBroken)
	fmt.Fprintf(w, "  longest a reader waited for its next piece %.1f s; fetches that waited past the node's idle timeout (%v) %d\n", r.ReaderWait, idleTimeout, r.Starved)
	fmt.Fprintf(w, "  status questions %d; requests and headers %.1f%% of the bytes nodes sent each other\n", r.Statuses, 100*r.HeaderShare)
}
