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
// counts it if so; first (the fetch has none out) always may, unless a
// body from upstream runs (swarm.Slots.AdmitOwed).
func (h *Host) admitIntake(now time.Time, first bool) bool {
	if first {
		return h.intake.admitOwed(now)
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
	h.wakeFetches()
}

// wakeFetches pokes every running fetch: the intake has room again.
func (h *Host) wakeFetches() {
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
// intake, from now until end, ahead of the node's own piece requests
// (swarm.Slots.TakeFirst): while it runs, a fetch with nothing in flight
// is no longer owed a request. An origin's upstream stream is what its
// swarm waits on, and with a piece request of each of its other fetches
// beside it on a slow link it came in at a third of the link or less
// (bench/cmd/swarmsim). It always runs; sent counts what it reads into
// the measured rate. end may be called more than once.
func (h *Host) UpstreamStream() (sent func(n int), end func()) {
	h.intake.takeFirst()
	var once sync.Once
	return h.intake.sent, func() {
		once.Do(func() {
			h.intake.releaseFirst()
			h.wakeFetches()
		})
	}
}
