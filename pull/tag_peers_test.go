package pull_test

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/shoal-dev/shoal/pull"
	"github.com/shoal-dev/shoal/pull/pulltest"
	"github.com/shoal-dev/shoal/repository"
)

// TestTagPeerAskedForContent: the peer that resolved a tag holds what it
// names, so it is asked for the manifest and the blobs too, not only the
// holders a DHT lookup lists (issue 11: a holder whose provider record
// was lost made pulls of pushed images fail with a 404 it could serve).
// What it sends is checked against its digest like any peer's.
func TestTagPeerAskedForContent(t *testing.T) {
	// held makes TagPeer, and no advertised holder, answer "v1" of repo
	// with d1 and hold m1 and layer.
	held := func(repo repository.Name) func(e *env) {
		return func(e *env) {
			e.peers.HoldTag(repo, "v1", d1)
			e.peers.HoldUnadvertised(pulltest.TagPeer, d1, manifestType, m1)
			e.peers.HoldUnadvertised(pulltest.TagPeer, ld, "application/octet-stream", layer)
		}
	}
	askedKnown := func(t *testing.T, e *env) {
		t.Helper()
		for _, f := range e.peers.Fetched {
			if !strings.HasSuffix(f, " known "+pulltest.TagPeer) {
				t.Errorf("peers asked %q without naming the tag's peer", f)
			}
		}
	}
	for _, tc := range []struct {
		name  string
		repo  repository.Name
		setup func(e *env)
		// read is what the client does after pulling "v1" by tag.
		read func(t *testing.T, e *env, p *pull.Puller)
	}{
		{
			name:  "a local repository held elsewhere: the manifest by tag",
			repo:  local,
			setup: held(local),
			read: func(t *testing.T, e *env, p *pull.Puller) {
				if !slices.Equal(e.storedCalls(), saved(local, d1)) {
					t.Errorf("ManifestStored calls = %q", e.storedCalls())
				}
				askedKnown(t, e)
			},
		},
		{
			name:  "a local repository held elsewhere: then its blob",
			repo:  local,
			setup: held(local),
			read: func(t *testing.T, e *env, p *pull.Puller) {
				b, err := p.Blob(context.Background(), local, ld)
				if err != nil {
					t.Fatalf("Blob: %v", err)
				}
				if got := readBlob(t, b); !bytes.Equal(got, layer) {
					t.Errorf("Blob = %d bytes, want the layer", len(got))
				}
				askedKnown(t, e)
			},
		},
		{
			name:  "a local repository held elsewhere: then its blob sized",
			repo:  local,
			setup: held(local),
			read: func(t *testing.T, e *env, p *pull.Puller) {
				size, err := p.StatBlob(context.Background(), local, ld)
				if err != nil || size != int64(llen) {
					t.Errorf("StatBlob = %d, %v; want %d", size, err, llen)
				}
			},
		},
		{
			name:  "a local repository held elsewhere: then the manifest by digest",
			repo:  local,
			setup: func(e *env) { held(local)(e); e.store.CannotWrite = true },
			read: func(t *testing.T, e *env, p *pull.Puller) {
				m, err := p.Manifest(context.Background(), local, d1.String())
				if err != nil || !bytes.Equal(m.Bytes, m1) {
					t.Fatalf("Manifest by digest: %v", err)
				}
				askedKnown(t, e)
			},
		},
		{
			name: "a mirrored repository, upstream down: the manifest by tag",
			repo: mirrored,
			setup: func(e *env) {
				held(mirrored)(e)
				e.cfg.PeerTags = true
				e.up.Err = pulltest.Down
			},
			read: func(t *testing.T, e *env, p *pull.Puller) { askedKnown(t, e) },
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv()
			tc.setup(e)
			p := e.puller(t)
			m, err := p.Manifest(context.Background(), tc.repo, "v1")
			if err != nil {
				t.Fatalf("Manifest by tag: %v (peers asked %q)", err, e.peers.Fetched)
			}
			if !bytes.Equal(m.Bytes, m1) || m.Digest != d1 {
				t.Fatalf("Manifest = %s, want %s", m.Digest, d1)
			}
			tc.read(t, e, p)
		})
	}
}

// TestTagPeerContentChecked: what the tag's peer sends is checked
// against its digest: a wrong manifest is refused, blamed, not stored.
func TestTagPeerContentChecked(t *testing.T) {
	e := newEnv()
	e.peers.HoldTag(local, "v1", d1)
	e.peers.HoldUnadvertised(pulltest.TagPeer, d1, manifestType, m2)
	p := e.puller(t)
	_, err := p.Manifest(context.Background(), local, "v1")
	notFoundAs("MANIFEST_UNKNOWN")(t, err)
	if len(e.peers.Blamed) != 1 {
		t.Errorf("blamed %q, want the peer that sent a wrong manifest", e.peers.Blamed)
	}
	if got := e.storedCalls(); len(got) != 0 {
		t.Errorf("stored %q", got)
	}
	if _, err := e.store.Manifest(local.Key(), d1); err == nil {
		t.Error("the wrong manifest was stored")
	}
}
