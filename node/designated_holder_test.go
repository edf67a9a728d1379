package node

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/shoal-dev/shoal/p2p"
)

// A node asked as a blob's designated fetcher brings it in from upstream
// for the fleet, whether or not it pulls the image itself. Upstream served
// it under the repository's name, so the node holds it there and answers
// the fleet's holder questions for it, as it does for what its own pulls
// brought in. Without that it advertised the blob and refused everyone
// who found it as a provider, and each of them read the blob from
// upstream again (TestColdRolloutReadsEachBlobOnce failed about one run
// in five when the designated fetcher's own pull came late).
func TestADesignatedFetcherHoldsWhatItBroughtIn(t *testing.T) {
	up := newCountingUpstream(t)
	layers, err := pushedRandomImage(t, up.URL, "app/img", 1<<20, 1).Layers()
	if err != nil {
		t.Fatal(err)
	}
	h, err := layers[0].Digest()
	if err != nil {
		t.Fatal(err)
	}
	size, err := layers[0].Size()
	if err != nil {
		t.Fatal(err)
	}
	ld := digest.Digest(h.String())
	up.blobBytes.Store(0)

	fetcher, _ := startFleetNode(t, up.URL, nil)
	asker, _ := startFleetNode(t, up.URL, fetcher.p2p.Addrs())
	waitConnected(t, fetcher, asker)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	read := func(req p2p.Request) ([]byte, error) {
		s, err := asker.p2p.Open(ctx, fetcher.p2p.ID(), req)
		if err != nil {
			return nil, err
		}
		defer s.Close()
		return io.ReadAll(s)
	}

	got, err := read(p2p.Request{Digest: ld, Rule: "up", Repo: "app/img"})
	if err != nil {
		t.Fatalf("asking the designated fetcher: %v", err)
	}
	if digest.FromBytes(got) != ld {
		t.Fatal("wrong bytes from the designated fetcher")
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := fetcher.store.StatBlob(ld); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the designated fetcher did not store the blob")
		}
	}

	for _, tc := range []struct {
		name string
		req  p2p.Request
		err  error // nil: the blob is wanted
	}{
		{name: "a holder question for the repository upstream served it from", req: p2p.Request{Digest: ld, Repo: "up/app/img"}},
		{name: "a holder question for another repository", req: p2p.Request{Digest: ld, Repo: "up/app/other"}, err: p2p.ErrNotFound},
		{name: "a local repository of that name's path", req: p2p.Request{Digest: ld, Repo: "app/img"}, err: p2p.ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := read(tc.req)
			switch {
			case tc.err != nil && !errors.Is(err, tc.err):
				t.Fatalf("err = %v, want %v", err, tc.err)
			case tc.err == nil && err != nil:
				t.Fatal(err)
			case tc.err == nil && digest.FromBytes(got) != ld:
				t.Fatal("wrong bytes")
			}
		})
	}
	if n := up.blobBytes.Load(); n != size {
		t.Errorf("upstream sent %d blob bytes, want one copy of %d", n, size)
	}
}
