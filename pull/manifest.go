package pull

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/shoal-dev/shoal/oci"
	"github.com/shoal-dev/shoal/oci/upstream"
	"github.com/shoal-dev/shoal/repository"
)

// Manifest answers a manifest. A local repository pushed here is read
// from the store. Anything else (mirrored, or a local repository another
// node holds) by digest comes from the store, else from peers, else once
// from upstream; by tag the last resolved digest is trusted for the tag
// TTL, after which upstream is asked with a HEAD, and when it cannot
// answer the last known digest is served with a warning, or failing that
// the digest peers last resolved.
func (p *Puller) Manifest(ctx context.Context, repo repository.Name, ref string) (*oci.Manifest, error) {
	if p.Remote(repo) {
		return p.remoteManifest(ctx, repo, ref)
	}
	d, err := digest.Parse(ref)
	if err != nil {
		d, _, err = p.cfg.Store.Tag(repo.Key(), ref)
		if err != nil {
			return nil, storeErr(err, manifestUnknown("tag", ref))
		}
	}
	return p.storedManifest(repo, d)
}

// storedManifest reads manifest d of repo from the store.
func (p *Puller) storedManifest(repo repository.Name, d digest.Digest) (*oci.Manifest, error) {
	m, err := p.cfg.Store.Manifest(repo.Key(), d)
	if err != nil {
		return nil, storeErr(err, manifestUnknown("digest", d.String()))
	}
	return m, nil
}

func (p *Puller) remoteManifest(ctx context.Context, repo repository.Name, ref string) (*oci.Manifest, error) {
	if d, err := digest.Parse(ref); err == nil {
		if m, err := p.storedManifest(repo, d); err == nil {
			return m, nil
		}
		return p.fetchManifest(ctx, repo, d)
	}
	tag := ref
	cached, checked, err := p.cfg.Store.Tag(repo.Key(), tag)
	if err == nil && time.Since(checked) < p.cfg.TagTTL {
		if m, err := p.storedManifest(repo, cached); err == nil {
			return m, nil
		}
	}
	v, err, _ := p.flight.Do("tag\x00"+repo.Key()+"\x00"+tag, func() (any, error) {
		ctx, cancel := detached(ctx)
		defer cancel()
		return p.resolveTag(ctx, repo, tag, cached)
	})
	if err != nil {
		return nil, upstreamErr(err, manifestUnknown("tag", tag))
	}
	return v.(*oci.Manifest), nil
}

// resolveTag finds what tag names now and makes sure that manifest is
// stored.
func (p *Puller) resolveTag(ctx context.Context, repo repository.Name, tag string, cached digest.Digest) (*oci.Manifest, error) {
	var upErr error
	if repo.Mirrored() {
		if err := p.cfg.UpstreamAllowed(repo.Rule); err != nil {
			return nil, err
		}
		desc, err := p.cfg.Upstream.Resolve(ctx, repo, tag)
		if err == nil {
			m, err := p.ensureManifest(ctx, repo, desc.Digest)
			if err != nil {
				return nil, err
			}
			return m, p.setTag(repo, tag, m.Digest)
		}
		if errors.Is(err, upstream.ErrNotFound) {
			return nil, err
		}
		upErr = err
	}
	// Another node's local repository: only its owner knows where the
	// tag is now, so once the tag's TTL has passed the fleet is asked
	// again and a tag moved on its owner is seen; the last known digest
	// is kept when no peer answers, as a stale tag.
	if !repo.Mirrored() && p.cfg.Peers != nil {
		m, err := p.tagFromPeers(ctx, repo, tag, nil)
		if err == nil {
			return m, nil
		}
		if errors.Is(err, ErrOwnerHasNoTag) {
			// Deleted on its owner: the last known digest is not served.
			return nil, ErrNotFound
		}
		if cached != "" {
			if m, serr := p.storedManifest(repo, cached); serr == nil {
				p.metrics.staleTags.Inc()
				p.log.Warn("serving the last known digest of a tag: no node holding the repository answered", "repository", repo, "tag", tag, "digest", cached, "err", err)
				m.Warning = fmt.Sprintf("no node holding repository %s answered; serving the last known digest of tag %s", repo.Path, tag)
				return m, nil
			}
		}
		if errors.Is(err, errNoPeerTag) {
			return nil, ErrNotFound
		}
		return nil, err
	}
	if cached != "" {
		if m, err := p.storedManifest(repo, cached); err == nil {
			if upErr != nil {
				p.metrics.staleTags.Inc()
				p.log.Warn("serving the last known digest of a tag: upstream unavailable", "repository", repo, "tag", tag, "digest", cached, "err", upErr)
				m.Warning = fmt.Sprintf("upstream %s could not be reached; serving the last known digest of tag %s", repo.Rule, tag)
			}
			return m, nil
		}
	}
	if p.cfg.Peers != nil && p.cfg.PeerTags && repo.Mirrored() {
		m, err := p.tagFromPeers(ctx, repo, tag, upErr)
		if !errors.Is(err, errNoPeerTag) {
			return m, err
		}
	}
	if upErr != nil {
		return nil, upErr
	}
	return nil, ErrNotFound
}

// errNoPeerTag is tagFromPeers finding no peer that knows the tag.
var errNoPeerTag = errors.New("no peer knows the tag")

