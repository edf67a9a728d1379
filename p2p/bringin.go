package p2p

import (
	"sync"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/shoal-dev/shoal/swarm"
)

// bringIns is the host's swarm.BringIns: which blobs this node reads from
// upstream for the fleet, and which it handed on to the next node in a
// blob's order because it was bringing in another (swarm/bringins.go
// says why).
type bringIns struct {
	mu sync.Mutex
	b  swarm.BringIns
}

func (b *bringIns) mine(d digest.Digest) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Mine(string(d), time.Now())
}

func (b *bringIns) take(d digest.Digest) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.b.Take(string(d), time.Now())
}

func (b *bringIns) failed(d digest.Digest) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.b.Failed(string(d), time.Now())
}

func (b *bringIns) started(d digest.Digest) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.b.Started(string(d), time.Now())
}

func (b *bringIns) ended(d digest.Digest) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.b.Ended(string(d), time.Now())
}

// BringIn says whether this node reads blob d from upstream for the fleet
// as its designated fetcher (true), or hands it on to the next node in
// its order (false) because it is bringing in another blob. The first
// answer for a blob stands: a blob handed on is never read here for the
// fleet later, or the fleet would read it twice.
func (h *Host) BringIn(d digest.Digest) bool { return h.bringIns.mine(d) }

// BringInFailed says that this node, asked to bring blob d in, could not:
// its upstream answered with an error before a body opened. It no longer
// counts as bringing d in (swarm.BringIns.Failed).
func (h *Host) BringInFailed(d digest.Digest) { h.bringIns.failed(d) }
