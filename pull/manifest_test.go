package pull_test

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/shoal-dev/shoal/oci"
	"github.com/shoal-dev/shoal/oci/ocitest"
	"github.com/shoal-dev/shoal/oci/upstream"
	"github.com/shoal-dev/shoal/pull"
	"github.com/shoal-dev/shoal/pull/pulltest"
	"github.com/shoal-dev/shoal/repository"
)

var (
	m1, m2 = manifest(1), manifest(2)
	d1, d2 = digest.FromBytes(m1), digest.FromBytes(m2)
	mlen   = len(m1) // every manifest(n) is this long
)

// manifestCase is one Manifest call: setup prepares e, then
// Manifest(repo, ref) must answer want (or fail as err checks), with
// exactly these upstream calls, metrics and ManifestStored calls.
type manifestCase struct {
	name  string
	repo  repository.Name
	ref   string
	setup func(e *env)
	want  []byte                                     // nil: an error is wanted
	err   func(t *testing.T, err error)              // checks the error when want is nil
	warn  string                                     // a substring of m.Warning; "" wants none
	calls map[string]int                             // upstream calls by method
	m     counters                                   // metrics afterwards
	saved []string                                   // ManifestStored calls
	after func(t *testing.T, e *env, p *pull.Puller) // further checks
}

func (tc manifestCase) run(t *testing.T) {
	e := newEnv()
	if tc.setup != nil {
		tc.setup(e)
	}
	p := e.puller(t)
	m, err := p.Manifest(context.Background(), tc.repo, tc.ref)
	if tc.want == nil {
		if err == nil {
			t.Fatalf("Manifest = %s, want an error", m.Digest)
		}
		if tc.err != nil {
			tc.err(t, err)
		}
	} else {
		if err != nil {
			t.Fatalf("Manifest: %v", err)
		}
		if !bytes.Equal(m.Bytes, tc.want) || m.Digest != digest.FromBytes(tc.want) || m.MediaType != manifestType {
			t.Errorf("Manifest = %s %s %q, want %s", m.Digest, m.MediaType, m.Bytes, digest.FromBytes(tc.want))
		}
		switch {
		case tc.warn == "" && m.Warning != "":
			t.Errorf("Warning = %q, want none", m.Warning)
		case tc.warn != "" && !strings.Contains(m.Warning, tc.warn):
			t.Errorf("Warning = %q, want it to say %q", m.Warning, tc.warn)
		}
	}
	if tc.calls == nil {
		tc.calls = map[string]int{}
	}
	if !maps.Equal(e.up.Calls, tc.calls) {
		t.Errorf("upstream calls = %v, want %v", e.up.Calls, tc.calls)
	}
	if got := e.storedCalls(); !slices.Equal(got, tc.saved) {
		t.Errorf("ManifestStored calls = %q, want %q", got, tc.saved)
	}
	e.checkMetrics(t, tc.m)
	if tc.after != nil {
		tc.after(t, e, p)
	}
}

func saved(repo repository.Name, d digest.Digest) []string {
	return []string{repo.Key() + " " + d.String()}
}

// putManifest stores body in repo as fetched content.
func putManifest(t *testing.T, e *env, repo repository.Name, body []byte) {
	t.Helper()
	m := &oci.Manifest{Digest: digest.FromBytes(body), MediaType: manifestType, Bytes: body}
	info, err := oci.ParseManifest(manifestType, body)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.PutManifest(repo.Key(), m, info); err != nil {
		t.Fatal(err)
	}
}

func notFoundAs(code string) func(t *testing.T, err error) {
	return func(t *testing.T, err error) { t.Helper(); wantNotFound(t, err, code) }
}

func statusIs(status int, code string) func(t *testing.T, err error) {
	return func(t *testing.T, err error) {
		t.Helper()
		if errors.Is(err, pull.ErrNotFound) {
			t.Errorf("err = %v matches ErrNotFound", err)
		}
		ocitest.WantError(t, err, status, code)
	}
}

func errIs(target error) func(t *testing.T, err error) {
	return func(t *testing.T, err error) {
		t.Helper()
		if !errors.Is(err, target) {
			t.Errorf("err = %v, want %v", err, target)
		}
	}
}

