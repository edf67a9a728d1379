package pull_test

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/shoal-dev/shoal/oci"
	"github.com/shoal-dev/shoal/oci/upstream"
	"github.com/shoal-dev/shoal/pull"
	"github.com/shoal-dev/shoal/pull/pulltest"
	"github.com/shoal-dev/shoal/repository"
)

// rules is a HasRule knowing these rules.
func rules(names ...string) pull.HasRule {
	return func(rule string) bool { return slices.Contains(names, rule) }
}

func TestForPeer(t *testing.T) {
	// A peer names the repository as it knows it: Docker Hub's
	// one-component path without library/.
	asked := repository.Name{Rule: "docker.io", Path: "alpine"}
	for _, tc := range []struct {
		name     string
		repo     repository.Name
		hasRule  pull.HasRule
		setup    func(e *env)
		complete bool
		err      func(t *testing.T, err error) // nil: layer is wanted
		calls    map[string]int
		reads    []pulltest.BlobRead
		m        counters
	}{
		{
			name:     "a blob the named repository holds is complete, whatever the rule",
			repo:     repository.Local(repository.Mirror(asked.Rule, asked.Path).Key()),
			hasRule:  rules(),
			setup:    func(e *env) { e.store.AddBlob(layer); holdIn(e, repository.Mirror(asked.Rule, asked.Path).Key()) },
			complete: true,
		},
		{
			name:    "a blob the mirrored repository holds: no upstream call",
			repo:    asked,
			hasRule: rules("docker.io"),
			setup: func(e *env) {
				e.store.AddBlob(layer)
				holdIn(e, repository.Mirror(asked.Rule, asked.Path).Key())
				e.up.PutBlob(layer)
			},
			complete: true,
		},
		{
			name:     "a stored blob the mirrored repository does not hold yet: upstream confirms it",
			repo:     asked,
			hasRule:  rules("docker.io"),
			setup:    func(e *env) { e.store.AddBlob(layer); e.up.PutBlob(layer) },
			complete: true,
			calls:    map[string]int{"StatBlob": 1},
		},
		{
			name:    "a stored blob another repository holds",
			repo:    repository.Local("team/other"),
			hasRule: rules("docker.io"),
			setup:   func(e *env) { e.store.AddBlob(layer); holdIn(e, repository.Mirror(asked.Rule, asked.Path).Key()) },
			err:     errIs(pull.ErrNotFound),
		},
		{
			name:    "no repository named",
			repo:    repository.Name{},
			hasRule: rules("docker.io"),
			setup:   func(e *env) { e.store.AddBlob(layer); holdIn(e, repository.Mirror(asked.Rule, asked.Path).Key()) },
			err:     errIs(pull.ErrNotFound),
		},
		{
			name:    "no rule: only what this node holds",
			repo:    repository.Name{},
			hasRule: rules("docker.io"),
			setup:   func(e *env) { e.up.PutBlob(layer) },
			err:     errIs(pull.ErrNotFound),
		},
		{
			name:    "a local repository: only what this node holds",
			repo:    local,
			hasRule: rules("docker.io"),
			setup:   func(e *env) { e.up.PutBlob(layer) },
			err:     errIs(pull.ErrNotFound),
		},
		{
			name:    "a rule this node does not have: only what it holds",
			repo:    repository.Name{Rule: "ghcr.io", Path: "org/app"},
			hasRule: rules("docker.io"),
			setup:   func(e *env) { e.up.PutBlob(layer) },
			err:     errIs(pull.ErrNotFound),
		},
		{
			name:    "a mirrored repository of a rule it has: fetched from upstream for the fleet",
			repo:    asked,
			hasRule: rules("docker.io"),
			setup:   func(e *env) { e.up.PutBlob(layer); e.peers.Hold(ld, "", layer) },
			calls:   map[string]int{"BlobFrom": 1},
			reads:   []pulltest.BlobRead{{Repo: "docker.io/library/alpine", Digest: ld, Offset: 0}},
			m:       counters{upstreamBytes: llen},
		},
		{
			name:    "denied: ErrDenied with the policy's reason, upstream not called",
			repo:    asked,
			hasRule: rules("docker.io"),
			setup:   func(e *env) { e.deny(); e.up.PutBlob(layer) },
			err: func(t *testing.T, err error) {
				if !errors.Is(err, pull.ErrDenied) || !errors.Is(err, errPolicy) {
					t.Errorf("err = %v, want ErrDenied wrapping the policy's error", err)
				}
			},
		},
		{
			name:    "upstream not holding it: upstream's answer",
			repo:    asked,
			hasRule: rules("docker.io"),
			err:     errIs(upstream.ErrNotFound),
			calls:   map[string]int{"BlobFrom": 1},
			reads:   []pulltest.BlobRead{{Repo: "docker.io/library/alpine", Digest: ld, Offset: 0}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv()
			if tc.setup != nil {
				tc.setup(e)
			}
			b, complete, err := e.puller(t).ForPeer(context.Background(), ld, tc.repo, tc.hasRule)
			if tc.err != nil {
				if err == nil {
					b.Close()
					t.Fatal("no error, want one")
				}
				tc.err(t, err)
			} else {
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(readBlob(t, b), layer) {
					t.Error("wrong content")
				}
				if complete != tc.complete {
					t.Errorf("complete = %v, want %v", complete, tc.complete)
				}
			}
			if tc.calls == nil {
				tc.calls = map[string]int{}
			}
			if !maps.Equal(e.up.Calls, tc.calls) {
				t.Errorf("upstream calls = %v, want %v", e.up.Calls, tc.calls)
			}
			if !slices.Equal(e.up.BlobReads, tc.reads) {
				t.Errorf("upstream blob reads = %+v, want %+v", e.up.BlobReads, tc.reads)
			}
			if len(e.peers.Fetched) != 0 {
				t.Errorf("a peer's request went to peers: %q", e.peers.Fetched)
			}
			e.checkMetrics(t, tc.m)
		})
	}
}

