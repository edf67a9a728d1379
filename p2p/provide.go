package p2p

import (
	"context"
	"errors"
	"log/slog"
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

// maxRetrying bounds how many failed provides wait for a retry; past it
// they are left to the next pass over everything held.
const maxRetrying = 1 << 16

// advertiseTiming is when the Advertiser acts; tests shorten it.
type advertiseTiming struct {
	// poll is how often the peers are counted and due retries queued.
	poll time.Duration
	// retryFirst is the wait before a failed provide is tried again,
	// doubled after each failure up to retryMax, for retryTries tries.
	retryFirst, retryMax time.Duration
	retryTries           int
	// reprovide is how often everything held is advertised again.
	reprovide time.Duration
	// rejoinSpacing is the least time between two passes over everything
	// held that peers coming back started: a link that flaps must not
	// flood the DHT.
	rejoinSpacing time.Duration
}

var defaultAdvertiseTiming = advertiseTiming{
	poll:          time.Second,
	retryFirst:    5 * time.Second,
	retryMax:      5 * time.Minute,
	retryTries:    8,
	reprovide:     ReprovideInterval,
	rejoinSpacing: time.Minute,
}

// retryDelay is how long to wait after the tries-th failed provide.
func (t advertiseTiming) retryDelay(tries int) time.Duration {
	d := t.retryFirst
	for i := 1; i < tries && d < t.retryMax; i++ {
		d *= 2
	}
	return min(d, t.retryMax)
}

// Advertiser keeps what a node holds advertised in the DHT: new content
// as it arrives, everything again every ReprovideInterval and whenever
// the node finds peers after it had none, and evicted content no longer
// (its records expire on their own). A provide that fails is tried again
// with backoff: otherwise its record would be missing for 12 hours, and
// a holder no one can find is as good as none.
type Advertiser struct {
	log     *slog.Logger
	peers   func() int
	provide func(ctx context.Context, d digest.Digest) error
	all     func(func(digest.Digest) bool) error
	timing  advertiseTiming
	jobs    chan digest.Digest

	mu      sync.Mutex
	held    map[digest.Digest]bool
	pending map[digest.Digest]bool
	// retry holds the failed provides waiting to be tried again.
	retry map[digest.Digest]retryState
	// missed is set when a provide found no peer to tell: a pass over
	// everything held is due once there are peers.
	missed bool
	// passed is set once the first pass over everything held has begun.
	passed bool

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// retryState is a failed provide's tries so far and when to try again.
type retryState struct {
	tries int
	at    time.Time
}

// Advertise starts advertising; all iterates over everything the node
// holds (for reproviding).
func (h *Host) Advertise(all func(func(digest.Digest) bool) error) *Advertiser {
	return startAdvertiser(h.log, h.Peers, h.provideRecord, all, defaultAdvertiseTiming)
}

// provideRecord publishes this node's provider record for d.
func (h *Host) provideRecord(ctx context.Context, d digest.Digest) error {
	c, err := CID(d)
	if err != nil {
		return nil // not content the DHT can name: nothing to retry
	}
	if err := h.dht.Provide(ctx, c, true); err != nil {
		return err
	}
	// Provide answers nil when its lookup reached no peer (every query
	// failed over connections a partition left open): nobody has the
	// record then, which is a failure to retry.
	if h.dht.RoutingTable().Size() == 0 {
		return errNoRecordHolder
	}
	return nil
}

var errNoRecordHolder = errors.New("p2p: no DHT peer to hold the provider record")

func startAdvertiser(log *slog.Logger, peers func() int, provide func(context.Context, digest.Digest) error, all func(func(digest.Digest) bool) error, timing advertiseTiming) *Advertiser {
	ctx, cancel := context.WithCancel(context.Background())
	a := &Advertiser{
		log: log, peers: peers, provide: provide, all: all, timing: timing,
		jobs: make(chan digest.Digest, 4096),
		held: map[digest.Digest]bool{}, pending: map[digest.Digest]bool{}, retry: map[digest.Digest]retryState{},
		cancel: cancel,
	}
	for range provideWorkers {
		a.wg.Add(1)
		go a.work(ctx)
	}
	a.wg.Add(1)
	go a.run(ctx)
	return a
}

// Add advertises d, which the node now holds.
func (a *Advertiser) Add(d digest.Digest) {
	a.mu.Lock()
	a.held[d] = true
	a.mu.Unlock()
	if !a.enqueue(context.Background(), d, false) {
		// The queue is full: retried like a failed provide.
		a.failed(d)
	}
}

// enqueue queues d for a worker unless it is queued already, waiting
// for room until ctx ends when wait is set; false means it was not
// queued.
func (a *Advertiser) enqueue(ctx context.Context, d digest.Digest, wait bool) bool {
	a.mu.Lock()
	queued := a.pending[d]
	a.pending[d] = true
	a.mu.Unlock()
	if queued {
		return true
	}
	select {
	case a.jobs <- d:
		return true
	default:
	}
	if wait {
		select {
		case a.jobs <- d:
			return true
		case <-ctx.Done():
		}
	}
	a.mu.Lock()
	delete(a.pending, d)
	a.mu.Unlock()
	return false
}

// Remove stops advertising d.
func (a *Advertiser) Remove(d digest.Digest) {
	a.mu.Lock()
	delete(a.held, d)
	delete(a.retry, d)
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
			a.holdRetry(d, time.Now())
			a.mu.Unlock()
			if held {
				a.advertise(ctx, d)
			}
		}
	}
}

