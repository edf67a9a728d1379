// Package p2p is the node's place in the fleet: a libp2p host with a
// Kademlia DHT under the private /shoal protocol prefix, through which
// nodes advertise the content they hold and fetch it from each other.
package p2p

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	coreconnmgr "github.com/libp2p/go-libp2p/core/connmgr"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/pnet"
	"github.com/libp2p/go-libp2p/p2p/discovery/mdns"
	yamux "github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/net/connmgr"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/opencontainers/go-digest"

	"github.com/shoal-dev/shoal/peerbook"
	"github.com/shoal-dev/shoal/swarm"
)

// fewPeers is the connection count below which a host redials every
// peer it knows rather than wait for the DHT to bring them back.
const fewPeers = 8

// ProtocolPrefix keeps Shoal's DHT apart from the public IPFS one.
const ProtocolPrefix = "/shoal"

// Config says how a Host joins its fleet.
type Config struct {
	// KeyFile holds the peer's private key; it is created on first start
	// so the peer ID survives restarts.
	KeyFile string
	// Listen are multiaddrs to listen on.
	Listen []string
	// Bootstrap are peers to join through, each ending in /p2p/<id>.
	Bootstrap []string
	// Discover, when set, is asked for more peers to join through
	// (--bootstrap-dns) whenever the host has none.
	Discover func(ctx context.Context) ([]peer.AddrInfo, error)
	// MDNS finds peers on the local network.
	MDNS bool
	// SwarmKey is a libp2p pnet key file; only holders can connect. It
	// rules QUIC out, since pnet protects TCP streams only.
	SwarmKey string
	// Gater, when set, is asked too whether a peer may connect, after
	// the host's own membership check (see SetMembership).
	Gater coreconnmgr.ConnectionGater
	// RebootstrapInterval is how often a host redials the bootstrap peers
	// it is not connected to (and, with none at all, every peer it knew).
	RebootstrapInterval time.Duration
	// OnPenalty is told of each peer penalised for sending wrong bytes.
	OnPenalty func(peer.ID)
	// OnRelayedPiece is told of each piece sent in full to a peer from a
	// blob this node was still receiving: the swarm at work, rather than
	// the origin serving every node itself.
	OnRelayedPiece func()
	// Version is the node's Shoal version, told to peers in libp2p's
	// identify exchange (agent "shoal/<version>") for their operators.
	Version string
	Logger  *slog.Logger
}

// Host is a running libp2p host and its DHT.
type Host struct {
	host host.Host
	dht  *dht.IpfsDHT
	log  *slog.Logger
	cfg  Config

	pieces    *pieceCache
	piecePool sync.Pool
	tracker   *tracker
	activeMu  sync.Mutex
	active    map[digest.Digest]*swarmFetch // fetches running, by blob
	slots     sharedSlots                   // upload slots, transfer.go
	// transferSilence bounds how long an upload of more than a piece
	// waits on an asker that takes nothing (transfer.go).
	transferSilence time.Duration
	intake          sharedSlots  // download intake, intake.go
	bringing        atomic.Int32 // upstream bodies read for the fleet, intake.go
	bringIns        bringIns     // blobs taken or handed on, bringin.go
	penalty         penalties
	members         *Membership
	policyMu        sync.Mutex
	policy          *policyExchange // nil until ExchangePolicy
	gossip          sharedGossip    // scans.go
	book            *peerbook.Book  // known.go
	bootstrap       []peer.AddrInfo
	mdns            mdns.Service
	cancel          context.CancelFunc
	wg              sync.WaitGroup
}

