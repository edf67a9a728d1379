package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/shoal-dev/shoal/cache"
	"github.com/shoal-dev/shoal/oci"
	"github.com/shoal-dev/shoal/oci/upstream"
	"github.com/shoal-dev/shoal/p2p"
)

// upstreamTimeout bounds one shared manifest, tag or referrers fetch.
// Blob bodies are not bounded by it: the store aborts those when they
// stall.
const upstreamTimeout = 60 * time.Second

// remoteManifest answers a manifest this node may not hold: of a mirrored
// repository, or of a local repository another node of the fleet holds.
// By digest it comes from the store, else from peers, else once from
// upstream. By tag the last resolved digest is trusted for the tag TTL;
// after that upstream is asked with a HEAD, and when it cannot answer the
// last known digest is served with a warning, or failing that the digest
// peers last resolved.
func (n *Node) remoteManifest(ctx context.Context, r repository, ref string) (*oci.Manifest, error) {
	if d, err := digest.Parse(ref); err == nil {
		if m, err := n.storedManifest(r, d); err == nil {
			return m, nil
		}
		return n.fetchManifest(ctx, r, d)
	}
	tag := ref
	cached, checked, err := n.store.Tag(r.key, tag)
	if err == nil && time.Since(checked) < n.tagTTL {
		if m, err := n.storedManifest(r, cached); err == nil {
			return m, nil
		}
	}
	v, err, _ := n.flight.Do("tag\x00"+r.key+"\x00"+tag, func() (any, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), upstreamTimeout)
		defer cancel()
		return n.resolveTag(ctx, r, tag, cached)
	})
	if err != nil {
		return nil, upstreamErr(err, oci.ErrManifestUnknown.With(map[string]string{"tag": tag}))
	}
	return v.(*oci.Manifest), nil
}

// resolveTag finds what tag names now and makes sure that manifest is
// stored.
func (n *Node) resolveTag(ctx context.Context, r repository, tag string, cached digest.Digest) (*oci.Manifest, error) {
	var upErr error
	if r.mirrored() {
		if err := n.upstreamAllowed(r.rule); err != nil {
			return nil, err
		}
		desc, err := n.upstream.Resolve(ctx, r.rule, r.path, tag)
		if err == nil {
			m, err := n.ensureManifest(ctx, r, desc.Digest)
			if err != nil {
				return nil, err
			}
			return m, n.store.SetTag(r.key, false, tag, m.Digest, time.Now())
		}
		if errors.Is(err, upstream.ErrNotFound) {
			return nil, err
		}
		upErr = err
	}
	if cached != "" {
		if m, err := n.storedManifest(r, cached); err == nil {
			if upErr != nil {
				n.metrics.staleTags.Inc()
				n.log.Warn("serving the last known digest of a tag: upstream unavailable", "repository", r.key, "tag", tag, "digest", cached, "err", upErr)
				m.Warning = fmt.Sprintf("upstream %s could not be reached; serving the last known digest of tag %s", r.rule, tag)
			}
			return m, nil
		}
	}
	// Tags of a local repository held elsewhere in the fleet can only
	// come from peers; --p2p-tags is about mirrored ones.
	if n.p2p != nil && (n.cfg.P2PTags || !r.mirrored()) {
		if d, err := n.peerTag(ctx, r, tag); err == nil {
			m, err := n.ensureManifest(ctx, r, d)
			if err != nil {
				return nil, err
			}
			if err := n.store.SetTag(r.key, false, tag, d, time.Now()); err != nil {
				return nil, err
			}
			if upErr != nil {
				m.Warning = fmt.Sprintf("upstream %s could not be reached; serving the digest peers resolved for tag %s", r.rule, tag)
			}
			return m, nil
		}
	}
	if upErr != nil {
		return nil, upErr
	}
	return nil, cache.ErrNotFound
}

// peerTag asks the connected peers what tag of r last resolved to and
// takes the first answer.
func (n *Node) peerTag(ctx context.Context, r repository, tag string) (digest.Digest, error) {
	// A local repository is named by its key, with no rule.
	path := r.path
	if !r.mirrored() {
		path = r.key
	}
	d, from, err := n.p2p.Tag(ctx, r.rule, path, tag, 3*time.Second)
	if err != nil {
		return "", err
	}
	n.metrics.peerTags.Inc()
	n.log.Warn("resolved a tag through a peer", "repository", r.key, "tag", tag, "digest", d, "peer", from)
	return d, nil
}