func (a *Advertiser) advertise(ctx context.Context, d digest.Digest) {
	// With no peers there is no one to tell: the pass once peers are
	// back will.
	if a.peers() == 0 {
		a.mu.Lock()
		defer a.mu.Unlock()
		a.missed = true
		// Due as soon as there are peers, without waiting for the next
		// pass: content pushed during a partition is wanted at once
		// after it heals. Before the first pass that pass covers it.
		if st, ok := a.retry[d]; a.passed && (ok || len(a.retry) < maxRetrying) {
			st.at = time.Time{}
			a.retry[d] = st
		}
		return
	}
	pctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	err := a.provide(pctx, d)
	switch {
	case ctx.Err() != nil:
	case err != nil:
		a.log.Debug("advertising", "digest", d, "err", err)
		a.failed(d)
	default:
		a.mu.Lock()
		delete(a.retry, d)
		a.mu.Unlock()
	}
}

// failed schedules d's provide to be tried again, unless it has been
// tried often enough: then the next pass over everything held gets to
// it.
func (a *Advertiser) failed(d digest.Digest) {
	a.mu.Lock()
	defer a.mu.Unlock()
	st, ok := a.retry[d]
	if !ok && len(a.retry) >= maxRetrying {
		return
	}
	st.tries++
	if st.tries > a.timing.retryTries {
		delete(a.retry, d)
		a.log.Info("giving up advertising until the next pass", "digest", d, "tries", st.tries-1)
		return
	}
	st.at = time.Now().Add(a.timing.retryDelay(st.tries))
	a.retry[d] = st
}

// due lists the retries whose time has come and holds each back until
// its try has an outcome.
func (a *Advertiser) due(now time.Time) []digest.Digest {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []digest.Digest
	for d, st := range a.retry {
		if !now.Before(st.at) && !a.pending[d] {
			out = append(out, d)
			a.holdRetry(d, now)
		}
	}
	return out
}

// holdRetry keeps d's retry, if it has one, from coming due while a try
// is under way: the try's outcome reschedules or ends it. The caller
// holds a.mu.
func (a *Advertiser) holdRetry(d digest.Digest, now time.Time) {
	if st, ok := a.retry[d]; ok {
		st.at = now.Add(a.timing.retryMax + time.Minute) // past the provide's own bound
		a.retry[d] = st
	}
}

// takeMissed says whether a provide found no peers since the last call.
func (a *Advertiser) takeMissed() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	m := a.missed
	a.missed = false
	return m
}

// run advertises everything held soon after the node first finds peers,
// every reprovide interval, and again when peers come back after the
// node had none (or a provide found none), at most once per
// rejoinSpacing; between passes, while there are peers, it queues the
// retries that are due, among them what was stored while there were
// none.
func (a *Advertiser) run(ctx context.Context) {
	defer a.wg.Done()
	tick := time.NewTicker(a.timing.poll)
	defer tick.Stop()
	var lastPass time.Time
	alone := true
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if a.peers() == 0 {
			alone = true
			continue // retries wait for peers too
		}
		if a.takeMissed() {
			alone = true
		}
		now := time.Now()
		first := lastPass.IsZero()
		if first || now.Sub(lastPass) >= a.timing.reprovide || (alone && now.Sub(lastPass) >= a.timing.rejoinSpacing) {
			if !first && alone {
				a.log.Info("advertising everything held again: peers are back")
			}
			alone = false
			lastPass = now
			a.mu.Lock()
			a.passed = true
			a.mu.Unlock()
			a.pass(ctx)
			continue
		}
		for _, d := range a.due(now) {
			a.mu.Lock()
			held := a.held[d]
			a.mu.Unlock()
			if held && !a.enqueue(ctx, d, true) {
				return
			}
		}
	}
}

// pass queues everything held, waiting for room: a pass that dropped
// what did not fit would leave it unadvertised until the next one.
func (a *Advertiser) pass(ctx context.Context) {
	_ = a.all(func(d digest.Digest) bool {
		a.mu.Lock()
		a.held[d] = true
		a.mu.Unlock()
		return a.enqueue(ctx, d, true)
	})
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
