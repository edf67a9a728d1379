package p2p

import (
	"slices"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// KnownPeer is a peer the host is connected to now or has seen in the
// last day (connected to it, or heard its facts through the fleet).
type KnownPeer struct {
	ID peer.ID
	// Addrs are the remote addresses of its connections now, or the
	// last it was reached at; empty when it was only heard of.
	Addrs []string
	// Connected says it is connected now; Since is then when the oldest
	// connection opened.
	Connected bool
	Since     time.Time
	// LastSeen is now for a connected peer, else when it was last
	// connected or last told its facts.
	LastSeen time.Time
	// Version is what it told in the identify exchange, or else in its
	// facts; "" when it told neither.
	Version string
	// Facts are the last facts it told (FactsTopic), when it told any:
	// its own claims, for people to read.
	Facts *ToldFacts
}

// ToldFacts are a peer's facts and when this node heard them.
type ToldFacts struct {
	NodeFacts
	At time.Time
}

// recordPeers keeps the peer book up to date with the host's
// connections: a peer is seen when it connects and when it disconnects.
func (h *Host) recordPeers() {
	h.host.Network().Notify(&network.NotifyBundle{
		ConnectedF: func(_ network.Network, c network.Conn) {
			h.book.Seen(c.RemotePeer().String(), []string{c.RemoteMultiaddr().String()}, time.Now())
		},
		DisconnectedF: func(_ network.Network, c network.Conn) {
			h.book.Seen(c.RemotePeer().String(), nil, time.Now())
		},
	})
}

// KnownPeers lists, by peer ID, the peers connected now and those seen
// in the last day, for people looking at the fleet.
func (h *Host) KnownPeers() []KnownPeer {
	now := time.Now()
	connected := map[peer.ID]ConnectedPeer{}
	for _, cp := range h.ConnectedPeers() {
		connected[cp.ID] = cp
	}
	out := []KnownPeer{}
	listed := map[peer.ID]bool{}
	for _, e := range h.book.List(now) {
		id, err := peer.Decode(e.ID)
		if err != nil || id == h.ID() {
			continue
		}
		kp := KnownPeer{ID: id, Addrs: e.Addrs, LastSeen: e.LastSeen}
		if e.Facts != nil {
			kp.Facts = &ToldFacts{NodeFacts: NodeFacts{Version: e.Facts.Version, StoreBytes: e.Facts.StoreBytes, Blobs: e.Facts.Blobs}, At: e.Facts.At}
			kp.Version = e.Facts.Version
		}
		if cp, ok := connected[id]; ok {
			kp.Connected, kp.Since, kp.LastSeen, kp.Addrs = true, cp.Since, now, cp.Addrs
			if cp.Version != "" {
				kp.Version = cp.Version
			}
		}
		if kp.Addrs == nil {
			kp.Addrs = []string{}
		}
		listed[id] = true
		out = append(out, kp)
	}
	// A peer connected before the book heard of it (or forgotten by a
	// full book) is listed all the same.
	for id, cp := range connected {
		if !listed[id] {
			out = append(out, KnownPeer{ID: id, Addrs: cp.Addrs, Connected: true, Since: cp.Since, LastSeen: now, Version: cp.Version})
		}
	}
	sortKnown(out)
	return out
}

func sortKnown(ps []KnownPeer) {
	slices.SortFunc(ps, func(a, b KnownPeer) int { return strings.Compare(string(a.ID), string(b.ID)) })
}
