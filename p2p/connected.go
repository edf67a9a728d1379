package p2p

import (
	"sort"
	"strings"
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
	// Version is the Shoal version it told in the identify exchange; ""
	// for a node of a release before it did, or a peer not yet
	// identified.
	Version string
}

// agentPrefix starts the libp2p agent string of a Shoal node.
const agentPrefix = "shoal/"

func userAgent(version string) string {
	if version == "" {
		return "shoal"
	}
	return agentPrefix + version
}

// ConnectedPeers lists the peers connected now, by peer ID, for people
// looking at the fleet (the admin API's peer list).
func (h *Host) ConnectedPeers() []ConnectedPeer {
	net := h.host.Network()
	out := []ConnectedPeer{}
	for _, p := range net.Peers() {
		cp := ConnectedPeer{ID: p, Addrs: []string{}}
		if av, err := h.host.Peerstore().Get(p, "AgentVersion"); err == nil {
			if s, ok := av.(string); ok {
				cp.Version = strings.TrimPrefix(s, agentPrefix)
				if cp.Version == s {
					cp.Version = ""
				}
			}
		}
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