// ensureManifest returns manifest d of r from the store, fetching it if
// it is not there.
func (n *Node) ensureManifest(ctx context.Context, r repository, d digest.Digest) (*oci.Manifest, error) {
	if m, err := n.storedManifest(r, d); err == nil {
		return m, nil
	}
	return n.fetchManifestOnce(ctx, r, d)
}

// fetchManifest brings manifest d of r from peers or upstream, once for
// all concurrent callers.
func (n *Node) fetchManifest(ctx context.Context, r repository, d digest.Digest) (*oci.Manifest, error) {
	v, err, _ := n.flight.Do("manifest\x00"+r.key+"\x00"+d.String(), func() (any, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), upstreamTimeout)
		defer cancel()
		return n.fetchManifestOnce(ctx, r, d)
	})
	if err != nil {
		return nil, upstreamErr(err, oci.ErrManifestUnknown.With(map[string]string{"digest": d.String()}))
	}
	return v.(*oci.Manifest), nil
}

func (n *Node) fetchManifestOnce(ctx context.Context, r repository, d digest.Digest) (*oci.Manifest, error) {
	mediaType, body, err := n.peerManifest(ctx, d)
	if err != nil {
		if !r.mirrored() {
			return nil, cache.ErrNotFound
		}
		if err := n.upstreamAllowed(r.rule); err != nil {
			return nil, err
		}
		var got digest.Digest
		mediaType, body, got, err = n.upstream.Manifest(ctx, r.rule, r.path, d.String())
		if err != nil {
			return nil, err
		}
		if got != d {
			return nil, fmt.Errorf("upstream %s sent manifest %s for %s", r.rule, got, d)
		}
		n.metrics.fetchedBytes.WithLabelValues("upstream").Add(float64(len(body)))
	}
	info, err := oci.ParseManifest(mediaType, body)
	if err != nil {
		return nil, fmt.Errorf("manifest %s is invalid: %w", d, err)
	}
	if err := n.store.PutManifest(r.key, false, manifestRecord(d, int64(len(body)), info), body); err != nil {
		return nil, err
	}
	n.manifestStored(r, d, info)
	return &oci.Manifest{Digest: d, MediaType: info.MediaType, Bytes: body}, nil
}

// peerManifest fetches manifest d from a peer that holds it and checks
// it against its digest.
func (n *Node) peerManifest(ctx context.Context, d digest.Digest) (string, []byte, error) {
	if n.p2p == nil {
		return "", nil, p2p.ErrNoPeer
	}
	dl, err := n.p2p.Fetch(ctx, d, "", "", findTimeout)
	if err != nil {
		return "", nil, err
	}
	defer dl.Close()
	if dl.Size > n.maxManifestBytes() {
		return "", nil, fmt.Errorf("peer manifest %s is %d bytes", d, dl.Size)
	}
	body, err := io.ReadAll(io.LimitReader(dl, dl.Size))
	if err != nil {
		return "", nil, err
	}
	if d.Algorithm().FromBytes(body) != d {
		for _, p := range dl.Sources() {
			n.p2p.Penalise(p, fmt.Sprintf("manifest %s did not match its digest", d))
		}
		return "", nil, fmt.Errorf("peer manifest does not match %s", d)
	}
	n.metrics.fetchedBytes.WithLabelValues("peer").Add(float64(len(body)))
	return dl.MediaType, body, nil
}

func (n *Node) maxManifestBytes() int64 {
	if n.cfg.MaxManifestBytes > 0 {
		return n.cfg.MaxManifestBytes
	}
	return oci.DefaultMaxManifestBytes
}

// remoteStatBlob sizes a blob this node may not hold.
func (n *Node) remoteStatBlob(ctx context.Context, r repository, d digest.Digest) (int64, error) {
	// Blobs are content addressed and verified: whichever repository
	// brought one in, it is the same bytes.
	if size, err := n.store.StatBlob(d); err == nil {
		return size, nil
	}
	// A denied upstream is skipped: peers may still hold the blob.
	if r.mirrored() && n.upstreamAllowed(r.rule) == nil {
		size, err := n.upstream.StatBlob(ctx, r.rule, r.path, d)
		if err == nil || !upstream.IsUnavailable(err) {
			return size, upstreamErr(err, blobUnknown(d))
		}
	}
	// Upstream down, or a local repository: a peer may hold it.
	if n.p2p != nil {
		if dl, err := n.p2p.Fetch(ctx, d, "", "", findTimeout); err == nil {
			dl.Close()
			return dl.Size, nil
		}
	}
	return 0, blobUnknown(d)
}

