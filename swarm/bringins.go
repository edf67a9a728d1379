package swarm

import "time"

// A blob's designated fetcher is the node closest to its digest, so a
// node is now and then designated for two layers of one image. It then
// read both from upstream at once, each at half its link, while the
// whole fleet waited on both (rolloutbench, 20 nodes at 8 Mbit/s: 122 s
// with such a node, 101 s without; bench/cmd/swarmsim at 4 Mbit/s, 20
// nodes, six seeds: 1.31x the no-sharing time with random designations,
// 1.24x with four distinct ones). So a node brings in one blob for the
// fleet at a time: asked to bring in another while one is arriving, it
// hands it on to the next node in the blob's order, which every node
// computes alike. The decision is kept for the blob: a node that handed a
// blob on never starts it later, or the fleet would read it twice.
const (
	// handOffPending is how long a blob this node took counts as
	// arriving before its upstream body opens (BringIns.Started): the
	// upstream's answer takes a round trip or a few.
	handOffPending = 10 * time.Second
	// handOffMemory is how long a decision is kept after it was last
	// asked for: the askers of one rollout ask within it.
	handOffMemory = 10 * time.Minute
	// maxBringIns bounds the decisions kept; the one asked for longest
	// ago is dropped first.
	maxBringIns = 1024
)

// BringIns is a node's record of the blobs it decided to bring into the
// fleet from upstream, and those it handed on. Blobs are named by any
// string (a digest). It is not safe for concurrent use.
type BringIns struct {
	blobs map[string]*bringIn
}

type bringIn struct {
	mine bool
	// at is when it was decided; seen when last asked for.
	at, seen time.Time
	// open counts its upstream bodies running now; started says one
	// has opened.
	open    int
	started bool
}

// Mine says whether this node brings blob d in itself (true) or hands it
// on (false). The first answer for a blob stands while it is asked for:
// the node takes it unless another blob it took is still arriving (its
// upstream body is open, or it was taken less than handOffPending ago and
// has not opened yet).
func (b *BringIns) Mine(d string, now time.Time) bool {
	if e := b.get(d, now); e != nil {
		e.seen = now
		return e.mine
	}
	mine := !b.busy(d, now)
	b.put(d, &bringIn{mine: mine, at: now, seen: now})
	return mine
}

// Take makes blob d this node's whatever it decided before: the asker
// has no one after this node to ask, so handing it on would leave it to
// no one, or to every asker reading it itself.
func (b *BringIns) Take(d string, now time.Time) {
	e := b.get(d, now)
	if e == nil {
		e = &bringIn{at: now}
		b.put(d, e)
	}
	if !e.mine {
		e.mine, e.at = true, now
	}
	e.seen = now
}

// Failed records that blob d could not be brought in: asked to, this
// node's upstream answered with an error before a body opened (a blob it
// lacks, a rule the node does not have). A blob decided or taken that
// never opened counted as arriving for handOffPending, and every other
// blob asked for meanwhile was handed on: one request naming a digest
// upstream lacks, with take, did it at will (found in review). Such a
// decision is dropped, to be taken again if asked for; one whose body
// opened, or a blob handed on, stands.
func (b *BringIns) Failed(d string, now time.Time) {
	if e := b.get(d, now); e != nil && e.mine && !e.started && e.open == 0 {
		delete(b.blobs, d)
	}
}

// HandedOff says whether this node handed blob d on; it decides nothing.
func (b *BringIns) HandedOff(d string, now time.Time) bool {
	e := b.get(d, now)
	if e != nil {
		e.seen = now
	}
	return e != nil && !e.mine
}

// Started records that an upstream body of d opened for the fleet; a
// blob not decided by Mine (its node found no peer at all) counts as
// taken from now on.
func (b *BringIns) Started(d string, now time.Time) {
	e := b.get(d, now)
	if e == nil {
		e = &bringIn{at: now}
		b.put(d, e)
	}
	e.mine, e.started, e.seen = true, true, now
	e.open++
}

// Ended records that an upstream body of d that Started counted closed.
func (b *BringIns) Ended(d string, now time.Time) {
	if e := b.get(d, now); e != nil && e.open > 0 {
		e.open--
		e.seen = now
	}
}

// busy says whether a blob other than d that this node took is still
// arriving.
func (b *BringIns) busy(d string, now time.Time) bool {
	for k, e := range b.blobs {
		if k != d && e.mine && (e.open > 0 || (!e.started && now.Sub(e.at) < handOffPending)) {
			return true
		}
	}
	return false
}

// get is d's decision unless forgotten (dropped handOffMemory after it
// was last asked for and not arriving).
func (b *BringIns) get(d string, now time.Time) *bringIn {
	e := b.blobs[d]
	if e != nil && e.open == 0 && now.Sub(e.seen) >= handOffMemory {
		delete(b.blobs, d)
		return nil
	}
	return e
}

// put records d's decision, dropping the one asked for longest ago (and
// not arriving) when the record is full.
func (b *BringIns) put(d string, e *bringIn) {
	if b.blobs == nil {
		b.blobs = map[string]*bringIn{}
	}
	if len(b.blobs) >= maxBringIns {
		var oldest string
		for k, o := range b.blobs {
			if o.open == 0 && (oldest == "" || o.seen.Before(b.blobs[oldest].seen)) {
				oldest = k
			}
		}
		delete(b.blobs, oldest)
	}
	b.blobs[d] = e
}
