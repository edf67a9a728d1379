// Package upstream is the client side of the pull-through mirror: it fetches
// manifests, blobs, tags and referrers from the upstream registries named by
// a node's rules. It authenticates with go-containerregistry's transport
// (ping, Basic or Bearer token flow), caches one authenticated transport per
// rule and repository, retries idempotent requests that fail before any body
// byte is read, and sorts failures into ErrNotFound, *UnavailableError and
// *StatusError. It stores nothing.
package upstream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Rule is one upstream registry.
type Rule struct {
	// Name is what callers select the rule by, e.g. "docker.io".
	Name string
	// URL is the registry's base, e.g. https://registry-1.docker.io. It has
	// no path. http is meant for loopback and test upstreams.
	URL *url.URL
	// Auth supplies credentials for the upstream; nil means anonymous.
	Auth authn.Keychain
}

// Options configure a Client.
type Options struct {
	Rules []Rule
	// Transport is the base transport; nil means a tuned clone of
	// http.DefaultTransport.
	Transport http.RoundTripper
	Logger    *slog.Logger
	UserAgent string
	// Retries is how many attempts an idempotent request gets when it fails
	// before any body byte is read (network error, 5xx, 429); default 3.
	Retries int
}

const (
	defaultRetries   = 3
	defaultUserAgent = "shoal"
	// authTTL is how long an authenticated transport is reused. It is below
	// the usual token life (Docker Hub: 300 s); go-containerregistry's bearer
	// transport also refreshes its token itself when a request draws a 401
	// challenge, which covers shorter-lived tokens.
	authTTL = 4 * time.Minute
	// authCacheSize bounds the number of cached (rule, repository) transports.
	authCacheSize = 1024
	// retryAfterCap is the longest Retry-After a request waits for before
	// retrying; a longer one ends the attempts at once with the value in the
	// *UnavailableError.
	retryAfterCap = 2 * time.Second
	maxRedirects  = 10
)

// Client fetches from upstream registries. It is safe for concurrent use.
type Client struct {
	rules map[string]*rule
	order []string
	base  http.RoundTripper
	log   *slog.Logger
	tries int
	auth  *authCache
	now   func() time.Time
	sleep func(ctx context.Context, d time.Duration) error
	delay func(attempt int) time.Duration // backoff before attempt (1-based retry number)
	raCap time.Duration
}

type rule struct {
	Rule
	reg name.Registry
}

// New checks the rules and builds a Client.
func New(opts Options) (*Client, error) {
	c := &Client{
		rules: make(map[string]*rule, len(opts.Rules)),
		log:   opts.Logger,
		tries: opts.Retries,
		now:   time.Now,
		sleep: sleepCtx,
		delay: backoff,
		raCap: retryAfterCap,
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.tries <= 0 {
		c.tries = defaultRetries
	}
	for _, r := range opts.Rules {
		if r.Name == "" {
			return nil, errors.New("upstream: rule without a name")
		}
		if _, dup := c.rules[r.Name]; dup {
			return nil, fmt.Errorf("upstream: rule %q given twice", r.Name)
		}
		if r.URL == nil {
			return nil, fmt.Errorf("upstream: rule %q has no URL", r.Name)
		}
		u := *r.URL
		if u.Scheme != "https" && u.Scheme != "http" {
			return nil, fmt.Errorf("upstream: rule %q: URL scheme %q is not http or https", r.Name, u.Scheme)
		}
		if u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
			return nil, fmt.Errorf("upstream: rule %q: URL %q must be scheme://host[:port] only", r.Name, r.URL.Redacted())
		}
		var nopts []name.Option
		if u.Scheme == "http" {
			nopts = append(nopts, name.Insecure)
			if !isLoopback(u.Hostname()) {
				c.log.Warn("upstream uses plain http", "rule", r.Name, "url", u.String())
			}
		}
		reg, err := name.NewRegistry(u.Host, nopts...)
		if err != nil {
			return nil, fmt.Errorf("upstream: rule %q: %w", r.Name, err)
		}
		u.Path = ""
		// name.NewRegistry may canonicalise the host (docker.io becomes
		// index.docker.io); requests must go where the ping went.
		u.Host = reg.RegistryStr()
		r.URL = &u
		c.rules[r.Name] = &rule{Rule: r, reg: reg}
		c.order = append(c.order, r.Name)
	}
	base := opts.Transport
	if base == nil {
		base = defaultTransport()
	}
	ua := opts.UserAgent
	if ua == "" {
		ua = defaultUserAgent
	}
	c.base = transport.NewUserAgent(base, ua)
	c.auth = newAuthCache(authCacheSize, authTTL, c.now)
	return c, nil
}

// Rule returns the rule called name.
func (c *Client) Rule(name string) (Rule, bool) {
	r, ok := c.rules[name]
	if !ok {
		return Rule{}, false
	}
	return r.copy(), true
}

// Rules returns the rules in the order they were given.
func (c *Client) Rules() []Rule {
	out := make([]Rule, 0, len(c.order))
	for _, n := range c.order {
		out = append(out, c.rules[n].copy())
	}
	return out
}

func (r *rule) copy() Rule {
	out := r.Rule
	u := *r.URL
	out.URL = &u
	return out
}

// defaultTransport is http.DefaultTransport with bounded connection and
// header waits. There is no overall timeout: blob bodies may be gigabytes and
// callers bound them with their context.
func defaultTransport() http.RoundTripper {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	t.TLSHandshakeTimeout = 10 * time.Second
	t.ResponseHeaderTimeout = 60 * time.Second
	t.ExpectContinueTimeout = time.Second
	t.IdleConnTimeout = 90 * time.Second
	t.MaxIdleConns = 256
	t.MaxIdleConnsPerHost = 32
	return t
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// backoff is the wait before retry n (1-based): 100ms, 300ms, 900ms, … capped.
func backoff(n int) time.Duration {
	d := 100 * time.Millisecond
	for i := 1; i < n && d < 3*time.Second; i++ {
		d *= 3
	}
	return min(d, 3*time.Second)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (c *Client) lookup(name string) (*rule, error) {
	r, ok := c.rules[name]
	if !ok {
		return nil, fmt.Errorf("upstream: no rule %q", name)
	}
	return r, nil
}

// endpoint is the URL of /v2/<repo>/<tail> on r.
func (r *rule) endpoint(repo, tail string) *url.URL {
	return &url.URL{Scheme: r.URL.Scheme, Host: r.URL.Host, Path: "/v2/" + repo + "/" + tail}
}

// sameOrigin reports whether u points at r's registry (for pagination links).
func (r *rule) sameOrigin(u *url.URL) bool {
	return u.Host == r.URL.Host && u.Scheme == r.URL.Scheme
}
