package p2p

import (
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// PenaltyDuration is how long a peer that sent wrong bytes is not asked
// for content again. Its connection is closed too.
const PenaltyDuration = 30 * time.Minute

// penalties are the peers this node stopped trusting for content.
type penalties struct {
	mu    sync.Mutex
	until map[peer.ID]time.Time
}

// Penalise stops asking p for content for PenaltyDuration and drops its
// connections; it is called when bytes from p did not match their digest.
func (h *Host) Penalise(p peer.ID, why string) {
	h.penalty.mu.Lock()
	if h.penalty.until == nil {
		h.penalty.until = map[peer.ID]time.Time{}
	}
	h.penalty.until[p] = time.Now().Add(PenaltyDuration)
	h.penalty.mu.Unlock()
	h.log.Warn("penalising peer", "peer", p, "why", why, "for", PenaltyDuration)
	if h.cfg.OnPenalty != nil {
		h.cfg.OnPenalty(p)
	}
	_ = h.host.Network().ClosePeer(p)
}

func (h *Host) penalised(p peer.ID) bool {
	h.penalty.mu.Lock()
	defer h.penalty.mu.Unlock()
	t, ok := h.penalty.until[p]
	if ok && time.Now().After(t) {
		delete(h.penalty.until, p)
		return false
	}
	return ok
}

// penalisedPeers lists up to max peers this node stopped trusting, in
// their text form, for an asker's Avoid.
func (h *Host) penalisedPeers(max int) []string {
	h.penalty.mu.Lock()
	defer h.penalty.mu.Unlock()
	now := time.Now()
	var out []string
	for p, until := range h.penalty.until {
		if len(out) == max {
			break
		}
		if now.Before(until) {
			out = append(out, p.String())
		}
	}
	return out
}
