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
	_, _ = w.Write([]byte("ok\n"))
}

func (n *Node) handleStatus(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(n.Status())
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
	if n.p2p != nil {
		s.PeerID = n.p2p.ID().String()
		s.P2PAddrs = n.p2p.Addrs()
		s.Peers = n.p2p.Peers()
	}
	s.Policy.Version = int64(n.access.Version())
	for _, r := range n.upstream.Rules() {
		s.Upstream = append(s.Upstream, r.Name+"="+r.URL.String())
	}
	return s
}
