package node

import (
	"encoding/json"
	"net/http"

	"github.com/shoal-dev/shoal/adminapi"
)

func (n *Node) handleHealthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok\n"))
}

func (n *Node) handleReadyz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if problems := n.notReady(); len(problems) > 0 {
		w.WriteHeader(http.StatusServiceUnavailable)
		for _, p := range problems {
			_, _ = w.Write([]byte(p + "\n"))
		}
		return
	}
	// A store that cannot write still serves every pull that peers or
	// upstream can (pass-through), so the node stays ready and says
	// why it is degraded.
	if h := n.store.Health(); h.Degraded {
		_, _ = w.Write([]byte("degraded\nstore: cannot write: " + h.Reason + "\n"))
		return
	}
	_, _ = w.Write([]byte("ok\n"))
}

func (n *Node) handleStatus(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	st := n.Status()
	if !n.access.Admin(r) {
		st = st.Public()
	}
	_ = enc.Encode(st)
}

// handlePeers lists the peers connected now and every peer known; none
// without a p2p host.
func (n *Node) handlePeers(w http.ResponseWriter, r *http.Request) {
	doc := adminapi.Peers{Peers: []adminapi.Peer{}}
	if n.p2p != nil {
		for _, p := range n.p2p.ConnectedPeers() {
			doc.Peers = append(doc.Peers, adminapi.Peer{PeerID: p.ID.String(), Addrs: p.Addrs, ConnectedSince: p.Since.UTC(), Version: p.Version})
		}
		doc.Known = n.knownPeers()
	}
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(doc)
}

// notReady lists why the node cannot serve yet; empty when it can.
func (n *Node) notReady() []string {
	var problems []string
	if !n.store.Ready() {
		problems = append(problems, "store: not open")
	}
	if len(n.cfg.P2PListen) > 0 && (n.p2p == nil || !n.p2p.Listening()) {
		problems = append(problems, "p2p: not listening")
	}
	problems = append(problems, n.access.Problems()...)
	return problems
}

// Status reports what the node is and holds.
func (n *Node) Status() adminapi.Status {
	bytes, blobs := n.store.Usage()
	uploadBytes, uploads := n.store.Uploads()
	s := adminapi.Status{
		Version:  n.version,
		P2PAddrs: []string{},
		Cache: adminapi.CacheStatus{Bytes: bytes, Blobs: blobs, MaxBytes: n.cfg.CacheMaxBytes,
			UploadBytes: uploadBytes, Uploads: uploads},
		Upstream: []string{},
	}
	if rb := n.store.Rebuilt(); rb != nil {
		s.Cache.Rebuild = &adminapi.CacheRebuild{At: rb.At, Reason: rb.Reason, SetAside: rb.SetAside,
			Blobs: rb.Blobs, Bytes: rb.Bytes, Quarantined: rb.Quarantined, QuarantineDir: rb.QuarantineDir, Lost: rb.Lost}
	}
	s.Cache.State = adminapi.CacheOK
	if h := n.store.Health(); h.Degraded {
		since := h.Since
		s.Cache.State, s.Cache.Reason, s.Cache.DegradedSince = adminapi.CacheDegraded, h.Reason, &since
	}
	if fs, high, low, ok := n.store.Space(); ok {
		s.Cache.Filesystem = &adminapi.FilesystemStatus{
			Bytes: fs.Size, UsedBytes: fs.Used, AvailableBytes: fs.Avail,
			UsedPercent:          100 * fs.UsedRatio(),
			HighWatermarkPercent: 100 * high, LowWatermarkPercent: 100 * low,
		}
	}
	if n.p2p != nil {
		s.PeerID = n.p2p.ID().String()
		s.P2PAddrs = n.p2p.Addrs()
		s.Peers = n.p2p.Peers()
		for _, p := range n.p2p.ConnectedPeers() {
			ps := adminapi.PeerStatus{ID: p.ID.String(), Version: p.Version}
			if len(p.Addrs) > 0 {
				ps.Addr = p.Addrs[0]
			}
			if !p.Since.IsZero() {
				since := p.Since.UTC()
				ps.ConnectedSince = &since
			}
			s.ConnectedPeers = append(s.ConnectedPeers, ps)
		}
		s.KnownPeers = n.knownPeers()
	}
	if n.traffic != nil {
		tr := &adminapi.Traffic{IntervalSeconds: n.trafficInterval.Seconds(), Samples: []adminapi.TrafficSample{}}
		for _, x := range n.traffic.Samples() {
			tr.Samples = append(tr.Samples, adminapi.TrafficSample{At: x.At.UTC(), ClientBytes: x.Client, PeerBytes: x.Peers, UpstreamBytes: x.Upstream})
		}
		s.Traffic = tr
	}
	s.Policy.Version = int64(n.access.Version())
	if p := n.access.Current(); p != nil {
		expires := p.Document.Expires.UTC()
		s.Policy.Network, s.Policy.Expires, s.Policy.Signers = p.Document.Network, &expires, p.Signers
		s.Policy.Membership = &adminapi.PolicyMembership{AnyWithSwarmKey: p.Document.Peers.AnyWithSwarmKey, AllowedPeers: len(p.Document.Peers.Allow)}
	}
	for _, r := range n.upstream.Rules() {
		s.Upstream = append(s.Upstream, r.Name+"="+r.URL.String())
	}
	return s
}

// knownPeers is the p2p host's peer book as the admin API shows it.
func (n *Node) knownPeers() []adminapi.KnownPeer {
	out := []adminapi.KnownPeer{}
	for _, p := range n.p2p.KnownPeers() {
		kp := adminapi.KnownPeer{PeerID: p.ID.String(), Addrs: p.Addrs, Connected: p.Connected, LastSeen: p.LastSeen.UTC(), Version: p.Version}
		if p.Connected && !p.Since.IsZero() {
			since := p.Since.UTC()
			kp.ConnectedSince = &since
		}
		if f := p.Facts; f != nil {
			kp.Told = &adminapi.PeerFacts{StoreBytes: f.StoreBytes, Blobs: f.Blobs, Version: f.Version, At: f.At.UTC()}
		}
		out = append(out, kp)
	}
	return out
}
