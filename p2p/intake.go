package p2p

import (
	"sync"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/shoal-dev/shoal/swarm"
)

// The node's download side of the swarm: every piece request it has out,
// across all its fetches, is admitted under one swarm.Slots (NewIntake),
// so that what it asks for at once is what its link can take. See
// swarm.NewIntake for why. A request counts there until its piece is in,
// or until its last bytes are near (askAhead), when the next may go.
// What bounds the requests out is then each fetch's window (Window
// pieces, MaxPerPeer from one peer) and the intake's count of those not
// yet near their end.

// admitIntake says whether one more piece request may go out now, and
// counts it if so. Every request waits for the intake to admit it, the
// first of a fetch (nothing else out) too, unless that fetch's reader
// has waited swarm.ReaderWait for its next piece (first and starving):
// then it goes out whatever the intake says, so that a fetch that asks
// for nothing cannot starve its store past the idle timeout (a node
// that read three of an image's four layers from upstream on a
// 4 Mbit/s link, and nothing from its peers, failed its pull after two
// minutes: rolloutbench, 10 nodes).
//
// A fetch's first request used to go out whatever the intake said, so
// that one blob could not keep another from asking. But a node fetching
// four layers on a link with room for two then had four pieces in
// flight, each at half the rate its holder could send, and held four
// holders' upload slots at half use while other askers were told busy:
// in the simulation (64 MiB in 4 layers, 4 Mbit/s) the last node took
// 1.52x one pull at 20 nodes and 1.44x at 50, and 1.32x and 1.31x with
// every request admitted by the intake, with a third to a seventh of
// the busy answers (bench/RESULTS.md).
func (h *Host) admitIntake(now time.Time, first, starving bool) bool {
	if first && starving {
		h.intake.take()
		return true
	}
	return h.intake.admit(now)
}

// bringingIn says whether the node is reading a blob from upstream that
// the fleet waits on. Such a body fills the intake's minimum
// (UpstreamStream), so its fetches ask for pieces only when the measured
// rate says the link has room: a node designated for a layer fetched it from
// upstream beside a piece request of each of its other fetches, on a
// slow link at a quarter of the link when it held two layers, and every
// other node waited on its last pieces (rolloutbench, 20 nodes at
// 8 Mbit/s: a run with such a node took 122 s, one without 101 s). The
// fetches held back do not count as stalled (swarmFetch.run).
func (h *Host) bringingIn() bool { return h.bringing.Load() > 0 }

// unadmitIntake gives back room admitted for a request that did not go
// out (no peer could be asked). It wakes no one: the fetch that took it
// would wake itself, and spin.
func (h *Host) unadmitIntake() { h.intake.release() }

// releaseIntake ends a piece request and wakes the fetches, one of which
// may have been waiting for the room.
func (h *Host) releaseIntake() {
	h.unadmitIntake()
	h.activeMu.Lock()
	for _, sf := range h.active {
		select {
		case sf.wake <- struct{}{}:
		default:
		}
	}
	h.activeMu.Unlock()
}

// UpstreamStream counts a body of blob d this node reads from upstream in its
// intake, from now until end: the node's own piece requests then leave
// that stream its share of the link. An origin's upstream stream is what
// its swarm waits on, and with two piece requests of the node's own
// beside it on a slow link it came in at a third of the link
// (bench/cmd/swarmsim). It always runs, as a fetch's first request does;
// sent counts what it reads into the measured rate. end may be called
// more than once.
//
// A body read for the fleet (bringsIn) counts as the intake's minimum of
// streams: beside it the node's fetches ask only when the measured rate
// says the link has room (admitIntake), so on a slow link the blob comes
// in at the whole link and on a fast one it does not hold them back.
func (h *Host) UpstreamStream(d digest.Digest, bringsIn bool) (sent func(n int), end func()) {
	weight := 1
	if bringsIn {
		weight = h.intake.min()
		h.bringing.Add(1)
		h.bringIns.started(d)
	}
	for range weight {
		h.intake.take()
	}
	var once sync.Once
	return h.intake.sent, func() {
		once.Do(func() {
			if bringsIn {
				h.bringing.Add(-1)
				h.bringIns.ended(d)
			}
			for range weight - 1 {
				h.unadmitIntake()
			}
			h.releaseIntake()
		})
	}
}

// askAhead gives a piece request's intake room back before the piece is
// in, once swarm.AskAhead says its last bytes come within twice its
// answer's wait: the next request goes out then, and its answer comes
// as this one ends instead of a round trip after it.
type askAhead struct {
	intake  *sharedSlots
	answer  time.Duration // from the question to the answer's header
	since   time.Time     // the header's arrival
	release func()        // gives the room back; safe to call again
	done    bool
}

// read is told that got of the piece's size bytes are in.
func (a *askAhead) read(got, size int) {
	if a.done {
		return
	}
	if swarm.AskAhead(a.answer, time.Since(a.since), int64(got), int64(size-got), a.intake.rate(), PieceSize) {
		a.done = true
		a.release()
	}
}
