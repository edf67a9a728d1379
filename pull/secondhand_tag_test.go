package pull_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/shoal-dev/shoal/oci"
	"github.com/shoal-dev/shoal/pull"
	"github.com/shoal-dev/shoal/pull/pulltest"
)

// TestSecondhandTag: a local repository's tag, while its owner is down,
// is answered by a peer that pulled it through (issue 11: pushed images
// failed with 404s while the node they were pushed to was down). That
// answer is a stale tag served, and its peer is asked for the manifest.
// An owner that answers wins.
func TestSecondhandTag(t *testing.T) {
	const holder = "peer-2"
	for _, tc := range []struct {
		name  string
		setup func(e *env)
		want  digest.Digest
		// stale is shoal_stale_tags_served_total after the pull.
		stale int
		// from is the peer named as a holder of the manifest.
		from string
		// warned: the client is told the digest may be stale.
		warned bool
	}{
		{
			name: "owner down: the holder's secondhand answer is served",
			setup: func(e *env) {
				e.peers.HoldSecondhandTag(holder, local, "v1", d1)
				e.peers.HoldUnadvertised(holder, d1, manifestType, m1)
			},
			want: d1, stale: 1, from: holder, warned: true,
		},
		{
			name: "owner up: its answer wins over a secondhand one that disagrees",
			setup: func(e *env) {
				e.peers.HoldSecondhandTag(holder, local, "v1", d1)
				e.peers.HoldTag(local, "v1", d2)
				e.peers.HoldUnadvertised(pulltest.TagPeer, d2, manifestType, m2)
			},
			want: d2, stale: 0, from: pulltest.TagPeer,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv()
			tc.setup(e)
			m, err := e.puller(t).Manifest(context.Background(), local, "v1")
			if err != nil {
				t.Fatalf("Manifest by tag: %v (peers asked %q)", err, e.peers.Fetched)
			}
			if m.Digest != tc.want {
				t.Errorf("Manifest = %s, want %s", m.Digest, tc.want)
			}
			if (m.Warning != "") != tc.warned {
				t.Errorf("Warning = %q, want one: %v", m.Warning, tc.warned)
			}
			if d, _, err := e.store.Tag(local.Key(), "v1"); err != nil || d != tc.want {
				t.Errorf("stored tag = %s, %v; want %s", d, err, tc.want)
			}
			if !slices.ContainsFunc(e.peers.Fetched, func(f string) bool { return strings.HasSuffix(f, " known "+tc.from) }) {
				t.Errorf("peers asked %q, want %s named as a holder", e.peers.Fetched, tc.from)
			}
			got := e.gather(t)
			if g := got[`shoal_stale_tags_served_total`]; g != float64(tc.stale) {
				t.Errorf("shoal_stale_tags_served_total = %v, want %d", g, tc.stale)
			}
			if g := got[`shoal_peer_tag_resolutions_total`]; g != 1 {
				t.Errorf("shoal_peer_tag_resolutions_total = %v, want 1", g)
			}
		})
	}
}

// TestLocalTagAskedAgain: a tag of another node's local repository is
// asked of the fleet again once its TTL has passed, so that a tag moved
// on its owner is seen; when no peer answers, the last known digest is
// served as a stale tag. (Before, the first digest a node learnt was
// served for ever, owner up or not; with secondhand answers that could be
// one taken while the owner was down.)
func TestLocalTagAskedAgain(t *testing.T) {
	for _, tc := range []struct {
		name   string
		peers  func(e *env)
		want   digest.Digest
		stale  int
		warned bool
	}{
		{
			name: "owner up, tag moved: the owner's digest",
			peers: func(e *env) {
				e.peers.HoldTag(local, "v1", d2)
				e.peers.Hold(d2, manifestType, m2)
			},
			want: d2,
		},
		{
			name: "owner up, holder disagrees: the owner's digest",
			peers: func(e *env) {
				e.peers.HoldSecondhandTag("peer-2", local, "v1", d1)
				e.peers.HoldTag(local, "v1", d2)
				e.peers.Hold(d2, manifestType, m2)
			},
			want: d2,
		},
		{
			name:  "no peer answers: the last known digest, stale",
			peers: func(e *env) {},
			want:  d1, stale: 1, warned: true,
		},
		{
			name: "owner up, its manifest unreachable: the last known digest, stale",
			peers: func(e *env) {
				e.peers.HoldTag(local, "v1", d2)
			},
			want: d1, stale: 1, warned: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv()
			_ = e.store.PutManifest(local.Key(), &oci.Manifest{MediaType: manifestType, Bytes: m1, Digest: d1}, nil)
			e.store.SetTagAt(local.Key(), "v1", d1, time.Now().Add(-time.Hour))
			tc.peers(e)
			m, err := e.puller(t).Manifest(context.Background(), local, "v1")
			if err != nil {
				t.Fatalf("Manifest by tag: %v", err)
			}
			if m.Digest != tc.want {
				t.Errorf("Manifest = %s, want %s", m.Digest, tc.want)
			}
			if (m.Warning != "") != tc.warned {
				t.Errorf("Warning = %q, want one: %v", m.Warning, tc.warned)
			}
			if len(e.peers.TagsAsked) != 1 {
				t.Errorf("tags asked of peers %q, want one", e.peers.TagsAsked)
			}
			if g := e.gather(t)[`shoal_stale_tags_served_total`]; g != float64(tc.stale) {
				t.Errorf("shoal_stale_tags_served_total = %v, want %d", g, tc.stale)
			}
		})
	}
}

// A tag its owner no longer has (deleted) is not found, though the node
// has a digest of its own for it and another node would answer with a
// secondhand one: neither may bring back what the owner removed (found
// by node's TestPropertyContentBelongsToItsRepository).
func TestLocalTagDeletedOnItsOwner(t *testing.T) {
	e := newEnv()
	_ = e.store.PutManifest(local.Key(), &oci.Manifest{MediaType: manifestType, Bytes: m1, Digest: d1}, nil)
	e.store.SetTagAt(local.Key(), "v1", d1, time.Now().Add(-time.Hour))
	e.peers.HoldSecondhandTag("peer-2", local, "v1", d1)
	e.peers.OwnerHasNoTag(local, "v1")
	m, err := e.puller(t).Manifest(context.Background(), local, "v1")
	if !errors.Is(err, pull.ErrNotFound) {
		t.Fatalf("Manifest by tag = %v, %v; want not found", m, err)
	}
	if g := e.gather(t)[`shoal_stale_tags_served_total`]; g != 0 {
		t.Errorf("shoal_stale_tags_served_total = %v, want 0", g)
	}
}
