package upstream

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/shoal-dev/shoal/repository"
)

const (
	// maxPages bounds how many Link-paginated pages one listing follows.
	maxPages = 100
	// maxListBytes bounds one page of a listing.
	maxListBytes = 4 << 20
	// maxListEntries bounds a whole listing.
	maxListEntries = 100_000
)

// Tags lists repo's tags upstream, following Link pagination up to a bound,
// sorted and without duplicates.
func (c *Client) Tags(ctx context.Context, repo repository.Name) ([]string, error) {
	r, err := c.lookup(repo.Rule)
	if err != nil {
		return nil, err
	}
	var tags []string
	err = c.pages(ctx, r, repo.Path, r.endpoint(repo.Path, "tags/list"), "application/json", "tags of "+repo.Path, func(body []byte) (int, error) {
		var page struct {
			Tags []string `json:"tags"`
		}
		if err := json.Unmarshal(body, &page); err != nil {
			return 0, err
		}
		tags = append(tags, page.Tags...)
		return len(tags), nil
	})
	if err != nil {
		return nil, err
	}
	slices.Sort(tags)
	return slices.Compact(tags), nil
}

// Referrers lists the manifests whose subject is d in repo, through the
// referrers API. ErrNotFound means upstream answered 404 — it has no such API
// or nothing there — and the caller should fall back to the tag schema.
func (c *Client) Referrers(ctx context.Context, repo repository.Name, d digest.Digest) ([]ocispec.Descriptor, error) {
	r, err := c.lookup(repo.Rule)
	if err != nil {
		return nil, err
	}
	if err := d.Validate(); err != nil {
		return nil, fmt.Errorf("upstream: referrers subject %q: %w", d, err)
	}
	out := []ocispec.Descriptor{}
	err = c.pages(ctx, r, repo.Path, r.endpoint(repo.Path, "referrers/"+d.String()), ocispec.MediaTypeImageIndex, "referrers of "+repo.Path+"@"+d.String(), func(body []byte) (int, error) {
		var idx ocispec.Index
		if err := json.Unmarshal(body, &idx); err != nil {
			return 0, err
		}
		out = append(out, idx.Manifests...)
		return len(out), nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// pages GETs u and each rel="next" Link after it, handing every body to add,
// which returns the running entry count.
func (c *Client) pages(ctx context.Context, r *rule, repo string, u *url.URL, accept, what string, add func([]byte) (int, error)) error {
	for page := 0; ; page++ {
		if page == maxPages {
			return fmt.Errorf("upstream %s: %s: more than %d pages", r.Name, what, maxPages)
		}
		resp, err := c.do(ctx, r, repo, call{method: http.MethodGet, url: u, accept: accept, what: what})
		if err != nil {
			return err
		}
		body, err := readLimited(resp.Body, maxListBytes)
		resp.Body.Close()
		if err != nil {
			return fmt.Errorf("upstream %s: %s: %w", r.Name, what, err)
		}
		n, err := add(body)
		if err != nil {
			return fmt.Errorf("upstream %s: %s: bad body: %w", r.Name, what, err)
		}
		if n > maxListEntries {
			return fmt.Errorf("upstream %s: %s: more than %d entries", r.Name, what, maxListEntries)
		}
		next, ok := nextLink(resp.Header.Values("Link"))
		if !ok {
			return nil
		}
		nu, err := u.Parse(next)
		if err != nil {
			return fmt.Errorf("upstream %s: %s: bad Link %q: %w", r.Name, what, next, err)
		}
		if !r.sameOrigin(nu) {
			return fmt.Errorf("upstream %s: %s: Link leads off the registry: %s", r.Name, what, nu.Redacted())
		}
		if nu.String() == u.String() {
			return fmt.Errorf("upstream %s: %s: Link points at the same page", r.Name, what)
		}
		u = nu
	}
}

// nextLink finds the rel="next" target in Link header values
// (RFC 8288: `<url>; rel="next"`, several links comma-separated).
func nextLink(values []string) (string, bool) {
	for _, v := range values {
		for len(v) > 0 {
			v = strings.TrimLeft(v, " \t,")
			if !strings.HasPrefix(v, "<") {
				break
			}
			end := strings.IndexByte(v, '>')
			if end < 0 {
				break
			}
			target := v[1:end]
			v = v[end+1:]
			// Parameters run to the next comma outside quotes.
			params, rest := splitUnquoted(v, ',')
			v = rest
			for params != "" {
				var p string
				p, params = splitUnquoted(params, ';')
				k, val, ok := strings.Cut(strings.TrimSpace(p), "=")
				if !ok || !strings.EqualFold(strings.TrimSpace(k), "rel") {
					continue
				}
				val = strings.Trim(strings.TrimSpace(val), `"`)
				for _, rel := range strings.Fields(val) {
					if strings.EqualFold(rel, "next") {
						return target, true
					}
				}
			}
		}
	}
	return "", false
}

// splitUnquoted splits s at the first sep that is not inside quotes.
func splitUnquoted(s string, sep byte) (before, after string) {
	quoted := false
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			quoted = !quoted
		case sep:
			if !quoted {
				return s[:i], s[i+1:]
			}
		}
	}
	return s, ""
}
