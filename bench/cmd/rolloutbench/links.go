package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// linkSampler reads the byte counters of every node's host-side veth
// while a phase runs, to show how much of the capped links the phase
// used and when: a swarm that finishes late with links half idle needs a
// different fix than one whose links were full. On the host end of a
// container's veth, rx is what the node sent and tx what it received.
type linkSampler struct {
	cancel  context.CancelFunc
	done    chan struct{}
	veths   []string
	samples []linkSample
}

type linkSample struct {
	at       time.Time
	up, down int64 // summed over the nodes
}

// linkEvery is the sampling interval; linkBucket the interval a phase's
// use is reported in.
const (
	linkEvery  = 250 * time.Millisecond
	linkBucket = 2 * time.Second
)

func sampleLinks(ctx context.Context, veths []string) *linkSampler {
	ctx, cancel := context.WithCancel(ctx)
	s := &linkSampler{cancel: cancel, done: make(chan struct{}), veths: veths}
	go func() {
		defer close(s.done)
		t := time.NewTicker(linkEvery)
		defer t.Stop()
		for {
			s.samples = append(s.samples, s.read())
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return s
}

func (s *linkSampler) read() linkSample {
	ls := linkSample{at: time.Now()}
	for _, v := range s.veths {
		ls.up += counter(v, "rx_bytes")
		ls.down += counter(v, "tx_bytes")
	}
	return ls
}

func counter(iface, name string) int64 {
	b, err := os.ReadFile("/sys/class/net/" + iface + "/statistics/" + name)
	if err != nil {
		return 0
	}
	n, _ := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	return n
}

// linkUse is a phase's use of the nodes' links: overall, and per
// linkBucket from the phase's start, as a share of the nodes' summed
// caps.
type linkUse struct {
	up, down        float64
	upByT, downByT  []float64
	nodes           int
	rateBytesPerSec float64
}

// stop ends sampling and sums up against a cap of rate bytes per second
// per node, each way.
func (s *linkSampler) stop(rate float64) linkUse {
	s.cancel()
	<-s.done
	u := linkUse{nodes: len(s.veths), rateBytesPerSec: rate}
	if len(s.samples) < 2 || rate <= 0 || len(s.veths) == 0 {
		return u
	}
	capacity := rate * float64(len(s.veths))
	first, last := s.samples[0], s.samples[len(s.samples)-1]
	// The phase ends when the last node is done; its links idle after
	// that, and the report counts the time up to it.
	secs := last.at.Sub(first.at).Seconds()
	u.up = float64(last.up-first.up) / secs / capacity
	u.down = float64(last.down-first.down) / secs / capacity
	from := first
	for _, x := range s.samples[1:] {
		if x.at.Sub(from.at) < linkBucket && x != last {
			continue
		}
		dt := x.at.Sub(from.at).Seconds()
		u.upByT = append(u.upByT, float64(x.up-from.up)/dt/capacity)
		u.downByT = append(u.downByT, float64(x.down-from.down)/dt/capacity)
		from = x
	}
	return u
}

func (u linkUse) String() string {
	pct := func(xs []float64) string {
		var b strings.Builder
		for _, x := range xs {
			fmt.Fprintf(&b, " %3.0f", 100*x)
		}
		return b.String()
	}
	return fmt.Sprintf("links used (share of %d nodes' caps): up %.0f%%, down %.0f%%; by %v, up %%:%s; down %%:%s",
		u.nodes, 100*u.up, 100*u.down, linkBucket, pct(u.upByT), pct(u.downByT))
}

// parseRate reads tc's rate syntax (8mbit, 40mbit, 100kbit, 1gbit) as
// bytes per second; tc's k, m and g are powers of ten.
func parseRate(s string) float64 {
	mult := map[string]float64{"kbit": 1e3 / 8, "mbit": 1e6 / 8, "gbit": 1e9 / 8, "bit": 1.0 / 8, "bps": 1}
	for _, suf := range []string{"kbit", "mbit", "gbit", "bit", "bps"} {
		if v, ok := strings.CutSuffix(strings.ToLower(s), suf); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return 0
			}
			return f * mult[suf]
		}
	}
	return 0
}