func TestManifestByDigest(t *testing.T) {
	for _, tc := range []manifestCase{
		{
			name: "from the store",
			repo: mirrored, ref: d1.String(),
			setup: func(e *env) {
				putManifest(t, e, mirrored, m1)
				e.peers.Hold(d1, manifestType, m1)
				e.up.Put(mirrored, manifestType, m1)
			},
			want: m1,
			after: func(t *testing.T, e *env, _ *pull.Puller) {
				if len(e.peers.Fetched) != 0 {
					t.Errorf("peers asked for %q", e.peers.Fetched)
				}
			},
		},
		{
			name: "from a peer when the store lacks it",
			repo: mirrored, ref: d1.String(),
			setup: func(e *env) {
				e.peers.Hold(d1, manifestType, m1)
				e.up.Put(mirrored, manifestType, m1)
			},
			want:  m1,
			m:     counters{peerBytes: mlen},
			saved: saved(mirrored, d1),
			after: func(t *testing.T, e *env, p *pull.Puller) {
				if !e.store.HasManifest(mirrored.Key(), d1) {
					t.Error("the manifest was not stored")
				}
				// Asked again, it comes from the store: no second fetch,
				// no second ManifestStored.
				if _, err := p.Manifest(context.Background(), mirrored, d1.String()); err != nil {
					t.Fatal(err)
				}
				if len(e.peers.Fetched) != 1 || len(e.storedCalls()) != 1 {
					t.Errorf("after a second read: peer fetches %q, ManifestStored calls %q", e.peers.Fetched, e.storedCalls())
				}
				if want := d1.String() + " " + mirrored.Key() + " (holders only)"; e.peers.Fetched[0] != want {
					t.Errorf("peers asked %q, want %q (holders of the repository only)", e.peers.Fetched[0], want)
				}
			},
		},
		{
			name: "from upstream when no peer has it",
			repo: mirrored, ref: d1.String(),
			setup: func(e *env) { e.up.Put(mirrored, manifestType, m1) },
			want:  m1,
			calls: map[string]int{"Manifest": 1},
			m:     counters{upstreamBytes: mlen},
			saved: saved(mirrored, d1),
			after: func(t *testing.T, e *env, _ *pull.Puller) {
				if !e.store.HasManifest(mirrored.Key(), d1) {
					t.Error("the manifest was not stored")
				}
			},
		},
		{
			name: "from upstream when the node runs alone",
			repo: mirrored, ref: d1.String(),
			setup: func(e *env) {
				e.alone()
				e.up.Put(mirrored, manifestType, m1)
			},
			want:  m1,
			calls: map[string]int{"Manifest": 1},
			m:     counters{upstreamBytes: mlen},
			saved: saved(mirrored, d1),
		},
		{
			name: "a peer manifest not matching its digest is blamed and upstream used",
			repo: mirrored, ref: d1.String(),
			setup: func(e *env) {
				e.peers.Hold(d1, manifestType, m2)
				e.up.Put(mirrored, manifestType, m1)
			},
			want:  m1,
			calls: map[string]int{"Manifest": 1},
			m:     counters{upstreamBytes: mlen},
			saved: saved(mirrored, d1),
			after: func(t *testing.T, e *env, _ *pull.Puller) {
				if len(e.peers.Blamed) != 1 || !strings.Contains(e.peers.Blamed[0], d1.String()) {
					t.Errorf("Blamed = %q, want one blame naming %s", e.peers.Blamed, d1)
				}
			},
		},
		{
			name: "a peer manifest bigger than MaxManifestBytes is refused",
			repo: mirrored, ref: d1.String(),
			setup: func(e *env) {
				e.cfg.MaxManifestBytes = int64(mlen - 1)
				e.peers.Hold(d1, manifestType, m1)
				e.up.Put(mirrored, manifestType, m1)
			},
			want:  m1,
			calls: map[string]int{"Manifest": 1},
			m:     counters{upstreamBytes: mlen},
			saved: saved(mirrored, d1),
			after: func(t *testing.T, e *env, _ *pull.Puller) {
				if len(e.peers.Blamed) != 0 {
					t.Errorf("Blamed = %q: a big manifest is refused, not blamed", e.peers.Blamed)
				}
			},
		},
		{
			name: "a peer manifest of exactly MaxManifestBytes is taken",
			repo: mirrored, ref: d1.String(),
			setup: func(e *env) {
				e.cfg.MaxManifestBytes = int64(mlen)
				e.peers.Hold(d1, manifestType, m1)
			},
			want:  m1,
			m:     counters{peerBytes: mlen},
			saved: saved(mirrored, d1),
		},
		{
			name: "upstream answering a different digest is an error",
			repo: mirrored, ref: d1.String(),
			setup: func(e *env) { e.up.PutAs(mirrored, d1, manifestType, m2) },
			err: func(t *testing.T, err error) {
				if errors.Is(err, pull.ErrNotFound) || !strings.Contains(err.Error(), d2.String()) {
					t.Errorf("err = %v, want a mismatch naming %s", err, d2)
				}
			},
			calls: map[string]int{"Manifest": 1},
			after: func(t *testing.T, e *env, _ *pull.Puller) {
				if e.store.HasManifest(mirrored.Key(), d1) || e.store.HasManifest(mirrored.Key(), d2) {
					t.Error("a mismatched manifest was stored")
				}
			},
		},
		{
			name: "upstream sending an invalid manifest is MANIFEST_INVALID",
			repo: mirrored, ref: digest.FromString("not json").String(),
			setup: func(e *env) { e.up.Put(mirrored, manifestType, []byte("not json")) },
			err:   statusIs(400, "MANIFEST_INVALID"),
			calls: map[string]int{"Manifest": 1},
			m:     counters{upstreamBytes: len("not json")},
		},
		{
			name: "held nowhere: MANIFEST_UNKNOWN",
			repo: mirrored, ref: d1.String(),
			err:   notFoundAs("MANIFEST_UNKNOWN"),
			calls: map[string]int{"Manifest": 1},
		},
		{
			name: "upstream down and no peer: UNAVAILABLE",
			repo: mirrored, ref: d1.String(),
			setup: func(e *env) { e.up.Err = pulltest.Down },
			err:   statusIs(503, "UNAVAILABLE"),
			calls: map[string]int{"Manifest": 1},
		},
		{
			name: "a denied upstream is not called and its error reaches the caller",
			repo: mirrored, ref: d1.String(),
			setup: func(e *env) {
				e.deny()
				e.up.Put(mirrored, manifestType, m1)
			},
			err: errIs(errPolicy),
		},
		{
			name: "a denied upstream leaves peers",
			repo: mirrored, ref: d1.String(),
			setup: func(e *env) {
				e.deny()
				e.peers.Hold(d1, manifestType, m1)
			},
			want:  m1,
			m:     counters{peerBytes: mlen},
			saved: saved(mirrored, d1),
		},
	} {
		t.Run(tc.name, tc.run)
	}
}

