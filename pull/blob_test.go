package pull_test

import (
	"bytes"
	"context"
	"maps"
	"slices"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/shoal-dev/shoal/oci"
	"github.com/shoal-dev/shoal/oci/upstream"
	"github.com/shoal-dev/shoal/pull"
	"github.com/shoal-dev/shoal/pull/pulltest"
	"github.com/shoal-dev/shoal/repository"
)

var (
	layer  = bytes.Repeat([]byte("layer bytes "), 500)
	ld     = digest.FromBytes(layer)
	llen   = len(layer)
	absent = digest.FromString("held nowhere")
)

// failAt is where peers fail part way through layer.
const failAt = 1000

// blobCase is one Blob or StatBlob call of blob d (ld when empty).
type blobCase struct {
	name    string
	repo    repository.Name
	d       digest.Digest
	setup   func(e *env)
	want    []byte // Blob's content, or for StatBlob its length; nil: an error is wanted
	err     func(t *testing.T, err error)
	fetches int                 // store fetches filled from a source
	calls   map[string]int      // upstream calls by method
	reads   []pulltest.BlobRead // upstream BlobFrom calls
	m       counters
	after   func(t *testing.T, e *env, p *pull.Puller)
}

func (tc blobCase) check(t *testing.T, e *env, p *pull.Puller, err error) {
	t.Helper()
	if tc.want == nil {
		if err == nil {
			t.Fatal("no error, want one")
		}
		if tc.err != nil {
			tc.err(t, err)
		}
	} else if err != nil {
		t.Fatal(err)
	}
	if e.store.Fetches != tc.fetches {
		t.Errorf("store fetches = %d, want %d", e.store.Fetches, tc.fetches)
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
	e.checkMetrics(t, tc.m)
	if tc.after != nil {
		tc.after(t, e, p)
	}
}

func (tc blobCase) digest() digest.Digest {
	if tc.d == "" {
		return ld
	}
	return tc.d
}

// held makes tc's repository hold the blob the way a client's pull does:
// through a manifest fetched into it that references the blob (reads of
// blobs a repository does not hold are scope_test.go's).
func (tc blobCase) held(e *env) {
	m := &oci.Manifest{Digest: digest.FromString("a manifest of " + tc.repo.Key()), Bytes: []byte("{}")}
	_ = e.store.PutManifest(tc.repo.Key(), m, &oci.ManifestInfo{Blobs: []ocispec.Descriptor{{Digest: tc.digest()}}})
}

func (tc blobCase) runBlob(t *testing.T) {
	e := newEnv()
	if tc.setup != nil {
		tc.setup(e)
	}
	tc.held(e)
	p := e.puller(t)
	b, err := p.Blob(context.Background(), tc.repo, tc.digest())
	if err == nil {
		if got := readBlob(t, b); tc.want != nil && !bytes.Equal(got, tc.want) {
			t.Errorf("Blob read %d bytes (%s), want %d (%s)", len(got), digest.FromBytes(got), len(tc.want), digest.FromBytes(tc.want))
		}
	}
	tc.check(t, e, p, err)
}

func (tc blobCase) runStat(t *testing.T) {
	e := newEnv()
	if tc.setup != nil {
		tc.setup(e)
	}
	tc.held(e)
	p := e.puller(t)
	size, err := p.StatBlob(context.Background(), tc.repo, tc.digest())
	if err == nil && tc.want != nil && size != int64(len(tc.want)) {
		t.Errorf("StatBlob = %d, want %d", size, len(tc.want))
	}
	tc.check(t, e, p, err)
}

func stored(d digest.Digest, want bool) func(t *testing.T, e *env, _ *pull.Puller) {
	return func(t *testing.T, e *env, _ *pull.Puller) {
		t.Helper()
		if e.store.HasBlob(d) != want {
			t.Errorf("blob %s stored: %v, want %v", d, !want, want)
		}
	}
}

func TestBlob(t *testing.T) {
	for _, tc := range []blobCase{
		{
			name: "from the store",
			repo: mirrored,
			setup: func(e *env) {
				e.store.AddBlob(layer)
				e.peers.Hold(ld, "", layer)
				e.up.PutBlob(layer)
			},
			want: layer,
			after: func(t *testing.T, e *env, _ *pull.Puller) {
				if len(e.peers.Fetched) != 0 {
					t.Errorf("peers asked for %q", e.peers.Fetched)
				}
			},
		},
		{
			name: "from peers, fetched once",
			repo: mirrored,
			setup: func(e *env) {
				e.peers.Hold(ld, "", layer)
				e.up.PutBlob(layer)
			},
			want:    layer,
			fetches: 1,
			m:       counters{peerBytes: llen},
			after: func(t *testing.T, e *env, p *pull.Puller) {
				stored(ld, true)(t, e, p)
				b, err := p.Blob(context.Background(), mirrored, ld)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(readBlob(t, b), layer) {
					t.Error("second read differs")
				}
				if e.store.Fetches != 1 || len(e.peers.Fetched) != 1 {
					t.Errorf("after a second read: %d store fetches, peers asked %q", e.store.Fetches, e.peers.Fetched)
				}
				// Peers are told the repository: a designated fetcher may
				// bring it from upstream for the fleet.
				if want := ld.String() + " " + mirrored.Key(); e.peers.Fetched[0] != want {
					t.Errorf("peers asked %q, want %q", e.peers.Fetched[0], want)
				}
			},
		},
		{
			name:    "from upstream when no peer has it",
			repo:    mirrored,
			setup:   func(e *env) { e.up.PutBlob(layer) },
			want:    layer,
			fetches: 1,
			calls:   map[string]int{"BlobFrom": 1},
			reads:   []pulltest.BlobRead{{Repo: mirrored.Key(), Digest: ld, Offset: 0}},
			m:       counters{upstreamBytes: llen},
			after:   stored(ld, true),
		},
		{
			name:    "from upstream when the node runs alone",
			repo:    mirrored,
			setup:   func(e *env) { e.alone(); e.up.PutBlob(layer) },
			want:    layer,
			fetches: 1,
			calls:   map[string]int{"BlobFrom": 1},
			reads:   []pulltest.BlobRead{{Repo: mirrored.Key(), Digest: ld, Offset: 0}},
			m:       counters{upstreamBytes: llen},
			after:   stored(ld, true),
		},
		{
			name: "peers failing part way: resumed from upstream at the offset",
			repo: mirrored,
			setup: func(e *env) {
				e.peers.Hold(ld, "", layer)
				e.peers.FailAfter = failAt
				e.up.PutBlob(layer)
			},
			want:    layer,
			fetches: 1,
			calls:   map[string]int{"BlobFrom": 1},
			reads:   []pulltest.BlobRead{{Repo: mirrored.Key(), Digest: ld, Offset: failAt}},
			m:       counters{peerBytes: failAt, upstreamBytes: llen - failAt},
			after: func(t *testing.T, e *env, p *pull.Puller) {
				stored(ld, true)(t, e, p)
				if len(e.peers.Blamed) != 0 {
					t.Errorf("Blamed = %q: peers that went away sent nothing wrong", e.peers.Blamed)
				}
			},
		},
		{
			name: "peers failing part way and upstream down: UNAVAILABLE",
			repo: mirrored,
			setup: func(e *env) {
				e.peers.Hold(ld, "", layer)
				e.peers.FailAfter = failAt
				e.up.Err = pulltest.Down
			},
			err:     statusIs(503, "UNAVAILABLE"),
			fetches: 1,
			calls:   map[string]int{"BlobFrom": 1},
			m:       counters{peerBytes: failAt},
			after:   stored(ld, false),
		},
		{
			name: "peers failing part way and upstream denied: the denial",
			repo: mirrored,
			setup: func(e *env) {
				e.peers.Hold(ld, "", layer)
				e.peers.FailAfter = failAt
				e.up.PutBlob(layer)
				e.deny()
			},
			err:     errIs(errPolicy),
			fetches: 1,
			m:       counters{peerBytes: failAt},
			after:   stored(ld, false),
		},
		{
			name: "wrong bytes from peers are blamed and fail as DIGEST_INVALID",
			repo: mirrored,
			setup: func(e *env) {
				e.peers.Hold(ld, "", bytes.ToUpper(layer))
				e.up.PutBlob(layer)
			},
			err:     statusIs(502, "DIGEST_INVALID"),
			fetches: 1,
			m:       counters{peerBytes: llen},
			after: func(t *testing.T, e *env, p *pull.Puller) {
				stored(ld, false)(t, e, p)
				if len(e.peers.Blamed) != 1 {
					t.Errorf("Blamed = %q, want one blame", e.peers.Blamed)
				}
			},
		},
		{
			name:    "held nowhere: BLOB_UNKNOWN",
			repo:    mirrored,
			d:       absent,
			err:     notFoundAs("BLOB_UNKNOWN"),
			fetches: 1,
			calls:   map[string]int{"BlobFrom": 1},
			reads:   []pulltest.BlobRead{{Repo: mirrored.Key(), Digest: absent, Offset: 0}},
		},
		{
			name:    "upstream down and no peer: UNAVAILABLE",
			repo:    mirrored,
			setup:   func(e *env) { e.up.Err = pulltest.Down },
			err:     statusIs(503, "UNAVAILABLE"),
			fetches: 1,
			calls:   map[string]int{"BlobFrom": 1},
		},
		{
			name: "upstream refusing access: DENIED",
			repo: mirrored,
			setup: func(e *env) {
				e.up.Err = &upstream.StatusError{Status: 401, Code: "UNAUTHORIZED"}
			},
			err:     statusIs(403, "DENIED"),
			fetches: 1,
			calls:   map[string]int{"BlobFrom": 1},
		},
		{
			name:    "a denied upstream is not called and its error reaches the caller",
			repo:    mirrored,
			setup:   func(e *env) { e.deny(); e.up.PutBlob(layer) },
			err:     errIs(errPolicy),
			fetches: 1,
		},
		{
			name:    "a denied upstream leaves peers",
			repo:    mirrored,
			setup:   func(e *env) { e.deny(); e.peers.Hold(ld, "", layer) },
			want:    layer,
			fetches: 1,
			m:       counters{peerBytes: llen},
		},
		{
			name: "local, never pushed, with peers: from peers",
			repo: local,
			setup: func(e *env) {
				e.peers.Hold(ld, "", layer)
				e.up.PutBlob(layer)
			},
			want:    layer,
			fetches: 1,
			m:       counters{peerBytes: llen},
			after: func(t *testing.T, e *env, _ *pull.Puller) {
				if want := []string{ld.String() + " " + local.Key() + " (holders only)"}; !slices.Equal(e.peers.Fetched, want) {
					t.Errorf("peers asked %q, want %q", e.peers.Fetched, want)
				}
			},
		},
		{
			name:    "local, never pushed, with peers: held by none is BLOB_UNKNOWN, never upstream",
			repo:    local,
			setup:   func(e *env) { e.up.PutBlob(layer) },
			err:     notFoundAs("BLOB_UNKNOWN"),
			fetches: 1,
		},
		{
			name: "local, never pushed, with peers: peers failing part way do not resume from upstream",
			repo: local,
			setup: func(e *env) {
				e.peers.Hold(ld, "", layer)
				e.peers.FailAfter = failAt
				e.up.PutBlob(layer)
			},
			err:     func(t *testing.T, err error) {},
			fetches: 1,
			m:       counters{peerBytes: failAt},
			after:   stored(ld, false),
		},
		{
			name:  "local, never pushed, alone: BLOB_UNKNOWN",
			repo:  local,
			setup: func(e *env) { e.alone(); e.store.AddBlob(layer) },
			err:   notFoundAs("BLOB_UNKNOWN"),
		},
		{
			name: "local, pushed: a linked blob from the store",
			repo: local,
			setup: func(e *env) {
				e.store.AddBlob(layer)
				e.store.Push(local.Key(), manifestType, m1, []digest.Digest{ld})
			},
			want: layer,
		},
		{
			name: "local, pushed: a stored blob not linked into it is BLOB_UNKNOWN",
			repo: local,
			setup: func(e *env) {
				e.store.AddBlob(layer)
				e.store.Push(local.Key(), manifestType, m1, nil)
				e.peers.Hold(ld, "", layer)
				e.up.PutBlob(layer)
			},
			err: notFoundAs("BLOB_UNKNOWN"),
			after: func(t *testing.T, e *env, _ *pull.Puller) {
				if len(e.peers.Fetched) != 0 {
					t.Errorf("peers asked for %q", e.peers.Fetched)
				}
			},
		},
		{
			name: "local, pushed: a linked blob the store lacks is BLOB_UNKNOWN",
			repo: local,
			setup: func(e *env) {
				e.store.Push(local.Key(), manifestType, m1, []digest.Digest{ld})
				e.peers.Hold(ld, "", layer)
			},
			err: notFoundAs("BLOB_UNKNOWN"),
		},
	} {
		t.Run(tc.name, tc.runBlob)
	}
}

func TestStatBlob(t *testing.T) {
	for _, tc := range []blobCase{
		{
			name: "from the store",
			repo: mirrored,
			setup: func(e *env) {
				e.store.AddBlob(layer)
				e.up.PutBlob(layer)
			},
			want: layer,
		},
		{
			name:  "from upstream",
			repo:  mirrored,
			setup: func(e *env) { e.up.PutBlob(layer); e.peers.Hold(ld, "", layer) },
			want:  layer,
			calls: map[string]int{"StatBlob": 1},
			after: func(t *testing.T, e *env, _ *pull.Puller) {
				if len(e.peers.Fetched) != 0 {
					t.Errorf("peers asked for %q", e.peers.Fetched)
				}
			},
		},
		{
			name: "from a peer when upstream is down",
			repo: mirrored,
			setup: func(e *env) {
				e.up.Err = pulltest.Down
				e.peers.Hold(ld, "", layer)
			},
			want:  layer,
			calls: map[string]int{"StatBlob": 1},
			after: func(t *testing.T, e *env, _ *pull.Puller) {
				if want := []string{ld.String() + " " + mirrored.Key() + " (holders only)"}; !slices.Equal(e.peers.Fetched, want) {
					t.Errorf("peers asked %q, want %q (holders only)", e.peers.Fetched, want)
				}
			},
		},
		{
			name:  "upstream down and no peer: BLOB_UNKNOWN",
			repo:  mirrored,
			setup: func(e *env) { e.up.Err = pulltest.Down },
			err:   notFoundAs("BLOB_UNKNOWN"),
			calls: map[string]int{"StatBlob": 1},
		},
		{
			name:  "upstream not found: BLOB_UNKNOWN, peers not asked",
			repo:  mirrored,
			setup: func(e *env) { e.peers.Hold(ld, "", layer) },
			err:   notFoundAs("BLOB_UNKNOWN"),
			calls: map[string]int{"StatBlob": 1},
			after: func(t *testing.T, e *env, _ *pull.Puller) {
				if len(e.peers.Fetched) != 0 {
					t.Errorf("peers asked for %q", e.peers.Fetched)
				}
			},
		},
		{
			name:  "upstream refusing access: DENIED",
			repo:  mirrored,
			setup: func(e *env) { e.up.Err = &upstream.StatusError{Status: 403} },
			err:   statusIs(403, "DENIED"),
			calls: map[string]int{"StatBlob": 1},
		},
		{
			name:  "a denied upstream falls through to peers",
			repo:  mirrored,
			setup: func(e *env) { e.deny(); e.up.PutBlob(layer); e.peers.Hold(ld, "", layer) },
			want:  layer,
		},
		{
			name:  "a denied upstream and no peer: BLOB_UNKNOWN",
			repo:  mirrored,
			setup: func(e *env) { e.deny(); e.up.PutBlob(layer) },
			err:   notFoundAs("BLOB_UNKNOWN"),
		},
		{
			name:  "local, never pushed, with peers: from a peer, never upstream",
			repo:  local,
			setup: func(e *env) { e.up.PutBlob(layer); e.peers.Hold(ld, "", layer) },
			want:  layer,
		},
		{
			name:  "local, never pushed, with peers: held by none is BLOB_UNKNOWN",
			repo:  local,
			setup: func(e *env) { e.up.PutBlob(layer) },
			err:   notFoundAs("BLOB_UNKNOWN"),
		},
		{
			name: "local, pushed: a linked blob",
			repo: local,
			setup: func(e *env) {
				e.store.AddBlob(layer)
				e.store.Push(local.Key(), manifestType, m1, []digest.Digest{ld})
			},
			want: layer,
		},
		{
			name: "local, pushed: a stored blob not linked into it is BLOB_UNKNOWN",
			repo: local,
			setup: func(e *env) {
				e.store.AddBlob(layer)
				e.store.Push(local.Key(), manifestType, m1, nil)
				e.peers.Hold(ld, "", layer)
			},
			err: notFoundAs("BLOB_UNKNOWN"),
			after: func(t *testing.T, e *env, _ *pull.Puller) {
				if len(e.peers.Fetched) != 0 {
					t.Errorf("peers asked for %q", e.peers.Fetched)
				}
			},
		},
		{
			name: "local, pushed: a linked blob the store lacks is BLOB_UNKNOWN",
			repo: local,
			setup: func(e *env) {
				e.store.Push(local.Key(), manifestType, m1, []digest.Digest{ld})
			},
			err: notFoundAs("BLOB_UNKNOWN"),
		},
	} {
		t.Run(tc.name, tc.runStat)
	}
}
