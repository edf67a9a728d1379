package p2p

import (
	"sort"
	"time"
)

// ConnectedPeer is a peer the host has a connection to now.
type ConnectedPeer struct {
	// ID is the peer's ID.
	ID string
	// Addr is the remote address of its oldest open connection.
	Addr string
	// Since is when that connection opened; zero where libp2p did not
	// record it.
	Since time.Time
}

// Connected lists the peers connected now, by ID, each once: what an
// operator looks at to see the fleet from this node.
func (h *Host) Connected() []ConnectedPeer {
	byID := map[string]ConnectedPeer{}
	for _, c := range h.host.Network().Conns() {
		id := c.RemotePeer().String()
		opened := c.Stat().Opened
		if p, ok := byID[id]; ok && (opened.IsZero() || (!p.Since.IsZero() && !opened.Before(p.Since))) {
			continue
		}
		byID[id] = ConnectedPeer{ID: id, Addr: c.RemoteMultiaddr().String(), Since: opened}
	}
	out := make([]ConnectedPeer, 0, len(byID))
	for _, p := range byID {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
