package p2p

import (
	"sort"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// ConnectedPeer is a peer the host is connected to now.
type ConnectedPeer struct {
	ID peer.ID
	// Addrs are the remote addresses of its connections.
	Addrs []string
	// Since is when the oldest of those connections was opened.
	Since time.Time
}

// ConnectedPeers lists the peers connected now, by peer ID, for people
// looking at the fleet (the admin API's peer list).
func (h *Host) ConnectedPeers() []ConnectedPeer {
	net := h.host.Network()
	out := []ConnectedPeer{}
	for _, p := range net.Peers() {
		cp := ConnectedPeer{ID: p, Addrs: []string{}}
		for _, c := range net.ConnsToPeer(p) {
			cp.Addrs = append(cp.Addrs, c.RemoteMultiaddr().String())
			if opened := c.Stat().Opened; cp.Since.IsZero() || (!opened.IsZero() && opened.Before(cp.Since)) {
				cp.Since = opened
			}
		}
		out = append(out, cp)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