func TestManifestLocal(t *testing.T) {
	// push makes local a repository pushed here, holding m1 as "v1".
	push := func(e *env) { e.store.Push(local.Key(), manifestType, m1, nil, "v1") }
	// elsewhere makes the fleet and an upstream (that must never be asked
	// for a local repository) hold m2 and m1 as "v1".
	elsewhere := func(e *env) {
		e.peers.Hold(d2, manifestType, m2)
		e.peers.HoldTag(local, "v1", d1)
		e.peers.Hold(d1, manifestType, m1)
		e.up.Put(local, manifestType, m2)
		e.up.Put(local, manifestType, m1, "v1")
	}
	noPeers := func(t *testing.T, e *env, _ *pull.Puller) {
		if len(e.peers.Fetched)+len(e.peers.TagsAsked) != 0 {
			t.Errorf("peers asked: %q %q", e.peers.Fetched, e.peers.TagsAsked)
		}
	}
	for _, tc := range []manifestCase{
		{
			name: "pushed here: by digest from the store",
			repo: local, ref: d1.String(),
			setup: func(e *env) { push(e); elsewhere(e) },
			want:  m1,
			after: noPeers,
		},
		{
			name: "pushed here: by tag from the store",
			repo: local, ref: "v1",
			setup: func(e *env) { push(e); elsewhere(e) },
			want:  m1,
			after: noPeers,
		},
		{
			name: "pushed here: a digest it lacks is MANIFEST_UNKNOWN, peers and upstream not asked",
			repo: local, ref: d2.String(),
			setup: func(e *env) { push(e); elsewhere(e) },
			err:   notFoundAs("MANIFEST_UNKNOWN"),
			after: noPeers,
		},
		{
			name: "pushed here: a tag it lacks is MANIFEST_UNKNOWN, peers and upstream not asked",
			repo: local, ref: "v2",
			setup: func(e *env) { push(e); elsewhere(e); e.peers.HoldTag(local, "v2", d2) },
			err:   notFoundAs("MANIFEST_UNKNOWN"),
			after: noPeers,
		},
		{
			name: "never pushed, node alone: MANIFEST_UNKNOWN",
			repo: local, ref: d1.String(),
			setup: func(e *env) { elsewhere(e); e.alone() },
			err:   notFoundAs("MANIFEST_UNKNOWN"),
		},
		{
			name: "never pushed, node alone, by tag: MANIFEST_UNKNOWN",
			repo: local, ref: "v1",
			setup: func(e *env) { elsewhere(e); e.alone() },
			err:   notFoundAs("MANIFEST_UNKNOWN"),
		},
		{
			name: "never pushed, with peers: by digest from a peer, never upstream",
			repo: local, ref: d2.String(),
			setup: elsewhere,
			want:  m2,
			m:     counters{peerBytes: mlen},
			saved: saved(local, d2),
		},
		{
			name: "never pushed, with peers: held by none is MANIFEST_UNKNOWN, never upstream",
			repo: local, ref: digest.FromString("nothing").String(),
			setup: elsewhere,
			err:   notFoundAs("MANIFEST_UNKNOWN"),
		},
		{
			name: "never pushed, with peers: a lying peer is blamed, upstream still not asked",
			repo: local, ref: d1.String(),
			setup: func(e *env) {
				elsewhere(e)
				e.peers.Hold(d1, manifestType, m2)
			},
			err: notFoundAs("MANIFEST_UNKNOWN"),
			after: func(t *testing.T, e *env, _ *pull.Puller) {
				if len(e.peers.Blamed) != 1 {
					t.Errorf("Blamed = %q, want one", e.peers.Blamed)
				}
			},
		},
		{
			name: "never pushed, with peers: a manifest over MaxManifestBytes is refused",
			repo: local, ref: d1.String(),
			setup: func(e *env) { elsewhere(e); e.cfg.MaxManifestBytes = 10 },
			err:   notFoundAs("MANIFEST_UNKNOWN"),
		},
	} {
		t.Run(tc.name, tc.run)
	}
}

