package p2p

import (
	"context"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/opencontainers/go-digest"
)

// ReprovideInterval is how often everything held is advertised again,
// well inside the 48 hours a provider record lives in the DHT.
const ReprovideInterval = 12 * time.Hour

// provideWorkers bounds how many DHT provide calls run at once, so a node
// with many thousands of blobs advertises them steadily, not in a flood.
const provideWorkers = 8

// Advertiser keeps what a node holds advertised in the DHT: new content
// as it arrives, everything again every ReprovideInterval, and evicted
// content no longer (its records expire on their own).
type Advertiser struct {
	h    *Host
	all  func(func(digest.Digest) bool) error
	jobs chan digest.Digest

	mu      sync.Mutex
	held    map[digest.Digest]bool
	pending map[digest.Digest]bool

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// Advertise starts advertising; all iterates over everything the node
// holds (for reproviding).
func (h *Host) Advertise(all func(func(digest.Digest) bool) error) *Advertiser {
	ctx, cancel := context.WithCancel(context.Background())
	a := &Advertiser{h: h, all: all, jobs: make(chan digest.Digest, 4096), held: map[digest.Digest]bool{}, pending: map[digest.Digest]bool{}, cancel: cancel}
	for range provideWorkers {
		a.wg.Add(1)
		go a.work(ctx)
	}
	a.wg.Add(1)
	go a.reprovide(ctx)
	return a
}

// Add advertises d, which the node now holds.
func (a *Advertiser) Add(d digest.Digest) {
	a.mu.Lock()
	a.held[d] = true
	queued := a.pending[d]
	a.pending[d] = true
	a.mu.Unlock()
	if queued {
		return
	}
	select {
	case a.jobs <- d:
	default:
		// The queue is full: the reprovide pass will get to it.
		a.mu.Lock()
		delete(a.pending, d)
		a.mu.Unlock()
	}
}

// Remove stops advertising d.
func (a *Advertiser) Remove(d digest.Digest) {
	a.mu.Lock()
	delete(a.held, d)
	a.mu.Unlock()
}

// Close stops advertising.
func (a *Advertiser) Close() {
	a.cancel()
	a.wg.Wait()
}

func (a *Advertiser) work(ctx context.Context) {
	defer a.wg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case d := <-a.jobs:
			a.mu.Lock()
			delete(a.pending, d)
			held := a.held[d]
			a.mu.Unlock()
			if held {
				a.provide(ctx, d)
			}
		}
	}
}

func (a *Advertiser) provide(ctx context.Context, d digest.Digest) {
	c, err := CID(d)
	if err != nil {
		return
	}
	// With no peers there is no one to tell; the reprovide pass after
	// joining will.
	if a.h.Peers() == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := a.h.dht.Provide(ctx, c, true); err != nil && ctx.Err() == nil {
		a.h.log.Debug("advertising", "digest", d, "err", err)
	}
}

// reprovide advertises everything held every ReprovideInterval, and once
// soon after the node first finds peers.
func (a *Advertiser) reprovide(ctx context.Context) {
	defer a.wg.Done()
	wait := time.Second
	joined := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		if !joined && a.h.Peers() == 0 {
			wait = time.Second
			continue
		}
		joined = true
		_ = a.all(func(d digest.Digest) bool {
			a.Add(d)
			return ctx.Err() == nil
		})
		wait = ReprovideInterval
	}
}

// FindProviders lists up to max peers that advertise d, other than this
// node, waiting at most until ctx ends.
func (h *Host) FindProviders(ctx context.Context, d digest.Digest, max int) ([]peer.AddrInfo, error) {
	c, err := CID(d)
	if err != nil {
		return nil, err
	}
	// Cancelling stops the query, which would otherwise block on a
	// channel no one reads once enough providers are found.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var out []peer.AddrInfo
	for p := range h.dht.FindProvidersAsync(ctx, c, max+1) {
		if p.ID == h.host.ID() || h.penalised(p.ID) {
			continue
		}
		out = append(out, p)
		if len(out) == max {
			break
		}
	}
	return out, nil
}