// New starts a host: it listens, starts the DHT in server mode and joins
// through the bootstrap peers in the background.
func New(ctx context.Context, cfg Config) (*Host, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.RebootstrapInterval <= 0 {
		cfg.RebootstrapInterval = 5 * time.Second
	}
	key, err := loadOrCreateKey(cfg.KeyFile)
	if err != nil {
		return nil, err
	}
	bootstrap, err := parseAddrInfos(cfg.Bootstrap)
	if err != nil {
		return nil, err
	}
	listen := make([]ma.Multiaddr, 0, len(cfg.Listen))
	for _, s := range cfg.Listen {
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			return nil, fmt.Errorf("p2p listen address %q: %w", s, err)
		}
		listen = append(listen, a)
	}
	cm, err := connmgr.NewConnManager(200, 400, connmgr.WithGracePeriod(time.Minute))
	if err != nil {
		return nil, err
	}
	opts := []libp2p.Option{
		libp2p.Identity(key),
		libp2p.ListenAddrs(listen...),
		libp2p.ConnectionManager(cm),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Muxer(yamux.ID, muxer()),
		libp2p.UserAgent(userAgent(cfg.Version)),
		libp2p.DisableRelay(),
	}
	if cfg.SwarmKey != "" {
		psk, err := readSwarmKey(cfg.SwarmKey)
		if err != nil {
			return nil, err
		}
		opts = append(opts, libp2p.PrivateNetwork(psk))
		listen = withoutQUIC(listen)
		opts[1] = libp2p.ListenAddrs(listen...)
	} else {
		opts = append(opts, libp2p.Transport(quic.NewTransport))
	}
	self, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return nil, err
	}
	members := &Membership{self: self, next: cfg.Gater}
	opts = append(opts, libp2p.ConnectionGater(members))
	h, err := libp2p.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("starting the libp2p host: %w", err)
	}
	kad, err := dht.New(h,
		dht.Mode(dht.ModeServer),
		dht.ProtocolPrefix(ProtocolPrefix),
		dht.BootstrapPeers(bootstrap...),
		dht.DisableValues(),
		// Refresh often: fleets are small next to the public DHT, and a
		// refresh is what rediscovers peers across a healed partition.
		dht.RoutingTableRefreshPeriod(time.Minute),
	)
	if err != nil {
		h.Close()
		return nil, fmt.Errorf("starting the DHT: %w", err)
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	hst := &Host{host: h, dht: kad, log: cfg.Logger, cfg: cfg, members: members, bootstrap: bootstrap, cancel: cancel, pieces: newPieceCache(1024), active: map[digest.Digest]*swarmFetch{}, slots: sharedSlots{slots: swarm.NewSlots(maxUploads)}, intake: sharedSlots{slots: swarm.NewIntake()}, book: peerbook.New(maxKnownPeers, forgetPeer), transferSilence: transferSilence}
	hst.tracker = newTracker(hst.slots.rate)
	hst.recordPeers()
	if cfg.MDNS {
		hst.mdns = mdns.NewMdnsService(h, "shoal", mdnsNotifee{hst})
		if err := hst.mdns.Start(); err != nil {
			hst.Close()
			return nil, fmt.Errorf("starting mDNS: %w", err)
		}
	}
	hst.wg.Add(1)
	go hst.keepJoined(ctx)
	return hst, nil
}

// keepJoined connects to the bootstrap peers now, and again whenever the
// host finds itself with no peers, until ctx ends.
func (h *Host) keepJoined(ctx context.Context) {
	defer h.wg.Done()
	t := time.NewTicker(h.cfg.RebootstrapInterval)
	defer t.Stop()
	h.join(ctx)
	tick := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			tick++
			h.rejoin(ctx, tick)
		}
	}
}

// rejoin dials the bootstrap peers this host is not connected to, so a
// healed partition joins back up; every sixth round (and whenever alone)
// it asks discovery again, and with fewer than fewPeers connections it
// also tries the peers it has known.
func (h *Host) rejoin(ctx context.Context, tick int) {
	alone := len(h.host.Network().Peers()) == 0
	var peers []peer.AddrInfo
	for _, p := range h.bootstrap {
		if h.host.Network().Connectedness(p.ID) != network.Connected {
			peers = append(peers, p)
		}
	}
	if h.cfg.Discover != nil && (alone || tick%6 == 0) {
		found, err := h.cfg.Discover(ctx)
		if err != nil {
			h.log.Warn("discovering peers", "err", err)
		}
		for _, p := range found {
			if h.host.Network().Connectedness(p.ID) != network.Connected {
				peers = append(peers, p)
			}
		}
	}
	// A node with few connections (a small fleet, or one side of a
	// partition that has healed) also redials the peers it knows but is
	// not connected to: nothing else would bring them back before the
	// DHT's next refresh. libp2p's dial backoff keeps this cheap for
	// peers that are really gone.
	if connected := len(h.host.Network().Peers()); connected < fewPeers {
		limit := 64
		if !alone {
			limit = len(peers) + 2*fewPeers
		}
		for _, id := range h.host.Peerstore().PeersWithAddrs() {
			if len(peers) >= limit {
				break
			}
			if id != h.host.ID() && h.host.Network().Connectedness(id) != network.Connected && !h.penalised(id) {
				peers = append(peers, h.host.Peerstore().PeerInfo(id))
			}
		}
	}
	if len(peers) > 0 {
		h.connectAll(ctx, peers)
	}
}

func (h *Host) join(ctx context.Context) {
	peers := append([]peer.AddrInfo(nil), h.bootstrap...)
	if h.cfg.Discover != nil {
		found, err := h.cfg.Discover(ctx)
		if err != nil {
			h.log.Warn("discovering peers", "err", err)
		}
		peers = append(peers, found...)
	}
	h.connectAll(ctx, peers)
}