func TestTagForPeer(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		name    string
		repo    repository.Name
		tag     string
		hasRule pull.HasRule
		// acceptCached: the asker accepts a secondhand answer.
		acceptCached bool
		setup        func(e *env)
		want         digest.Digest // "": ErrNotFound
		cached       bool
	}{
		{
			name: "local, pushed here",
			repo: local, tag: "v1",
			hasRule: rules(),
			setup:   func(e *env) { e.store.Push(local.Key(), manifestType, m1, nil, "v1") },
			want:    d1,
		},
		{
			name: "local, pushed here, unknown tag",
			repo: local, tag: "v2",
			hasRule: rules(),
			setup:   func(e *env) { e.store.Push(local.Key(), manifestType, m1, nil, "v1") },
		},
		{
			name: "local, held elsewhere: what this node learnt from peers is not passed on",
			repo: local, tag: "v1",
			hasRule: rules(),
			setup:   func(e *env) { e.store.SetTagAt(local.Key(), "v1", d1, now) },
		},
		{
			name: "local, held elsewhere, asker accepts secondhand: answered as cached",
			repo: local, tag: "v1",
			hasRule: rules(), acceptCached: true,
			setup: func(e *env) {
				_ = e.store.PutManifest(local.Key(), &oci.Manifest{MediaType: manifestType, Bytes: m1, Digest: d1}, nil)
				e.store.SetTagAt(local.Key(), "v1", d1, now)
			},
			want: d1, cached: true,
		},
		{
			name: "local, held elsewhere, asker accepts secondhand, manifest not held",
			repo: local, tag: "v1",
			hasRule: rules(), acceptCached: true,
			setup: func(e *env) { e.store.SetTagAt(local.Key(), "v1", d1, now) },
		},
		{
			name: "local, pushed here, asker accepts secondhand: the owner's answer",
			repo: local, tag: "v1",
			hasRule: rules(), acceptCached: true,
			setup: func(e *env) { e.store.Push(local.Key(), manifestType, m1, nil, "v1") },
			want:  d1,
		},
		{
			name: "mirrored, a rule this node does not have, asker accepts secondhand",
			repo: mirrored, tag: "latest",
			hasRule: rules("ghcr.io"), acceptCached: true,
			setup: func(e *env) { e.store.SetTagAt(mirrored.Key(), "latest", d1, now) },
		},
		{
			name: "mirrored, a rule this node has",
			repo: repository.Mirror("ghcr.io", "org/app"), tag: "latest",
			hasRule: rules("ghcr.io"),
			setup:   func(e *env) { e.store.SetTagAt("ghcr.io/org/app", "latest", d1, now) },
			want:    d1,
		},
		{
			name: "mirrored docker.io one-component path gets library/",
			repo: repository.Name{Rule: "docker.io", Path: "alpine"}, tag: "latest",
			hasRule: rules("docker.io"),
			setup:   func(e *env) { e.store.SetTagAt(mirrored.Key(), "latest", d2, now) },
			want:    d2,
		},
		{
			name: "mirrored, a stale tag is still answered",
			repo: mirrored, tag: "latest",
			hasRule: rules("docker.io"),
			setup:   func(e *env) { e.store.SetTagAt(mirrored.Key(), "latest", d1, now.Add(-48*time.Hour)) },
			want:    d1,
		},
		{
			name: "mirrored, unknown tag",
			repo: mirrored, tag: "edge",
			hasRule: rules("docker.io"),
			setup:   func(e *env) { e.store.SetTagAt(mirrored.Key(), "latest", d1, now) },
		},
		{
			name: "mirrored, a rule this node does not have",
			repo: mirrored, tag: "latest",
			hasRule: rules("ghcr.io"),
			setup:   func(e *env) { e.store.SetTagAt(mirrored.Key(), "latest", d1, now) },
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv()
			tc.setup(e)
			d, cached, err := e.puller(t).TagForPeer(tc.repo, tc.tag, tc.hasRule, tc.acceptCached)
			if tc.want == "" {
				if !errors.Is(err, pull.ErrNotFound) {
					t.Errorf("TagForPeer = %s, %v; want ErrNotFound", d, err)
				}
			} else if err != nil || d != tc.want || cached != tc.cached {
				t.Errorf("TagForPeer = %s, cached %v, %v; want %s, cached %v", d, cached, err, tc.want, tc.cached)
			}
			if len(e.up.Calls)+len(e.peers.TagsAsked) != 0 {
				t.Errorf("a peer's tag request went out: upstream %v, peers %q", e.up.Calls, e.peers.TagsAsked)
			}
		})
	}
}