// tagFromPeers resolves tag of repo through peers and makes sure the
// manifest it names is stored. upErr is why upstream was not asked, if
// it was not.
func (p *Puller) tagFromPeers(ctx context.Context, repo repository.Name, tag string, upErr error) (*oci.Manifest, error) {
	d, secondhand, err := p.peerTag(ctx, repo, tag)
	if errors.Is(err, ErrOwnerHasNoTag) {
		return nil, err
	}
	if err != nil {
		return nil, errNoPeerTag
	}
	m, err := p.ensureManifest(ctx, repo, d)
	if err != nil {
		return nil, err
	}
	if err := p.setTag(repo, tag, d); err != nil {
		return nil, err
	}
	switch {
	case upErr != nil:
		m.Warning = fmt.Sprintf("upstream %s could not be reached; serving the digest peers resolved for tag %s", repo.Rule, tag)
	case secondhand:
		m.Warning = fmt.Sprintf("no node holding repository %s answered; serving the digest of tag %s a node that pulled it last stored", repo.Path, tag)
	}
	return m, nil
}

// setTag records what tag of repo resolved to. A store that cannot
// write does not fail the pull: the tag is resolved again next time.
func (p *Puller) setTag(repo repository.Name, tag string, d digest.Digest) error {
	err := p.cfg.Store.SetTag(repo.Key(), tag, d, time.Now())
	if errors.Is(err, ErrCannotStore) {
		return nil
	}
	return err
}

// peerTag asks the connected peers what tag of repo last resolved to.
// A secondhand answer (no owner answered) is a stale tag served.
func (p *Puller) peerTag(ctx context.Context, repo repository.Name, tag string) (d digest.Digest, secondhand bool, err error) {
	a, err := p.cfg.Peers.Tag(ctx, repo, tag, PeerTagTimeout)
	if err != nil {
		return "", false, err
	}
	p.metrics.peerTags.Inc()
	p.tagPeers.set(repo, a.Peer)
	if a.Secondhand {
		p.metrics.staleTags.Inc()
		p.log.Warn("serving a tag's digest from a peer that pulled it through: its owner did not answer", "repository", repo, "tag", tag, "digest", a.Digest, "peer", a.Peer)
		return a.Digest, true, nil
	}
	p.log.Warn("resolved a tag through a peer", "repository", repo, "tag", tag, "digest", a.Digest, "peer", a.Peer)
	return a.Digest, false, nil
}

// ensureManifest returns manifest d of repo from the store, fetching it
// if it is not there.
func (p *Puller) ensureManifest(ctx context.Context, repo repository.Name, d digest.Digest) (*oci.Manifest, error) {
	if m, err := p.storedManifest(repo, d); err == nil {
		return m, nil
	}
	return p.fetchManifestOnce(ctx, repo, d)
}

// fetchManifest brings manifest d of repo from peers or upstream, once
// for all concurrent callers.
func (p *Puller) fetchManifest(ctx context.Context, repo repository.Name, d digest.Digest) (*oci.Manifest, error) {
	v, err, _ := p.flight.Do("manifest\x00"+repo.Key()+"\x00"+d.String(), func() (any, error) {
		ctx, cancel := detached(ctx)
		defer cancel()
		return p.fetchManifestOnce(ctx, repo, d)
	})
	if err != nil {
		return nil, upstreamErr(err, manifestUnknown("digest", d.String()))
	}
	return v.(*oci.Manifest), nil
}

func (p *Puller) fetchManifestOnce(ctx context.Context, repo repository.Name, d digest.Digest) (*oci.Manifest, error) {
	mediaType, body, err := p.peerManifest(ctx, repo, d)
	if err != nil {
		if !repo.Mirrored() {
			return nil, ErrNotFound
		}
		if err := p.cfg.UpstreamAllowed(repo.Rule); err != nil {
			return nil, err
		}
		var got digest.Digest
		mediaType, body, got, err = p.cfg.Upstream.Manifest(ctx, repo, d.String())
		if err != nil {
			return nil, err
		}
		if got != d {
			return nil, fmt.Errorf("upstream %s sent manifest %s for %s", repo.Rule, got, d)
		}
		p.metrics.fetched("upstream", len(body))
	}
	info, err := oci.ParseManifest(mediaType, body)
	if err != nil {
		return nil, fmt.Errorf("manifest %s is invalid: %w", d, err)
	}
	m := &oci.Manifest{Digest: d, MediaType: info.MediaType, Bytes: body}
	switch err := p.cfg.Store.PutManifest(repo.Key(), m, info); {
	case errors.Is(err, ErrCannotStore):
		// Checked against its digest above: served, not stored.
		p.metrics.passThrough.WithLabelValues("manifest").Inc()
		p.log.Debug("passing a manifest through without storing it", "repository", repo, "digest", d)
	case err != nil:
		return nil, err
	case p.cfg.ManifestStored != nil:
		p.cfg.ManifestStored(repo, d, info)
	}
	return &oci.Manifest{Digest: d, MediaType: info.MediaType, Bytes: body}, nil
}

// peerManifest fetches manifest d of repo from a peer whose repo holds
// it and checks it against its digest.
func (p *Puller) peerManifest(ctx context.Context, repo repository.Name, d digest.Digest) (string, []byte, error) {
	if p.cfg.Peers == nil {
		return "", nil, ErrNotFound
	}
	dl, err := p.cfg.Peers.Fetch(ctx, d, holdersOf(repo), FindTimeout, p.tagPeers.of(repo))
	if err != nil {
		return "", nil, err
	}
	defer dl.Close()
	if dl.Size() > p.cfg.MaxManifestBytes {
		return "", nil, fmt.Errorf("peer manifest %s is %d bytes", d, dl.Size())
	}
	body, err := io.ReadAll(io.LimitReader(dl, dl.Size()))
	if err != nil {
		return "", nil, err
	}
	if d.Algorithm().FromBytes(body) != d {
		dl.Blame(fmt.Sprintf("manifest %s did not match its digest", d))
		return "", nil, fmt.Errorf("peer manifest does not match %s", d)
	}
	p.metrics.fetched("peer", len(body))
	return dl.MediaType(), body, nil
}
