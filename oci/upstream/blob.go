package upstream

import (
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/opencontainers/go-digest"
)

// StatBlob reports the size of blob d in repo, as upstream's HEAD says it;
// -1 when upstream sent no Content-Length.
func (c *Client) StatBlob(ctx context.Context, ruleName, repo string, d digest.Digest) (int64, error) {
	r, err := c.lookup(ruleName)
	if err != nil {
		return 0, err
	}
	if err := d.Validate(); err != nil {
		return 0, fmt.Errorf("upstream: blob digest %q: %w", d, err)
	}
	what := "blob " + repo + "@" + d.String()
	resp, err := c.do(ctx, r, repo, call{method: http.MethodHead, url: r.endpoint(repo, "blobs/"+d.String()), what: what})
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
func (c *Client) Blob(ctx context.Context, ruleName, repo string, d digest.Digest) (body io.ReadCloser, size int64, err error) {
	r, err := c.lookup(ruleName)
	if err != nil {
		return nil, 0, err
	}
	if err := d.Validate(); err != nil {
		return nil, 0, fmt.Errorf("upstream: blob digest %q: %w", d, err)
	}
	what := "blob " + repo + "@" + d.String()
	resp, err := c.do(ctx, r, repo, call{method: http.MethodGet, url: r.endpoint(repo, "blobs/"+d.String()), what: what})
	if err != nil {
		return nil, 0, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, 0, fmt.Errorf("upstream %s: %s: %w", r.Name, what, &StatusError{Status: resp.StatusCode})
	}
	return resp.Body, resp.ContentLength, nil
}