// connectAll dials peers at once and, when that leaves the host with
// peers, refreshes the DHT through them.
func (h *Host) connectAll(ctx context.Context, peers []peer.AddrInfo) {
	var wg sync.WaitGroup
	for _, p := range peers {
		if p.ID == h.host.ID() {
			continue
		}
		wg.Add(1)
		go func(p peer.AddrInfo) {
			defer wg.Done()
			// Past libp2p's dial backoff: a peer that was unreachable during
			// a partition would otherwise stay undialled for minutes after
			// it heals. The ticker already paces these dials.
			cctx, cancel := context.WithTimeout(network.WithForceDirectDial(ctx, "rejoin"), 10*time.Second)
			defer cancel()
			if err := h.host.Connect(cctx, p); err != nil {
				h.log.Debug("bootstrap peer unreachable", "peer", p.ID, "err", err)
			}
		}(p)
	}
	wg.Wait()
	if len(h.host.Network().Peers()) > 0 {
		if err := h.dht.Bootstrap(ctx); err != nil {
			h.log.Debug("DHT bootstrap", "err", err)
		}
	}
}

// Connect dials p; it is how tests and discovery add peers.
func (h *Host) Connect(ctx context.Context, p peer.AddrInfo) error { return h.host.Connect(ctx, p) }

// ID is the host's peer ID.
func (h *Host) ID() peer.ID { return h.host.ID() }

// Addrs are the host's full multiaddrs, each ending in /p2p/<id>, usable
// as another node's --bootstrap.
func (h *Host) Addrs() []string {
	out := []string{}
	for _, a := range h.host.Addrs() {
		out = append(out, fmt.Sprintf("%s/p2p/%s", a, h.host.ID()))
	}
	return out
}

// AddrInfo is the host as a peer to connect to.
func (h *Host) AddrInfo() peer.AddrInfo {
	return peer.AddrInfo{ID: h.host.ID(), Addrs: h.host.Addrs()}
}

// Peers is how many peers are connected now.
func (h *Host) Peers() int { return len(h.host.Network().Peers()) }

// Listening reports whether the host has an address to be reached at.
func (h *Host) Listening() bool { return len(h.host.Addrs()) > 0 }

// Close leaves the fleet.
func (h *Host) Close() error {
	h.cancel()
	h.policyMu.Lock()
	x := h.policy
	h.policy = nil
	h.policyMu.Unlock()
	if x != nil {
		x.close()
	}
	h.closeGossip()
	var errs []error
	if h.mdns != nil {
		errs = append(errs, h.mdns.Close())
	}
	h.wg.Wait()
	errs = append(errs, h.dht.Close(), h.host.Close())
	return errors.Join(errs...)
}

type mdnsNotifee struct{ h *Host }

func (n mdnsNotifee) HandlePeerFound(p peer.AddrInfo) {
	if p.ID == n.h.host.ID() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.h.host.Connect(ctx, p); err != nil {
		n.h.log.Debug("mDNS peer unreachable", "peer", p.ID, "err", err)
	}
}

func loadOrCreateKey(path string) (crypto.PrivKey, error) {
	raw, err := os.ReadFile(path)
	if err == nil {
		k, err := crypto.UnmarshalPrivateKey(raw)
		if err != nil {
			return nil, fmt.Errorf("peer key %s: %w", path, err)
		}
		return k, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	k, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		return nil, err
	}
	raw, err = crypto.MarshalPrivateKey(k)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, raw, 0o600); err != nil {
		return nil, err
	}
	return k, os.Rename(tmp, path)
}

func readSwarmKey(path string) (pnet.PSK, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("swarm key: %w", err)
	}
	defer f.Close()
	psk, err := pnet.DecodeV1PSK(f)
	if err != nil {
		return nil, fmt.Errorf("swarm key %s: %w", path, err)
	}
	return psk, nil
}

func parseAddrInfos(addrs []string) ([]peer.AddrInfo, error) {
	var out []peer.AddrInfo
	seen := map[peer.ID]int{}
	for _, s := range addrs {
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			return nil, fmt.Errorf("bootstrap address %q: %w", s, err)
		}
		ai, err := peer.AddrInfoFromP2pAddr(a)
		if err != nil {
			return nil, fmt.Errorf("bootstrap address %q: it must end in /p2p/<peer id>: %w", s, err)
		}
		i, ok := seen[ai.ID]
		if !ok {
			i = len(out)
			seen[ai.ID] = i
			out = append(out, peer.AddrInfo{ID: ai.ID})
		}
		out[i].Addrs = append(out[i].Addrs, ai.Addrs...)
	}
	return out, nil
}

// muxer is yamux with a smaller per-stream receive window than libp2p's
// 16 MiB: a node starved of CPU while fetching pieces from many peers
// otherwise buffers up to 16 MiB per stream. 4 MiB still fills a 400 MB/s
// link at 10 ms of round trip.
func muxer() *yamux.Transport {
	t := *yamux.DefaultTransport
	t.MaxStreamWindowSize = 4 << 20
	return &t
}

// withoutQUIC drops UDP listen addresses: pnet protects TCP only.
func withoutQUIC(addrs []ma.Multiaddr) []ma.Multiaddr {
	var out []ma.Multiaddr
	for _, a := range addrs {
		if _, err := a.ValueForProtocol(ma.P_UDP); err == nil {
			continue
		}
		out = append(out, a)
	}
	return out
}
