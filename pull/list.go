package pull

import (
	"context"
	"errors"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/shoal-dev/shoal/oci"
	"github.com/shoal-dev/shoal/oci/upstream"
	"github.com/shoal-dev/shoal/repository"
)

// Tags lists a local repository's tags from the store, and a mirrored
// one's upstream, or the tags this node knows when upstream cannot be
// reached.
func (p *Puller) Tags(ctx context.Context, repo repository.Name) ([]string, error) {
	if !repo.Mirrored() {
		tags, err := p.cfg.Store.Tags(repo.Key())
		return tags, storeErr(err, notFound(oci.ErrNameUnknown.With(map[string]string{"name": repo.Path})))
	}
	if err := p.cfg.UpstreamAllowed(repo.Rule); err != nil {
		return nil, err
	}
	tags, err := p.cfg.Upstream.Tags(ctx, repo)
	if err == nil {
		return tags, nil
	}
	if upstream.IsUnavailable(err) {
		if known, serr := p.cfg.Store.Tags(repo.Key()); serr == nil {
			return known, nil
		}
	}
	return nil, upstreamErr(err, notFound(oci.ErrNameUnknown.With(map[string]string{"name": repo.Key()})))
}

// Referrers answers a local repository from the store. A mirrored one
// passes the referrers API through and caches its answer; an upstream
// without the API, one that cannot be reached or one the policy denies
// leaves the referrers this node knows.
func (p *Puller) Referrers(ctx context.Context, repo repository.Name, d digest.Digest) ([]ocispec.Descriptor, error) {
	if !repo.Mirrored() || p.cfg.UpstreamAllowed(repo.Rule) != nil {
		return p.cfg.Store.Referrers(repo.Key(), d)
	}
	v, err, _ := p.flight.Do("referrers\x00"+repo.Key()+"\x00"+d.String(), func() (any, error) {
		ctx, cancel := detached(ctx)
		defer cancel()
		descs, err := p.cfg.Upstream.Referrers(ctx, repo, d)
		if err != nil {
			return nil, err
		}
		if err := p.cfg.Store.PutReferrers(repo.Key(), d, descs); err != nil {
			p.log.Warn("caching referrers", "repository", repo, "subject", d, "err", err)
		}
		return descs, nil
	})
	if err == nil {
		return v.([]ocispec.Descriptor), nil
	}
	if !errors.Is(err, upstream.ErrNotFound) && !upstream.IsUnavailable(err) {
		p.log.Warn("referrers upstream", "repository", repo, "subject", d, "err", err)
	}
	return p.cfg.Store.Referrers(repo.Key(), d)
}
