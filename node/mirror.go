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
)

// upstreamTimeout bounds one shared manifest, tag or referrers fetch.
// Blob bodies are not bounded by it: the store aborts those when they
// stall.
const upstreamTimeout = 60 * time.Second

// mirrorManifest answers a manifest of a mirrored repository. By digest it
// comes from the store, or once from upstream. By tag the last resolved
// digest is trusted for the tag TTL; after that it is revalidated with a
// HEAD, and when upstream cannot answer the last known digest is served
// with a warning.
func (n *Node) mirrorManifest(ctx context.Context, r repository, ref string) (*oci.Manifest, error) {
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
		return n.revalidateTag(ctx, r, tag)
	})
	if err == nil {
		return v.(*oci.Manifest), nil
	}
	if cached != "" && !errors.Is(err, upstream.ErrNotFound) {
		if m, serr := n.storedManifest(r, cached); serr == nil {
			n.metrics.staleTags.Inc()
			n.log.Warn("serving cached tag: upstream unavailable", "repository", r.key, "tag", tag, "digest", cached, "err", err)
			m.Warning = fmt.Sprintf("upstream %s could not be reached; serving the last known digest of tag %s", r.rule, tag)
			return m, nil
		}
	}
	return nil, upstreamErr(err, oci.ErrManifestUnknown.With(map[string]string{"tag": tag}))
}

// revalidateTag asks upstream what tag names now and makes sure that
// manifest is stored.
func (n *Node) revalidateTag(ctx context.Context, r repository, tag string) (*oci.Manifest, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), upstreamTimeout)
	defer cancel()
	desc, err := n.upstream.Resolve(ctx, r.rule, r.path, tag)
	if err != nil {
		return nil, err
	}
	m, err := n.storedManifest(r, desc.Digest)
	if err != nil {
		if m, err = n.fetchManifestOnce(ctx, r, desc.Digest); err != nil {
			return nil, err
		}
	}
	if err := n.store.SetTag(r.key, false, tag, m.Digest, time.Now()); err != nil {
		return nil, err
	}
	return m, nil
}

// fetchManifest brings manifest d of r from upstream, once for all
// concurrent callers.
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
	mediaType, body, got, err := n.upstream.Manifest(ctx, r.rule, r.path, d.String())
	if err != nil {
		return nil, err
	}
	if got != d {
		return nil, fmt.Errorf("upstream %s sent manifest %s for %s", r.rule, got, d)
	}
	info, err := oci.ParseManifest(mediaType, body)
	if err != nil {
		return nil, fmt.Errorf("upstream %s sent an invalid manifest %s: %w", r.rule, d, err)
	}
	if err := n.store.PutManifest(r.key, false, manifestRecord(d, int64(len(body)), info), body); err != nil {
		return nil, err
	}
	n.metrics.fetchedBytes.WithLabelValues("upstream").Add(float64(len(body)))
	return &oci.Manifest{Digest: d, MediaType: info.MediaType, Bytes: body}, nil
}

func (n *Node) mirrorStatBlob(ctx context.Context, r repository, d digest.Digest) (int64, error) {
	// Blobs are content addressed and verified: whichever repository
	// brought one in, it is the same bytes.
	if size, err := n.store.StatBlob(d); err == nil {
		return size, nil
	}
	size, err := n.upstream.StatBlob(ctx, r.rule, r.path, d)
	return size, upstreamErr(err, blobUnknown(d))
}

// mirrorBlob serves a blob from the store, or streams it from upstream
// while the store writes and verifies it. Concurrent requests share one
// upstream transfer.
func (n *Node) mirrorBlob(ctx context.Context, r repository, d digest.Digest) (*oci.Blob, error) {
	if br, err := n.store.OpenBlob(d); err == nil {
		return blob(br), nil
	}
	br, err := n.store.Fetch(ctx, d, func(ctx context.Context) (io.ReadCloser, int64, error) {
		body, size, err := n.upstream.Blob(ctx, r.rule, r.path, d)
		if err != nil {
			return nil, 0, err
		}
		n.log.Debug("fetching blob from upstream", "repository", r.key, "digest", d, "size", size)
		return countingReader{body, n.metrics.fetchedBytes.WithLabelValues("upstream")}, size, nil
	})
	if err != nil {
		if errors.Is(err, cache.ErrDigestMismatch) {
			n.log.Error("upstream sent a blob that does not match its digest", "repository", r.key, "digest", d)
		}
		return nil, upstreamErr(err, blobUnknown(d))
	}
	return blob(br), nil
}

// mirrorTags lists tags upstream, or the tags this node knows when
// upstream cannot be reached.
func (n *Node) mirrorTags(ctx context.Context, r repository) ([]string, error) {
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
	case errors.Is(err, upstream.ErrNotFound), errors.Is(err, cache.ErrNotFound):
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
		return &oci.Error{Status: 502, Code: "DIGEST_INVALID", Message: "upstream sent content that does not match its digest"}
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
