package p2p

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/opencontainers/go-digest"
)

func TestRetryDelayDoublesUpToTheBound(t *testing.T) {
	timing := advertiseTiming{retryFirst: 5 * time.Second, retryMax: 5 * time.Minute}
	for tries, want := range map[int]time.Duration{
		1: 5 * time.Second, 2: 10 * time.Second, 3: 20 * time.Second,
		6: 160 * time.Second, 7: 5 * time.Minute, 8: 5 * time.Minute, 60: 5 * time.Minute,
	} {
		if got := timing.retryDelay(tries); got != want {
			t.Errorf("retryDelay(%d) = %v, want %v", tries, got, want)
		}
	}
}

// fakeDHT counts provides and fails the first ones it is told to.
type fakeDHT struct {
	peers    atomic.Int32
	failures atomic.Int32 // provides still to fail; negative: all
	mu       sync.Mutex
	tries    map[digest.Digest]int
	provided map[digest.Digest]bool
}

func (f *fakeDHT) provide(ctx context.Context, d digest.Digest) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tries[d]++
	if n := f.failures.Load(); n != 0 {
		f.failures.Add(-1)
		return errors.New("failed to find any peer in table")
	}
	f.provided[d] = true
	return nil
}

func (f *fakeDHT) state(d digest.Digest) (int, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tries[d], f.provided[d]
}

// TestAdvertiserRetriesAndRejoins: a provide that fails is tried again
// with backoff, a bounded number of times; content that arrived while the
// node had no peers is advertised once peers are back.
func TestAdvertiserRetriesAndRejoins(t *testing.T) {
	timing := advertiseTiming{poll: 2 * time.Millisecond, retryFirst: 2 * time.Millisecond, retryMax: 8 * time.Millisecond, retryTries: 3, reprovide: time.Hour}
	d := digest.FromString("pushed while the fleet was away")
	for _, tc := range []struct {
		name     string
		failures int32 // provides that fail; -1: all
		// alone: no peers when d is added, until after the first pass
		alone bool
		// rejoinSpacing 0: peers coming back start a pass at once
		rejoinSpacing time.Duration
		wantTries     int
		wantDone      bool
		wantPasses    int32
	}{
		{name: "provided at once", wantTries: 1, wantDone: true, wantPasses: 1},
		{name: "two failures, then provided", failures: 2, wantTries: 3, wantDone: true, wantPasses: 1},
		{name: "always failing: tried 1 + retryTries times", failures: -1, wantTries: 4, wantPasses: 1},
		{name: "added with no peers: provided when peers come, with no pass due", alone: true, rejoinSpacing: time.Hour, wantTries: 1, wantDone: true, wantPasses: 1},
		{name: "added with no peers: provided in the pass when peers come", alone: true, wantTries: 1, wantDone: true, wantPasses: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			timing := timing
			timing.rejoinSpacing = tc.rejoinSpacing
			dht := &fakeDHT{tries: map[digest.Digest]int{}, provided: map[digest.Digest]bool{}}
			dht.failures.Store(tc.failures)
			dht.peers.Store(1)
			var passes atomic.Int32
			var stored atomic.Bool
			a := startAdvertiser(slog.New(slog.DiscardHandler), func() int { return int(dht.peers.Load()) }, dht.provide,
				func(fn func(digest.Digest) bool) error {
					passes.Add(1)
					if stored.Load() {
						fn(d)
					}
					return nil
				}, timing)
			defer a.Close()
			waitFor(t, "the first pass", func() bool { return passes.Load() == 1 })
			if tc.alone {
				dht.peers.Store(0)
				stored.Store(true)
				a.Add(d)
				waitFor(t, "the provide with no peers to be skipped", func() bool { return a.takeMissedPeek() })
				if n, _ := dht.state(d); n != 0 {
					t.Fatalf("provided %d times with no peers", n)
				}
				dht.peers.Store(1)
			} else {
				stored.Store(true)
				a.Add(d)
			}
			waitFor(t, "the provides", func() bool { n, _ := dht.state(d); return n >= tc.wantTries })
			// A few retry bounds more: no further try may come.
			time.Sleep(10 * timing.retryMax)
			if n, done := dht.state(d); n != tc.wantTries || done != tc.wantDone {
				t.Errorf("tried %d times (provided %v), want %d (%v)", n, done, tc.wantTries, tc.wantDone)
			}
			if n := passes.Load(); n != tc.wantPasses {
				t.Errorf("%d passes over everything held, want %d", n, tc.wantPasses)
			}
			a.mu.Lock()
			defer a.mu.Unlock()
			if len(a.retry) != 0 {
				t.Errorf("%d provides still wait for a retry", len(a.retry))
			}
		})
	}
}

// takeMissedPeek says whether a provide found no peers, leaving the mark.
func (a *Advertiser) takeMissedPeek() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.missed
}

// waitFor polls cond for at most 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestAdvertisedAgainWhenPeersReturn: content a node stores while it is
// cut off from every peer is found in the DHT soon after the partition
// heals, not at the next 12-hourly pass.
func TestAdvertisedAgainWhenPeersReturn(t *testing.T) {
	fleet := newFleet(t, 2)
	a, b := fleet[0], fleet[1]
	a.adv.Close()
	timing := defaultAdvertiseTiming
	timing.poll, timing.rejoinSpacing = 20*time.Millisecond, 0
	var passes atomic.Int32
	adv := startAdvertiser(a.h.log, a.h.Peers, a.h.provideRecord, func(fn func(digest.Digest) bool) error {
		passes.Add(1)
		a.content.mu.Lock()
		var ds []digest.Digest
		for d := range a.content.blobs {
			ds = append(ds, d)
		}
		a.content.mu.Unlock()
		for _, d := range ds {
			if !fn(d) {
				break
			}
		}
		return nil
	}, timing)
	t.Cleanup(adv.Close)
	before := a.content.put(randomBytes(t, 100))
	adv.Add(before)
	findable(t, b, before)
	// The node has joined: its first pass over everything held is done.
	waitFor(t, "the first pass", func() bool { return passes.Load() == 1 })

	// The partition: neither side admits the other.
	a.h.SetMembership(func(p peer.ID) bool { return p != b.h.ID() })
	b.h.SetMembership(func(p peer.ID) bool { return p != a.h.ID() })
	waitFor(t, "the partition", func() bool { return a.h.Peers() == 0 })
	during := a.content.put(randomBytes(t, 100))
	adv.Add(during)
	waitFor(t, "the provide with no peers to be skipped", adv.takeMissedPeek)

	a.h.SetMembership(nil)
	b.h.SetMembership(nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.h.Connect(ctx, a.h.AddrInfo()); err != nil {
		t.Fatal(err)
	}
	findable(t, b, during)
}

// findable waits (at most 20 s) until q finds a provider of d.
func findable(t *testing.T, q *testPeer, d digest.Digest) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		fctx, fcancel := context.WithTimeout(ctx, time.Second)
		got, _ := q.h.FindProviders(fctx, d, 1)
		fcancel()
		if len(got) > 0 {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("no provider of %s found", d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
