package pull_test

import (
	"context"
	"maps"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/shoal-dev/shoal/oci/upstream"
	"github.com/shoal-dev/shoal/pull/pulltest"
	"github.com/shoal-dev/shoal/repository"
)

func TestTags(t *testing.T) {
	for _, tc := range []struct {
		name  string
		repo  repository.Name
		setup func(e *env)
		want  []string // nil: an error is wanted
		err   func(t *testing.T, err error)
		calls map[string]int
	}{
		{
			name: "local: from the store, sorted",
			repo: local,
			setup: func(e *env) {
				e.store.Push(local.Key(), manifestType, m1, nil, "v2", "v1")
				e.up.Put(local, manifestType, m1, "upstream")
			},
			want: []string{"v1", "v2"},
		},
		{
			name:  "local: none is NAME_UNKNOWN",
			repo:  local,
			setup: func(e *env) { e.up.Put(local, manifestType, m1, "upstream") },
			err:   notFoundAs("NAME_UNKNOWN"),
		},
		{
			name: "local held elsewhere: the tags this node resolved, not the peers' or upstream's",
			repo: local,
			setup: func(e *env) {
				e.store.SetTagAt(local.Key(), "v1", d1, time.Now())
				e.peers.HoldTag(local, "v2", d2)
				e.up.Put(local, manifestType, m1, "upstream")
			},
			want: []string{"v1"},
		},
		{
			name: "mirrored: from upstream",
			repo: mirrored,
			setup: func(e *env) {
				e.up.Put(mirrored, manifestType, m1, "b", "a")
				e.store.SetTagAt(mirrored.Key(), "known", d1, time.Now())
			},
			want:  []string{"a", "b"},
			calls: map[string]int{"Tags": 1},
		},
		{
			name: "mirrored: upstream down gives the tags this node knows",
			repo: mirrored,
			setup: func(e *env) {
				e.up.Put(mirrored, manifestType, m1, "b", "a")
				e.up.Err = pulltest.Down
				e.store.SetTagAt(mirrored.Key(), "known", d1, time.Now())
			},
			want:  []string{"known"},
			calls: map[string]int{"Tags": 1},
		},
		{
			name:  "mirrored: upstream down and none known is UNAVAILABLE",
			repo:  mirrored,
			setup: func(e *env) { e.up.Err = pulltest.Down },
			err:   statusIs(503, "UNAVAILABLE"),
			calls: map[string]int{"Tags": 1},
		},
		{
			name:  "mirrored: upstream not found is NAME_UNKNOWN, even with tags known",
			repo:  mirrored,
			setup: func(e *env) { e.store.SetTagAt(mirrored.Key(), "known", d1, time.Now()) },
			err:   notFoundAs("NAME_UNKNOWN"),
			calls: map[string]int{"Tags": 1},
		},
		{
			name:  "mirrored: upstream refusing access is DENIED",
			repo:  mirrored,
			setup: func(e *env) { e.up.Err = &upstream.StatusError{Status: 401} },
			err:   statusIs(403, "DENIED"),
			calls: map[string]int{"Tags": 1},
		},
		{
			name: "mirrored: a denied upstream is not called and its error reaches the caller",
			repo: mirrored,
			setup: func(e *env) {
				e.deny()
				e.up.Put(mirrored, manifestType, m1, "a")
				e.store.SetTagAt(mirrored.Key(), "known", d1, time.Now())
			},
			err: errIs(errPolicy),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv()
			if tc.setup != nil {
				tc.setup(e)
			}
			tags, err := e.puller(t).Tags(context.Background(), tc.repo)
			if tc.want == nil {
				if err == nil {
					t.Fatalf("Tags = %q, want an error", tags)
				}
				tc.err(t, err)
			} else if err != nil || !slices.Equal(tags, tc.want) {
				t.Errorf("Tags = %q, %v; want %q", tags, err, tc.want)
			}
			if tc.calls == nil {
				tc.calls = map[string]int{}
			}
			if !maps.Equal(e.up.Calls, tc.calls) {
				t.Errorf("upstream calls = %v, want %v", e.up.Calls, tc.calls)
			}
		})
	}
}

func TestReferrers(t *testing.T) {
	sig := func(n int) ocispec.Descriptor {
		b := manifest(100 + n)
		return ocispec.Descriptor{MediaType: manifestType, Digest: digest.FromBytes(b), Size: int64(len(b)), ArtifactType: "application/vnd.dev.sigstore.bundle"}
	}
	fromUpstream := []ocispec.Descriptor{sig(1), sig(2)}
	known := []ocispec.Descriptor{sig(3)}
	for _, tc := range []struct {
		name   string
		repo   repository.Name
		setup  func(e *env)
		want   []ocispec.Descriptor
		calls  map[string]int
		cached []ocispec.Descriptor // the store's referrers afterwards
	}{
		{
			name: "local: from the store",
			repo: local,
			setup: func(e *env) {
				e.store.PutReferrers(local.Key(), d1, known)
				e.up.PutReferrers(local, d1, fromUpstream)
			},
			want:   known,
			cached: known,
		},
		{
			name: "mirrored: passed through and cached",
			repo: mirrored,
			setup: func(e *env) {
				e.store.PutReferrers(mirrored.Key(), d1, known)
				e.up.PutReferrers(mirrored, d1, fromUpstream)
			},
			want:   fromUpstream,
			calls:  map[string]int{"Referrers": 1},
			cached: fromUpstream,
		},
		{
			name: "mirrored: upstream down gives the store's",
			repo: mirrored,
			setup: func(e *env) {
				e.store.PutReferrers(mirrored.Key(), d1, known)
				e.up.PutReferrers(mirrored, d1, fromUpstream)
				e.up.Err = pulltest.Down
			},
			want:   known,
			calls:  map[string]int{"Referrers": 1},
			cached: known,
		},
		{
			name:   "mirrored: upstream without the API gives the store's",
			repo:   mirrored,
			setup:  func(e *env) { e.store.PutReferrers(mirrored.Key(), d1, known) },
			want:   known,
			calls:  map[string]int{"Referrers": 1},
			cached: known,
		},
		{
			name: "mirrored: an upstream error gives the store's",
			repo: mirrored,
			setup: func(e *env) {
				e.store.PutReferrers(mirrored.Key(), d1, known)
				e.up.Err = &upstream.StatusError{Status: 500}
			},
			want:   known,
			calls:  map[string]int{"Referrers": 1},
			cached: known,
		},
		{
			name: "mirrored: a denied upstream is not called and the store's are given",
			repo: mirrored,
			setup: func(e *env) {
				e.deny()
				e.store.PutReferrers(mirrored.Key(), d1, known)
				e.up.PutReferrers(mirrored, d1, fromUpstream)
			},
			want:   known,
			cached: known,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv()
			tc.setup(e)
			got, err := e.puller(t).Referrers(context.Background(), tc.repo, d1)
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Referrers = %v, %v; want %v", got, err, tc.want)
			}
			if tc.calls == nil {
				tc.calls = map[string]int{}
			}
			if !maps.Equal(e.up.Calls, tc.calls) {
				t.Errorf("upstream calls = %v, want %v", e.up.Calls, tc.calls)
			}
			if c, _ := e.store.Referrers(tc.repo.Key(), d1); !reflect.DeepEqual(c, tc.cached) {
				t.Errorf("store's referrers = %v, want %v", c, tc.cached)
			}
		})
	}
}
