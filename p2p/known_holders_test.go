package p2p

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/opencontainers/go-digest"

	"github.com/shoal-dev/shoal/repository"
)

// TestFetchAsksKnownHolders: a holder whose provider record is missing
// (never published, or lost) is still asked when the caller names it, and
// a named peer that lacks the content does not keep a mirrored fetch from
// the designated fetcher.
func TestFetchAsksKnownHolders(t *testing.T) {
	fleet := newFleet(t, 3)
	asker, holder, other := fleet[0], fleet[1], fleet[2]
	for _, p := range fleet {
		p.adv.Close() // nothing put below is advertised
	}
	blob := randomBytes(t, 2*PieceSize+3)
	d := holder.content.put(blob)
	// A blob some other peer is designated to fetch from upstream: the
	// asker would otherwise go upstream itself.
	var up []byte
	var du digest.Digest
	for range 64 {
		up = randomBytes(t, 1000)
		du = digest.FromBytes(up)
		if closest, _ := asker.h.designated(context.Background(), du); len(closest) > 0 {
			break
		}
	}
	for _, p := range fleet[1:] {
		p.content.upstream = map[digest.Digest][]byte{du: up}
	}
	for _, tc := range []struct {
		name  string
		d     digest.Digest
		repo  repository.Name
		known []peer.ID
		want  []byte // nil: ErrNoPeer
	}{
		{name: "no holder found, none named", d: d, repo: repository.Local("team/app")},
		{name: "the named holder", d: d, repo: repository.Local("team/app"), known: []peer.ID{holder.h.ID()}, want: blob},
		{name: "the named holder after one that lacks it", d: d, repo: repository.Local("team/app"), known: []peer.ID{other.h.ID(), holder.h.ID()}, want: blob},
		{name: "only a named peer that lacks it", d: d, repo: repository.Local("team/app"), known: []peer.ID{other.h.ID()}},
		{name: "this node named: skipped", d: d, repo: repository.Local("team/app"), known: []peer.ID{asker.h.ID()}},
		{name: "mirrored: a named peer that lacks it, then the designated fetcher", d: du, repo: repository.Mirror("up", "repo"), known: []peer.ID{holder.h.ID()}, want: up},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := tc.want
			dl, err := asker.h.Fetch(context.Background(), tc.d, tc.repo, time.Second, tc.known)
			if want == nil {
				if !errors.Is(err, ErrNoPeer) {
					t.Fatalf("Fetch = %v, want ErrNoPeer", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Fetch: %v", err)
			}
			if got := readAll(t, dl); !bytes.Equal(got, want) {
				t.Fatalf("got %d bytes, want %d", len(got), len(want))
			}
		})
	}
}
