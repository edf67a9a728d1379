package pull_test

import (
	"context"
	"reflect"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/shoal-dev/shoal/pull"
	"github.com/shoal-dev/shoal/pull/pulltest"
	"github.com/shoal-dev/shoal/repository"
)

// gatedUpstream holds every Resolve, Manifest and Referrers call until
// gate is closed, so that concurrent callers pile up behind the first.
type gatedUpstream struct {
	*pulltest.Upstream
	gate chan struct{}
}

func (u gatedUpstream) Resolve(ctx context.Context, repo repository.Name, tag string) (ocispec.Descriptor, error) {
	<-u.gate
	return u.Upstream.Resolve(ctx, repo, tag)
}

func (u gatedUpstream) Manifest(ctx context.Context, repo repository.Name, ref string) (string, []byte, digest.Digest, error) {
	<-u.gate
	return u.Upstream.Manifest(ctx, repo, ref)
}

func (u gatedUpstream) Referrers(ctx context.Context, repo repository.Name, d digest.Digest) ([]ocispec.Descriptor, error) {
	<-u.gate
	return u.Upstream.Referrers(ctx, repo, d)
}

// TestConcurrentCallersShareOneUpstreamCall runs its callers in a
// synctest bubble: synctest.Wait returns only once every caller is
// blocked — the first in the gated upstream, the others waiting for its
// result — so the count of upstream calls does not depend on timing.
func TestConcurrentCallersShareOneUpstreamCall(t *testing.T) {
	const n = 8
	refs := []ocispec.Descriptor{{MediaType: manifestType, Digest: d2, Size: int64(mlen)}}
	for _, tc := range []struct {
		name  string
		call  func(ctx context.Context, p *pull.Puller) (any, error)
		want  any
		calls map[string]int
		m     counters
	}{
		{
			name: "a missing manifest by digest",
			call: func(ctx context.Context, p *pull.Puller) (any, error) {
				m, err := p.Manifest(ctx, mirrored, d1.String())
				if err != nil {
					return nil, err
				}
				return string(m.Bytes), nil
			},
			want:  string(m1),
			calls: map[string]int{"Manifest": 1},
			m:     counters{upstreamBytes: mlen},
		},
		{
			name: "an unknown tag",
			call: func(ctx context.Context, p *pull.Puller) (any, error) {
				m, err := p.Manifest(ctx, mirrored, "latest")
				if err != nil {
					return nil, err
				}
				return string(m.Bytes), nil
			},
			want:  string(m1),
			calls: map[string]int{"Resolve": 1, "Manifest": 1},
			m:     counters{upstreamBytes: mlen},
		},
		{
			name: "referrers",
			call: func(ctx context.Context, p *pull.Puller) (any, error) {
				return p.Referrers(ctx, mirrored, d1)
			},
			want:  refs,
			calls: map[string]int{"Referrers": 1},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := newEnv()
				e.up.Put(mirrored, manifestType, m1, "latest")
				e.up.PutReferrers(mirrored, d1, refs)
				gate := make(chan struct{})
				e.cfg.Upstream = gatedUpstream{e.up, gate}
				p := e.puller(t)

				var wg sync.WaitGroup
				got := make([]any, n)
				errs := make([]error, n)
				for i := range n {
					wg.Go(func() { got[i], errs[i] = tc.call(t.Context(), p) })
				}
				synctest.Wait()
				close(gate)
				wg.Wait()

				for i := range n {
					if errs[i] != nil || !reflect.DeepEqual(got[i], tc.want) {
						t.Errorf("caller %d: %v, %v", i, got[i], errs[i])
					}
				}
				if !reflect.DeepEqual(e.up.Calls, tc.calls) {
					t.Errorf("upstream calls = %v, want %v", e.up.Calls, tc.calls)
				}
				if len(e.peers.Fetched) > 1 {
					t.Errorf("peers asked %d times: %q", len(e.peers.Fetched), e.peers.Fetched)
				}
				if s := e.storedCalls(); len(s) > 1 {
					t.Errorf("ManifestStored called %d times", len(s))
				}
				e.checkMetrics(t, tc.m)
			})
		})
	}
}

// TestSharedFetchOutlivesItsFirstCaller: the caller that started a
// shared fetch going away does not fail the others waiting on it.
func TestSharedFetchOutlivesItsFirstCaller(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv()
		e.up.Put(mirrored, manifestType, m1)
		gate := make(chan struct{})
		e.cfg.Upstream = ctxUpstream{gatedUpstream{e.up, gate}}
		p := e.puller(t)

		first, cancel := context.WithCancel(t.Context())
		var wg sync.WaitGroup
		var err1, err2 error
		wg.Go(func() { _, err1 = p.Manifest(first, mirrored, d1.String()) })
		synctest.Wait() // the first caller is in upstream
		wg.Go(func() { _, err2 = p.Manifest(t.Context(), mirrored, d1.String()) })
		synctest.Wait() // the second waits for it
		cancel()
		close(gate)
		wg.Wait()
		if err1 != nil || err2 != nil {
			t.Errorf("callers: %v, %v", err1, err2)
		}
		if e.up.Calls["Manifest"] != 1 {
			t.Errorf("upstream Manifest called %d times", e.up.Calls["Manifest"])
		}
	})
}

// ctxUpstream fails a Manifest call whose context has ended, as the real
// client does.
type ctxUpstream struct{ gatedUpstream }

func (u ctxUpstream) Manifest(ctx context.Context, repo repository.Name, ref string) (string, []byte, digest.Digest, error) {
	mt, body, d, err := u.gatedUpstream.Manifest(ctx, repo, ref)
	if ctx.Err() != nil {
		return "", nil, "", ctx.Err()
	}
	return mt, body, d, err
}
