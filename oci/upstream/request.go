package upstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// call is one idempotent request to an upstream.
type call struct {
	method string
	url    *url.URL
	accept string
	what   string // for error messages, e.g. "manifest library/alpine:latest"
	// from, when positive, asks for the body from that byte on.
	from int64
}

// do sends cl to repo on r, retrying what failed before any body byte was
// read, and returns a 2xx response whose body the caller must close. Any
// other outcome becomes an error: 404 wraps ErrNotFound, 5xx/429 and network
// failures are *UnavailableError, anything else is *StatusError.
func (c *Client) do(ctx context.Context, r *rule, repo string, cl call) (*http.Response, error) {
	var last error
	for attempt := 1; attempt <= c.tries; attempt++ {
		if attempt > 1 {
			wait := c.delay(attempt - 1)
			var u *UnavailableError
			if errors.As(last, &u) && u.RetryAfter > wait {
				wait = u.RetryAfter
			}
			c.log.Debug("upstream retry", "rule", r.Name, "what", cl.what, "attempt", attempt, "wait", wait, "err", last)
			if err := c.sleep(ctx, wait); err != nil {
				return nil, fmt.Errorf("upstream %s: %s: %w (after: %v)", r.Name, cl.what, err, last)
			}
		}
		resp, err := c.attempt(ctx, r, repo, cl)
		if err == nil {
			return resp, nil
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("upstream %s: %s: %w", r.Name, cl.what, ctx.Err())
		}
		var u *UnavailableError
		if !errors.As(err, &u) {
			return nil, err
		}
		last = err
		if u.RetryAfter > c.raCap {
			// Upstream asked for a longer pause than a request should hang
			// for: give up now and let the caller pass Retry-After on.
			break
		}
	}
	return nil, last
}

// attempt is one try of do.
func (c *Client) attempt(ctx context.Context, r *rule, repo string, cl call) (*http.Response, error) {
	rt, err := c.transport(ctx, r, repo)
	if err != nil {
		return nil, c.authError(r, cl, err)
	}
	req, err := http.NewRequestWithContext(ctx, cl.method, cl.url.String(), nil)
	if err != nil {
		return nil, err
	}
	if cl.accept != "" {
		req.Header.Set("Accept", cl.accept)
	}
	if cl.from > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", cl.from))
	}
	hc := &http.Client{Transport: rt, CheckRedirect: checkRedirect}
	resp, err := hc.Do(req)
	if err != nil {
		var te *transport.Error
		if errors.As(err, &te) {
			// The bearer transport's own token refresh failed.
			c.auth.drop(authKey{r.Name, repo})
			return nil, c.authError(r, cl, err)
		}
		return nil, &UnavailableError{Rule: r.Name, Err: fmt.Errorf("%s: %w", cl.what, err)}
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return resp, nil
	}
	defer resp.Body.Close()
	code, msg := ociErrorBody(resp.Body)
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return nil, fmt.Errorf("%w: %s %s", ErrNotFound, r.Name, cl.what)
	case retryable(resp.StatusCode):
		var cause error
		if code != "" || msg != "" {
			cause = fmt.Errorf("%s: %s", code, msg)
		}
		return nil, &UnavailableError{
			Rule:       r.Name,
			Status:     resp.StatusCode,
			RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), c.now()),
			Err:        cause,
		}
	}
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		// Start over with a fresh ping and token next time.
		c.auth.drop(authKey{r.Name, repo})
	}
	return nil, &StatusError{Status: resp.StatusCode, Code: code, Message: msg}
}

// authError classifies a failure to set up the authenticated transport: the
// ping or the token exchange.
func (c *Client) authError(r *rule, cl call, err error) error {
	var te *transport.Error
	if errors.As(err, &te) {
		if retryable(te.StatusCode) {
			return &UnavailableError{Rule: r.Name, Status: te.StatusCode, Err: fmt.Errorf("authenticating for %s: %w", cl.what, err)}
		}
		se := &StatusError{Status: te.StatusCode}
		if len(te.Errors) > 0 {
			se.Code, se.Message = string(te.Errors[0].Code), te.Errors[0].Message
		}
		return fmt.Errorf("upstream %s: authenticating for %s: %w", r.Name, cl.what, se)
	}
	var ne net.Error
	var ue *url.Error
	if errors.As(err, &ne) || errors.As(err, &ue) {
		return &UnavailableError{Rule: r.Name, Err: fmt.Errorf("authenticating for %s: %w", cl.what, err)}
	}
	return fmt.Errorf("upstream %s: authenticating for %s: %w", r.Name, cl.what, err)
}

// checkRedirect bounds redirects. net/http already drops Authorization on a
// redirect to another host, and go-containerregistry's transports add it only
// for the registry host.
func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= maxRedirects {
		return fmt.Errorf("stopped after %d redirects", maxRedirects)
	}
	return nil
}

// readLimited reads all of body, refusing more than limit bytes.
func readLimited(body io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(body, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("body larger than %d bytes", limit)
	}
	return b, nil
}

// joinAccept formats an Accept header value.
func joinAccept(types ...string) string { return strings.Join(types, ", ") }
