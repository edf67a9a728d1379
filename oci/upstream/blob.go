package upstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/opencontainers/go-digest"

	"github.com/shoal-dev/shoal/repository"
)

// StatBlob reports the size of blob d in repo, as upstream's HEAD says it;
// -1 when upstream sent no Content-Length.
func (c *Client) StatBlob(ctx context.Context, repo repository.Name, d digest.Digest) (int64, error) {
	r, err := c.lookup(repo.Rule)
	if err != nil {
		return 0, err
	}
	if err := d.Validate(); err != nil {
		return 0, fmt.Errorf("upstream: blob digest %q: %w", d, err)
	}
	what := "blob " + repo.Path + "@" + d.String()
	resp, err := c.do(ctx, r, repo.Path, call{method: http.MethodHead, url: r.endpoint(repo.Path, "blobs/"+d.String()), what: what})
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	if h := resp.Header.Get("Docker-Content-Digest"); h != "" && h != d.String() {
		return 0, fmt.Errorf("upstream %s: %s: Docker-Content-Digest is %s", r.Name, what, h)
	}
	return resp.ContentLength, nil
}

// Blob opens blob d in repo. The stream is not verified: the caller's store
// checks the digest as it writes. size is the Content-Length, or -1. Redirects
// (to object storage, typically) are followed without Authorization going to
// another host. There is no timeout on the body beyond ctx.
func (c *Client) Blob(ctx context.Context, repo repository.Name, d digest.Digest) (body io.ReadCloser, size int64, err error) {
	return c.BlobFrom(ctx, repo, d, 0)
}

// BlobFrom opens blob d from byte offset on, to resume a transfer that
// broke elsewhere. size is still the whole blob's size (or -1). An
// upstream that ignores Range is read past the offset.
func (c *Client) BlobFrom(ctx context.Context, repo repository.Name, d digest.Digest, offset int64) (body io.ReadCloser, size int64, err error) {
	r, err := c.lookup(repo.Rule)
	if err != nil {
		return nil, 0, err
	}
	if err := d.Validate(); err != nil {
		return nil, 0, fmt.Errorf("upstream: blob digest %q: %w", d, err)
	}
	what := "blob " + repo.Path + "@" + d.String()
	resp, err := c.do(ctx, r, repo.Path, call{method: http.MethodGet, url: r.endpoint(repo.Path, "blobs/"+d.String()), what: what, from: offset})
	var se *StatusError
	if offset > 0 && errors.As(err, &se) && se.Status == http.StatusRequestedRangeNotSatisfiable {
		// Some registries take only closed ranges: read from the start.
		resp, err = c.do(ctx, r, repo.Path, call{method: http.MethodGet, url: r.endpoint(repo.Path, "blobs/"+d.String()), what: what})
	}
	if err != nil {
		return nil, 0, err
	}
	switch {
	case resp.StatusCode == http.StatusOK && offset > 0:
		// Range ignored: skip to the offset ourselves.
		if _, err := io.CopyN(io.Discard, resp.Body, offset); err != nil {
			resp.Body.Close()
			return nil, 0, &UnavailableError{Rule: r.Name, Err: fmt.Errorf("%s: skipping to byte %d: %w", what, offset, err)}
		}
		return resp.Body, resp.ContentLength, nil
	case resp.StatusCode == http.StatusOK:
		return resp.Body, resp.ContentLength, nil
	case resp.StatusCode == http.StatusPartialContent && offset > 0:
		size := int64(-1)
		if cr := resp.Header.Get("Content-Range"); cr != "" {
			var a, b, total int64
			if n, _ := fmt.Sscanf(cr, "bytes %d-%d/%d", &a, &b, &total); n == 3 && a == offset {
				size = total
			} else if n >= 2 && a != offset {
				resp.Body.Close()
				return nil, 0, fmt.Errorf("upstream %s: %s: asked for byte %d on, got Content-Range %q", r.Name, what, offset, cr)
			}
		}
		return resp.Body, size, nil
	}
	resp.Body.Close()
	return nil, 0, fmt.Errorf("upstream %s: %s: %w", r.Name, what, &StatusError{Status: resp.StatusCode})
}
