package p2p

import (
	"sync/atomic"

	"github.com/libp2p/go-libp2p/core/connmgr"
	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// Membership is the connection gater that keeps non-members out of the
// fleet. The host is built before the node knows its policy, so the
// decision is a function the node sets, and changes, later; until then
// every peer is a member.
type Membership struct {
	self    peer.ID
	allowed atomic.Pointer[func(peer.ID) bool]
	// next is the gater from Config, if any, consulted after membership.
	next connmgr.ConnectionGater
}

var _ connmgr.ConnectionGater = (*Membership)(nil)

// Member reports whether p may talk to this node now.
func (m *Membership) Member(p peer.ID) bool {
	if p == m.self {
		return true
	}
	fn := m.allowed.Load()
	return fn == nil || (*fn)(p)
}

// set replaces the membership decision; nil admits everyone.
func (m *Membership) set(fn func(peer.ID) bool) {
	if fn == nil {
		m.allowed.Store(nil)
		return
	}
	m.allowed.Store(&fn)
}

// InterceptPeerDial refuses to dial non-members, so that the DHT and
// fetches do not waste dials on peers that would be refused anyway.
func (m *Membership) InterceptPeerDial(p peer.ID) bool {
	return m.Member(p) && (m.next == nil || m.next.InterceptPeerDial(p))
}

func (m *Membership) InterceptAddrDial(p peer.ID, a ma.Multiaddr) bool {
	return m.next == nil || m.next.InterceptAddrDial(p, a)
}

func (m *Membership) InterceptAccept(c network.ConnMultiaddrs) bool {
	return m.next == nil || m.next.InterceptAccept(c)
}

// InterceptSecured is where the remote peer's ID is first known for
// certain (the security handshake proved it), inbound and outbound.
func (m *Membership) InterceptSecured(dir network.Direction, p peer.ID, c network.ConnMultiaddrs) bool {
	return m.Member(p) && (m.next == nil || m.next.InterceptSecured(dir, p, c))
}

func (m *Membership) InterceptUpgraded(c network.Conn) (bool, control.DisconnectReason) {
	if m.next == nil {
		return true, 0
	}
	return m.next.InterceptUpgraded(c)
}

// SetMembership decides from now on which peers belong to the fleet
// (nil: every peer that can connect). Connections to peers that no longer
// belong are closed, and they leave the DHT routing table.
func (h *Host) SetMembership(allowed func(peer.ID) bool) {
	h.members.set(allowed)
	if allowed == nil {
		return
	}
	for _, p := range h.host.Network().Peers() {
		if h.members.Member(p) {
			continue
		}
		h.log.Info("closing the connection to a peer that is no longer a member", "peer", p)
		if err := h.host.Network().ClosePeer(p); err != nil {
			h.log.Debug("closing a removed peer's connections", "peer", p, "err", err)
		}
		h.dht.RoutingTable().RemovePeer(p)
	}
}

// Member reports whether p belongs to the fleet now.
func (h *Host) Member(p peer.ID) bool { return h.members.Member(p) }
