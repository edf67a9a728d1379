package p2p

import (
	"io"
	"time"
)

// The node's download side of the swarm: every piece request it has out,
// across all its fetches, is admitted under one swarm.Slots (NewIntake),
// so that what it asks for at once is what its link can take. See
// swarm.NewIntake for why.

// admitIntake says whether one more piece request may go out now, and
// counts it if so; first (the fetch has none out) always may.
func (h *Host) admitIntake(now time.Time, first bool) bool {
	h.intakeMu.Lock()
	defer h.intakeMu.Unlock()
	if first {
		h.intake.Take()
		return true
	}
	return h.intake.Admit(now)
}

// unadmitIntake gives back room admitted for a request that did not go
// out (no peer could be asked). It wakes no one: the fetch that took it
// would wake itself, and spin.
func (h *Host) unadmitIntake() {
	h.intakeMu.Lock()
	h.intake.Release()
	h.intakeMu.Unlock()
}

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

// intakeReader counts what a piece request receives into the node's
// download rate.
type intakeReader struct {
	r io.Reader
	h *Host
}

func (r intakeReader) Read(b []byte) (int, error) {
	n, err := r.r.Read(b)
	r.h.intakeMu.Lock()
	r.h.intake.Sent(int64(n), time.Now())
	r.h.intakeMu.Unlock()
	return n, err
}