func TestManifestByTag(t *testing.T) {
	fresh := func() time.Time { return time.Now() }
	stale := func() time.Time { return time.Now().Add(-2 * tagTTL) }
	// cache makes the store hold m1 for mirrored's "latest", checked at.
	cache := func(e *env, at time.Time) {
		putManifest(t, e, mirrored, m1)
		e.store.SetTagAt(mirrored.Key(), "latest", d1, at)
	}
	// tagIs checks where the store's tag of repo points and that it was
	// checked just now (or not, when old).
	tagIs := func(repo repository.Name, tag string, want digest.Digest, justChecked bool) func(t *testing.T, e *env, _ *pull.Puller) {
		return func(t *testing.T, e *env, _ *pull.Puller) {
			t.Helper()
			d, checked, err := e.store.Tag(repo.Key(), tag)
			if err != nil || d != want {
				t.Errorf("stored tag = %s, %v; want %s", d, err, want)
			}
			if recent := time.Since(checked) < time.Minute; recent != justChecked {
				t.Errorf("tag checked at %s; want just now: %v", checked, justChecked)
			}
		}
	}
	for _, tc := range []manifestCase{
		{
			name: "within TagTTL the stored digest is served without asking upstream",
			repo: mirrored, ref: "latest",
			setup: func(e *env) {
				cache(e, fresh())
				e.up.Put(mirrored, manifestType, m2, "latest")
			},
			want: m1,
		},
		{
			name: "within TagTTL a denied upstream is not consulted",
			repo: mirrored, ref: "latest",
			setup: func(e *env) { cache(e, fresh()); e.deny() },
			want:  m1,
		},
		{
			name: "after TagTTL upstream is asked and the tag re-pointed",
			repo: mirrored, ref: "latest",
			setup: func(e *env) {
				cache(e, stale())
				e.up.Put(mirrored, manifestType, m2, "latest")
			},
			want:  m2,
			calls: map[string]int{"Resolve": 1, "Manifest": 1},
			m:     counters{upstreamBytes: mlen},
			saved: saved(mirrored, d2),
			after: func(t *testing.T, e *env, p *pull.Puller) {
				tagIs(mirrored, "latest", d2, true)(t, e, p)
				// Now within the TTL again: no further upstream call.
				m, err := p.Manifest(context.Background(), mirrored, "latest")
				if err != nil || m.Digest != d2 {
					t.Fatalf("second read = %v, %v", m, err)
				}
				if e.up.Calls["Resolve"] != 1 {
					t.Errorf("Resolve called %d times, want 1", e.up.Calls["Resolve"])
				}
			},
		},
		{
			name: "after TagTTL an unchanged tag is revalidated without refetching the manifest",
			repo: mirrored, ref: "latest",
			setup: func(e *env) {
				cache(e, stale())
				e.up.Put(mirrored, manifestType, m1, "latest")
			},
			want:  m1,
			calls: map[string]int{"Resolve": 1},
			after: tagIs(mirrored, "latest", d1, true),
		},
		{
			name: "an unknown tag is resolved upstream",
			repo: mirrored, ref: "latest",
			setup: func(e *env) { e.up.Put(mirrored, manifestType, m1, "latest") },
			want:  m1,
			calls: map[string]int{"Resolve": 1, "Manifest": 1},
			m:     counters{upstreamBytes: mlen},
			saved: saved(mirrored, d1),
			after: tagIs(mirrored, "latest", d1, true),
		},
		{
			name: "within TagTTL but the manifest gone: resolved again",
			repo: mirrored, ref: "latest",
			setup: func(e *env) {
				e.store.SetTagAt(mirrored.Key(), "latest", d2, fresh())
				e.up.Put(mirrored, manifestType, m1, "latest")
			},
			want:  m1,
			calls: map[string]int{"Resolve": 1, "Manifest": 1},
			m:     counters{upstreamBytes: mlen},
			saved: saved(mirrored, d1),
		},
		{
			name: "upstream down after TagTTL: the last known digest with a warning",
			repo: mirrored, ref: "latest",
			setup: func(e *env) {
				cache(e, stale())
				e.up.Err = pulltest.Down
				e.cfg.PeerTags = true
				e.peers.HoldTag(mirrored, "latest", d2)
				e.peers.Hold(d2, manifestType, m2)
			},
			want:  m1,
			warn:  "serving the last known digest of tag latest",
			calls: map[string]int{"Resolve": 1},
			m:     counters{staleTags: 1},
			after: func(t *testing.T, e *env, p *pull.Puller) {
				tagIs(mirrored, "latest", d1, false)(t, e, p)
				if len(e.peers.TagsAsked) != 0 {
					t.Errorf("peers asked %q: the last known digest comes first", e.peers.TagsAsked)
				}
			},
		},
		{
			name: "upstream NOT FOUND after TagTTL does not fall back to the stale digest",
			repo: mirrored, ref: "latest",
			setup: func(e *env) {
				cache(e, stale())
				e.cfg.PeerTags = true
				e.peers.HoldTag(mirrored, "latest", d1)
			},
			err:   notFoundAs("MANIFEST_UNKNOWN"),
			calls: map[string]int{"Resolve": 1},
			after: func(t *testing.T, e *env, _ *pull.Puller) {
				if len(e.peers.TagsAsked) != 0 {
					t.Errorf("peers asked %q after upstream said not found", e.peers.TagsAsked)
				}
			},
		},
		{
			name: "upstream down, no cached tag, PeerTags on: resolved through peers with a warning",
			repo: mirrored, ref: "latest",
			setup: func(e *env) {
				e.up.Err = pulltest.Down
				e.cfg.PeerTags = true
				e.peers.HoldTag(mirrored, "latest", d1)
				e.peers.Hold(d1, manifestType, m1)
			},
			want:  m1,
			warn:  "serving the digest peers resolved for tag latest",
			calls: map[string]int{"Resolve": 1},
			m:     counters{peerBytes: mlen, peerTags: 1},
			saved: saved(mirrored, d1),
			after: tagIs(mirrored, "latest", d1, true),
		},
		{
			name: "upstream down, PeerTags on, a peer's digest not held by peers: UNAVAILABLE",
			repo: mirrored, ref: "latest",
			setup: func(e *env) {
				e.up.Err = pulltest.Down
				e.cfg.PeerTags = true
				e.peers.HoldTag(mirrored, "latest", d1)
			},
			err:   statusIs(503, "UNAVAILABLE"),
			calls: map[string]int{"Resolve": 1, "Manifest": 1},
			m:     counters{peerTags: 1},
		},
		{
			name: "upstream down, PeerTags on, no peer knows the tag: UNAVAILABLE",
			repo: mirrored, ref: "latest",
			setup: func(e *env) {
				e.up.Err = pulltest.Down
				e.cfg.PeerTags = true
			},
			err:   statusIs(503, "UNAVAILABLE"),
			calls: map[string]int{"Resolve": 1},
			after: func(t *testing.T, e *env, _ *pull.Puller) {
				if want := []string{mirrored.Key() + " latest"}; !slices.Equal(e.peers.TagsAsked, want) {
					t.Errorf("peers asked %q, want %q", e.peers.TagsAsked, want)
				}
			},
		},
		{
			name: "upstream down, PeerTags off: peers are not asked for a mirrored tag",
			repo: mirrored, ref: "latest",
			setup: func(e *env) {
				e.up.Err = pulltest.Down
				e.peers.HoldTag(mirrored, "latest", d1)
				e.peers.Hold(d1, manifestType, m1)
			},
			err:   statusIs(503, "UNAVAILABLE"),
			calls: map[string]int{"Resolve": 1},
			after: func(t *testing.T, e *env, _ *pull.Puller) {
				if len(e.peers.TagsAsked) != 0 {
					t.Errorf("peers asked %q with PeerTags off", e.peers.TagsAsked)
				}
			},
		},
		{
			name: "upstream rate limiting: TOOMANYREQUESTS with its Retry-After",
			repo: mirrored, ref: "latest",
			setup: func(e *env) {
				e.up.Err = &upstream.UnavailableError{Rule: "docker.io", Status: 429, RetryAfter: 30 * time.Second}
			},
			err: func(t *testing.T, err error) {
				if oe := ocitest.WantError(t, err, 429, "TOOMANYREQUESTS"); oe.RetryAfter != 30 {
					t.Errorf("RetryAfter = %d, want 30", oe.RetryAfter)
				}
			},
			calls: map[string]int{"Resolve": 1},
		},
		{
			name: "a local repository held elsewhere resolves its tag through peers",
			repo: local, ref: "v1",
			setup: func(e *env) {
				e.peers.HoldTag(local, "v1", d1)
				e.peers.Hold(d1, manifestType, m1)
				e.up.Put(local, manifestType, m2, "v1")
			},
			want:  m1,
			m:     counters{peerBytes: mlen, peerTags: 1},
			saved: saved(local, d1),
			after: func(t *testing.T, e *env, p *pull.Puller) {
				tagIs(local, "v1", d1, true)(t, e, p)
				if want := []string{local.Key() + " v1"}; !slices.Equal(e.peers.TagsAsked, want) {
					t.Errorf("peers asked %q, want %q", e.peers.TagsAsked, want)
				}
			},
		},
		{
			name: "a local repository held elsewhere: a tag no peer knows is MANIFEST_UNKNOWN",
			repo: local, ref: "v1",
			setup: func(e *env) { e.up.Put(local, manifestType, m1, "v1") },
			err:   notFoundAs("MANIFEST_UNKNOWN"),
		},
		{
			name: "a denied upstream is not called and its error reaches the caller",
			repo: mirrored, ref: "latest",
			setup: func(e *env) {
				e.deny()
				e.up.Put(mirrored, manifestType, m1, "latest")
			},
			err: errIs(errPolicy),
		},
		{
			name: "a denied upstream after TagTTL refuses rather than serving the last known digest",
			repo: mirrored, ref: "latest",
			setup: func(e *env) { cache(e, stale()); e.deny() },
			err:   errIs(errPolicy),
		},
		{
			name: "a denial that is an *oci.Error reaches the client as it is",
			repo: mirrored, ref: "latest",
			setup: func(e *env) {
				e.cfg.UpstreamAllowed = func(rule string) error {
					return oci.ErrDenied.WithMessage("the access policy does not allow upstream %s", rule)
				}
			},
			err: func(t *testing.T, err error) {
				if oe := ocitest.WantError(t, err, 403, "DENIED"); !strings.Contains(oe.Message, "docker.io") {
					t.Errorf("Message = %q", oe.Message)
				}
			},
		},
	} {
		t.Run(tc.name, tc.run)
	}
}
