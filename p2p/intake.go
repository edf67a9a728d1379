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
// counts it if so; first (the fetch has none out) always may.
func (h *Host) admitIntake(now time.Time, first bool) bool {
	if first {
		h.intake.take()
		return true
	}
	return h.intake.admit(now)
}

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
func (h *Host) UpstreamStream() (sent func(n int), end func()) {
	h.intake.take()
	var once sync.Once
	return h.intake.sent, func() { once.Do(h.releaseIntake) }
}