// remoteBlob serves a blob from the store, or streams it from peers or
// upstream while the store writes and verifies it. Concurrent requests
// share one transfer.
func (n *Node) remoteBlob(ctx context.Context, r repository, d digest.Digest) (*oci.Blob, error) {
	if br, err := n.store.OpenBlob(d); err == nil {
		return blob(br), nil
	}
	br, err := n.store.Fetch(ctx, d, n.blobSource(r, d))
	if err != nil {
		if errors.Is(err, errNoSource) {
			return nil, blobUnknown(d)
		}
		return nil, upstreamErr(err, blobUnknown(d))
	}
	return blob(br), nil
}

// mirrorTags lists tags upstream, or the tags this node knows when
// upstream cannot be reached.
func (n *Node) mirrorTags(ctx context.Context, r repository) ([]string, error) {
	if err := n.upstreamAllowed(r.rule); err != nil {
		return nil, err
	}
	tags, err := n.upstream.Tags(ctx, r.rule, r.path)
	if err == nil {
		return tags, nil
	}
	if upstream.IsUnavailable(err) {
		if known, serr := n.store.Tags(r.key); serr == nil {
			return known, nil
		}
	}
	return nil, upstreamErr(err, oci.ErrNameUnknown.With(map[string]string{"name": r.key}))
}

// mirrorReferrers passes the referrers API through and caches its answer;
// an upstream without the API, or one that cannot be reached, leaves the
// referrers this node knows.
func (n *Node) mirrorReferrers(ctx context.Context, r repository, d digest.Digest) ([]ocispec.Descriptor, error) {
	if n.upstreamAllowed(r.rule) != nil {
		return n.store.Referrers(r.key, d)
	}
	v, err, _ := n.flight.Do("referrers\x00"+r.key+"\x00"+d.String(), func() (any, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), upstreamTimeout)
		defer cancel()
		descs, err := n.upstream.Referrers(ctx, r.rule, r.path, d)
		if err != nil {
			return nil, err
		}
		if err := n.store.PutReferrers(r.key, d, descs); err != nil {
			n.log.Warn("caching referrers", "repository", r.key, "subject", d, "err", err)
		}
		return descs, nil
	})
	if err == nil {
		return v.([]ocispec.Descriptor), nil
	}
	if !errors.Is(err, upstream.ErrNotFound) && !upstream.IsUnavailable(err) {
		n.log.Warn("referrers upstream", "repository", r.key, "subject", d, "err", err)
	}
	return n.store.Referrers(r.key, d)
}

// upstreamErr maps an upstream failure onto the OCI error a client sees.
func upstreamErr(err error, notFound error) error {
	var oe *oci.Error
	var ue *upstream.UnavailableError
	var se *upstream.StatusError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &oe):
		return err
	case errors.Is(err, upstream.ErrNotFound), errors.Is(err, cache.ErrNotFound), errors.Is(err, p2p.ErrNoPeer), errors.Is(err, p2p.ErrNotFound):
		return notFound
	case errors.As(err, &ue):
		if ue.Status == 429 {
			e := oci.ErrTooManyRequests.With(ue.Error())
			e.RetryAfter = int(ue.RetryAfter.Seconds())
			return e
		}
		return oci.ErrUnavailable.With(ue.Error())
	case errors.As(err, &se):
		if se.Status == 401 || se.Status == 403 {
			return oci.ErrDenied.WithMessage("upstream refused access").With(se.Error())
		}
		return &oci.Error{Status: 502, Code: "UNKNOWN", Message: "upstream error", Detail: se.Error()}
	case errors.Is(err, cache.ErrDigestMismatch):
		return &oci.Error{Status: 502, Code: "DIGEST_INVALID", Message: "content did not match its digest"}
	}
	return err
}

// countingReader counts the bytes read through it.
type countingReader struct {
	io.ReadCloser
	c interface{ Add(float64) }
}

func (r countingReader) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	r.c.Add(float64(n))
	return n, err
}
