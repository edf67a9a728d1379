package p2p

import (
	"context"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/opencontainers/go-digest"
	"github.com/shoal-dev/shoal/repository"
)

// scanRecorder stands in for the node: it records announcements.
type scanRecorder struct {
	mu    sync.Mutex
	heard []ScanAnnouncement
	from  [][]peer.ID
}

func (r *scanRecorder) ScanAnnounced(_ context.Context, a ScanAnnouncement, sources []peer.ID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.heard = append(r.heard, a)
	r.from = append(r.from, sources)
}

func (r *scanRecorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.heard)
}

func TestScanAnnouncementsAndFetch(t *testing.T) {
	fleet := newFleet(t, 3)
	// The policy exchange and the scan exchange share one router.
	exchange(t, fleet[0].h)
	var recs []*scanRecorder
	for _, p := range fleet {
		r := &scanRecorder{}
		if err := p.h.ExchangeScans(r); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	for _, p := range fleet {
		eventually(t, "the scan topic has its peers", func() bool { return len(p.h.gossip.scans.topic.ListPeers()) >= 2 })
	}
	// A publish before gossipsub's first heartbeats can reach no one
	// (the node re-announces reports for that reason).
	time.Sleep(2 * time.Second)
	env := []byte(`{"payloadType":"application/vnd.in-toto+json"}`)
	d := fleet[0].content.put(env)
	a := ScanAnnouncement{Kind: AnnounceReport, Digest: d, Size: int64(len(env)), Signer: fleet[0].h.ID().String(),
		Image: digest.FromString("image"), Repo: "up/app", DB: digest.FromString("db")}
	if err := fleet[0].h.AnnounceScan(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	for i, r := range recs[1:] {
		eventually(t, "a peer hears the announcement", func() bool { return r.count() >= 1 })
		if got := r.heard[0]; got.Digest != d || got.Image != a.Image || got.Repo != "up/app" || r.from[0][0] != fleet[0].h.ID() {
			t.Errorf("peer %d heard %+v from %v", i+1, got, r.from[0])
		}
	}
	time.Sleep(200 * time.Millisecond)
	if recs[0].count() != 0 {
		t.Error("the author heard its own announcement")
	}

	rc, size, err := fleet[1].h.FetchFrom(context.Background(), d, repository.Local("scans/test"), []peer.ID{fleet[2].h.ID(), fleet[0].h.ID()}, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if size != int64(len(env)) || string(got) != string(env) {
		t.Errorf("fetched %d bytes %q", size, got)
	}
	if _, _, err := fleet[1].h.FetchFrom(context.Background(), d, repository.Local("scans/test"), []peer.ID{fleet[0].h.ID()}, 4); err == nil {
		t.Error("fetched a blob above the bound")
	}
	if err := fleet[0].h.AnnounceScan(context.Background(), ScanAnnouncement{Kind: "other"}); err == nil {
		t.Error("announced a malformed announcement")
	}
}

func TestParseScanAnnouncement(t *testing.T) {
	id := "12D3KooWSnaPXDSHVTToifnAeiTXM1PxCuPp2HhP6vgEMKbzTtJq"
	d := digest.FromString("x").String()
	for _, tc := range []struct {
		in, err string
	}{
		{`{"kind":"report","digest":"` + d + `","size":10,"signer":"` + id + `","image":"` + d + `"}`, ""},
		{`{"kind":"db","digest":"` + d + `","size":10,"signer":"` + id + `","signature":"c2ln"}`, ""},
		{`{"kind":"db","digest":"` + d + `","size":10,"signer":"` + id + `"}`, "signature"},
		{`{"kind":"report","digest":"` + d + `","size":10,"signer":"` + id + `"}`, "image"},
		{`{"kind":"report","digest":"` + d + `","size":0,"signer":"` + id + `","image":"` + d + `"}`, "size"},
		{`{"kind":"report","digest":"` + d + `","size":1,"signer":"nobody","image":"` + d + `"}`, "signer"},
		{`{"kind":"report","digest":"` + d + `","size":1,"signer":"` + id + `","image":"` + d + `","extra":1}`, "unknown field"},
		{`{"kind":"x"}`, "kind"},
		{strings.Repeat(" ", 3000), "bytes"},
	} {
		_, err := parseScanAnnouncement([]byte(tc.in))
		if (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("parse %.60s: %v, want %q", tc.in, err, tc.err)
		}
	}
}

func FuzzParseScanAnnouncement(f *testing.F) {
	d := digest.FromString("x").String()
	f.Add([]byte(`{"kind":"report","digest":"` + d + `","size":10,"signer":"12D3KooWSnaPXDSHVTToifnAeiTXM1PxCuPp2HhP6vgEMKbzTtJq","image":"` + d + `"}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := parseScanAnnouncement(b)
		if err == nil && a.validate() != nil {
			t.Fatal("parsed an invalid announcement")
		}
	})
}