// holdIn makes repo hold layer, through a manifest stored in it.
func holdIn(e *env, repo string) {
	m := &oci.Manifest{Digest: digest.FromString("a manifest of " + repo), Bytes: []byte("{}")}
	_ = e.store.PutManifest(repo, m, &oci.ManifestInfo{Blobs: []ocispec.Descriptor{{Digest: ld}}})
}

// A node that brought a blob in for the fleet as its designated fetcher
// holds it under the repository upstream served it from: it answers the
// fleet's holder questions for it from the store, with no upstream call,
// though it pulled no manifest that lists it.
func TestForPeerHoldsWhatItBroughtIn(t *testing.T) {
	asked := repository.Mirror("docker.io", "alpine")
	e := newEnv()
	e.up.PutBlob(layer)
	p := e.puller(t)
	b, _, err := p.ForPeer(context.Background(), ld, asked, rules("docker.io"))
	if err != nil {
		t.Fatal(err)
	}
	readBlob(t, b)
	for _, tc := range []struct {
		name string
		repo repository.Name
		want bool
	}{
		{name: "the repository upstream served it from", repo: repository.Local(asked.Key()), want: true},
		{name: "another repository", repo: repository.Local("docker.io/library/busybox")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, complete, err := p.ForPeer(context.Background(), ld, tc.repo, rules())
			if !tc.want {
				if !errors.Is(err, pull.ErrNotFound) {
					t.Fatalf("err = %v, want ErrNotFound", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(readBlob(t, b), layer) || !complete {
				t.Errorf("complete %v, or wrong content", complete)
			}
		})
	}
	if want := map[string]int{"BlobFrom": 1}; !maps.Equal(e.up.Calls, want) {
		t.Errorf("upstream calls = %v, want %v", e.up.Calls, want)
	}
}
