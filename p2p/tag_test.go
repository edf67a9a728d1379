package p2p

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/opencontainers/go-digest"

	"github.com/shoal-dev/shoal/repository"
)

// TestSecondhandTag: a local repository's tag is answered by a node that
// pulled it through only to an asker that accepts a secondhand answer,
// and marked so; the asker prefers the owner's answer and takes a
// secondhand one only when no owner answers (issue 11: pushed images
// could not be pulled by tag while the node they were pushed to was
// down, although another node held them).
func TestSecondhandTag(t *testing.T) {
	fleet := newFleet(t, 3)
	asker, owner, holder := fleet[0], fleet[1], fleet[2]
	repo := repository.Local("team/app")
	moved := digest.FromString("moved") // the owner's tag now
	old := digest.FromString("old")     // what the holder pulled through
	owner.content.mu.Lock()
	owner.content.tags["team/app:v1"] = moved
	// Answer after the holder, so that the asker has to wait for it.
	owner.content.tagDelay = 300 * time.Millisecond
	owner.content.mu.Unlock()
	holder.content.mu.Lock()
	holder.content.secondhand["team/app:v1"] = old
	holder.content.mu.Unlock()

	ask := func(t *testing.T, accept bool) (digest.Digest, bool, error) {
		t.Helper()
		s, err := asker.h.Open(context.Background(), holder.h.ID(), Request{Repo: repo.Path, Tag: "v1", AcceptCached: accept})
		if err != nil {
			return "", false, err
		}
		s.Close()
		return s.Digest, s.Cached, nil
	}
	t.Run("an asker without accept_cached gets not_found from the holder", func(t *testing.T) {
		if d, cached, err := ask(t, false); !errors.Is(err, ErrNotFound) {
			t.Errorf("holder answered %s (cached %v), %v; want not_found", d, cached, err)
		}
	})
	t.Run("an asker with accept_cached gets it marked cached", func(t *testing.T) {
		if d, cached, err := ask(t, true); err != nil || d != old || !cached {
			t.Errorf("holder answered %s (cached %v), %v; want %s, cached", d, cached, err, old)
		}
	})
	t.Run("owner up: its answer wins over an earlier secondhand one", func(t *testing.T) {
		a, err := asker.h.Tag(context.Background(), repo, "v1", 10*time.Second)
		if err != nil || a != (TagAnswer{Digest: moved, Peer: owner.h.ID()}) {
			t.Errorf("Tag = %+v, %v; want %s from the owner %s", a, err, moved, owner.h.ID())
		}
	})
	t.Run("owner says it has no such tag: no secondhand answer brings it back", func(t *testing.T) {
		owner.content.mu.Lock()
		owner.content.owns = map[string]bool{repo.Key(): true}
		delete(owner.content.tags, "team/app:v1")
		owner.content.mu.Unlock()
		a, err := asker.h.Tag(context.Background(), repo, "v1", 10*time.Second)
		if !errors.Is(err, ErrOwnerHasNoTag) || !errors.Is(err, ErrNotFound) {
			t.Errorf("Tag = %+v, %v; want the owner's no", a, err)
		}
	})
	t.Run("owner down: the holder's answer, marked cached", func(t *testing.T) {
		owner.adv.Close()
		if err := owner.h.Close(); err != nil {
			t.Fatal(err)
		}
		a, err := asker.h.Tag(context.Background(), repo, "v1", 10*time.Second)
		if err != nil || a != (TagAnswer{Digest: old, Peer: holder.h.ID(), Cached: true}) {
			t.Errorf("Tag = %+v, %v; want %s from the holder %s, cached", a, err, old, holder.h.ID())
		}
	})
}

// TestSecondhandTagsBest: several secondhand answers that disagree give
// the digest most peers gave, ties going to the first given; a peer asked
// twice counts once.
func TestSecondhandTagsBest(t *testing.T) {
	a, b := digest.FromString("a"), digest.FromString("b")
	type vote struct {
		p peer.ID
		d digest.Digest
	}
	for _, tc := range []struct {
		name  string
		votes []vote
		want  TagAnswer
	}{
		{name: "none"},
		{name: "one", votes: []vote{{"p1", a}}, want: TagAnswer{Digest: a, Peer: "p1", Cached: true}},
		{name: "most", votes: []vote{{"p1", a}, {"p2", b}, {"p3", b}}, want: TagAnswer{Digest: b, Peer: "p2", Cached: true}},
		{name: "tie: the first", votes: []vote{{"p1", b}, {"p2", a}}, want: TagAnswer{Digest: b, Peer: "p1", Cached: true}},
		{name: "a peer asked twice counts once", votes: []vote{{"p1", a}, {"p2", b}, {"p2", b}}, want: TagAnswer{Digest: a, Peer: "p1", Cached: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s secondhandTags
			for _, v := range tc.votes {
				s.add(v.p, v.d)
			}
			got, ok := s.best()
			if got != tc.want || ok != (tc.want.Digest != "") {
				t.Errorf("best = %+v, %v; want %+v", got, ok, tc.want)
			}
		})
	}
}
