package node

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
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

// The peers a node knows carry the store size each told, and one that
// left stays listed, not connected, with when it was last seen.
func TestKnownPeersTellStoreSizeAndLastSeen(t *testing.T) {
	up := newCountingUpstream(t)
	img, err := random.Image(1<<10, 2)
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := name.ParseReference(strings.TrimPrefix(up.URL, "http://") + "/app/web:v1")
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	a, _ := startFleetNode(t, up.URL, nil)
	b, srvB := startFleetNode(t, up.URL, a.p2p.Addrs())
	waitConnected(t, a, b)
	pullImage(t, srvB, "up/app/web:v1")
	bID := b.p2p.ID().String()
	knownB := func() (adminapi.KnownPeer, bool) {
		_, doc := getPeers(t, a, "127.0.0.1:40000")
		for _, p := range doc.Known {
			if p.PeerID == bID {
				return p, true
			}
		}
		return adminapi.KnownPeer{}, false
	}
	// B tells its facts soon after it connects, and every 30 s: wait for
	// the ones after the pull.
	var bBytes int64
	for deadline := time.Now().Add(45 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		bytes, bBlobs := b.store.Usage()
		bBytes = bytes
		p, ok := knownB()
		if ok && p.Told != nil && p.Told.StoreBytes == bBytes && p.Told.Blobs == bBlobs {
			if !p.Connected || p.ConnectedSince == nil || len(p.Addrs) == 0 || p.Told.Version != "test" || time.Since(p.LastSeen) > time.Minute {
				t.Fatalf("A knows B as %+v", p)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("A knows B as %+v (%v, told %+v), want it to have told %d bytes in %d blobs", p, ok, p.Told, bBytes, bBlobs)
		}
	}
	if st := nodeStatus(t, a); len(st.KnownPeers) != 1 || st.KnownPeers[0].Told == nil || st.KnownPeers[0].Told.StoreBytes != bBytes {
		t.Fatalf("A's status lists known peers %+v, want B with %d bytes", st.KnownPeers, bBytes)
	}

	before := time.Now()
	srvB.Close()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		p, ok := knownB()
		if !ok {
			t.Fatal("A forgot B when it left")
		}
		if !p.Connected {
			if p.ConnectedSince != nil || p.LastSeen.Before(before) || time.Since(p.LastSeen) > time.Minute || p.Told == nil || p.Told.StoreBytes != bBytes || len(p.Addrs) == 0 {
				t.Fatalf("B, gone, is known as %+v (it left after %s)", p, before)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("B left, and A still lists it as connected")
		}
	}
}
