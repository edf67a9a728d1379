package node

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/adminapi"
)

func getPeers(t *testing.T, n *Node, remote string) (int, adminapi.Peers) {
	t.Helper()
	w := serveReq(t, n.Handler(), req{path: adminapi.PathPeers, remote: remote})
	var doc adminapi.Peers
	if w.Code == http.StatusOK {
		if err := json.Unmarshal(w.Body.Bytes(), &doc); err != nil {
			t.Fatal(err)
		}
	}
	return w.Code, doc
}

// GET /shoal/v1/peers lists the peers connected now, with where and
// since when.
func TestPeersListed(t *testing.T) {
	up := newCountingUpstream(t)
	a, _ := startFleetNode(t, up.URL, nil)
	b, _ := startFleetNode(t, up.URL, a.p2p.Addrs())
	waitConnected(t, a, b)
	code, doc := getPeers(t, a, "192.0.2.10:40000")
	if code != http.StatusOK {
		t.Fatalf("GET %s on an open node: %d", adminapi.PathPeers, code)
	}
	if len(doc.Peers) != 1 || doc.Peers[0].PeerID != b.p2p.ID().String() || len(doc.Peers[0].Addrs) == 0 {
		t.Fatalf("peers %+v, want node B (%s) with its address", doc.Peers, b.p2p.ID())
	}
	if since := doc.Peers[0].ConnectedSince; since.IsZero() || time.Since(since) > time.Minute {
		t.Errorf("connected since %v", since)
	}
	// B's version comes in libp2p's identify exchange, which may finish
	// just after the connection.
	for deadline := time.Now().Add(10 * time.Second); doc.Peers[0].Version != "test"; {
		if time.Now().After(deadline) {
			t.Fatalf("peer B's version %q, want test (as it started)", doc.Peers[0].Version)
		}
		time.Sleep(50 * time.Millisecond)
		if _, doc = getPeers(t, a, "192.0.2.10:40000"); len(doc.Peers) != 1 {
			t.Fatalf("peers %+v", doc.Peers)
		}
	}
}

// Under a policy the peer list is an admin endpoint: loopback only.
func TestPeersAdminOnlyUnderPolicy(t *testing.T) {
	tn := newAuthTestNode(t, true)
	tn.apply(t, tn.kit.sign(t, testDoc(t, 1, tn.now())))
	if code, _ := getPeers(t, tn.n, "192.0.2.10:40000"); code != http.StatusForbidden {
		t.Errorf("GET %s from afar under a policy: %d, want 403", adminapi.PathPeers, code)
	}
	if code, doc := getPeers(t, tn.n, "127.0.0.1:40000"); code != http.StatusOK || doc.Peers == nil {
		t.Errorf("GET %s from loopback under a policy: %d %+v, want 200 and a list", adminapi.PathPeers, code, doc)
	}
}
