package p2p

import (
	"sync"
	"time"
)

// The node's download side of the swarm: every piece request it has out,
// across all its fetches, is admitted under one swarm.Slots (NewIntake),
// so that what it asks for at once is what its link can take. See
// swarm.NewIntake for why.

// admitIntake says whether one more piece request may go out now, and
// counts it if so. first (the fetch has none out) always may, unless
// the node is reading a blob from upstream for the fleet (bringingIn)
// and the fetch's reader has waited less than swarm.ReaderWait for its
// next piece (starving false). A node that read three of an image's
// four layers (48 MiB) from upstream on a 4 Mbit/s link, and nothing
// from its peers, failed its pull after two minutes: the store's idle
// timeout, which a fetch that asks for nothing meets (rolloutbench,
// 10 nodes). One request at a time beside the upstream
// streams keeps the store fed and takes little of their link.
func (h *Host) admitIntake(now time.Time, first, starving bool) bool {
	if first && (!h.bringingIn() || starving) {
		h.intake.take()
		return true
	}
	return h.intake.admit(now)
}

// bringingIn says whether the node is reading a blob from upstream that
// the fleet waits on. Its fetches then ask for pieces only when the
// intake admits them: a node designated for a layer fetched it from
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

// UpstreamStream counts a body this node reads from upstream in its
// intake, from now until end: the node's own piece requests then leave
// that stream its share of the link. An origin's upstream stream is what
// its swarm waits on, and with two piece requests of the node's own
// beside it on a slow link it came in at a third of the link
// (bench/cmd/swarmsim). It always runs, as a fetch's first request does;
// sent counts what it reads into the measured rate. end may be called
// more than once.
//
// A body read for the fleet (bringsIn) counts as the intake's minimum of
// streams, and while it runs the node's fetches lose their first
// request's pass (admitIntake): beside it they ask only when the
// measured rate says the link has room, so on a slow link the blob comes
// in at the whole link and on a fast one it does not hold them back.
func (h *Host) UpstreamStream(bringsIn bool) (sent func(n int), end func()) {
	weight := 1
	if bringsIn {
		weight = h.intake.min()
		h.bringing.Add(1)
	}
	for range weight {
		h.intake.take()
	}
	var once sync.Once
	return h.intake.sent, func() {
		once.Do(func() {
			if bringsIn {
				h.bringing.Add(-1)
			}
			for range weight - 1 {
				h.unadmitIntake()
			}
			h.releaseIntake()
		})
	}
}
