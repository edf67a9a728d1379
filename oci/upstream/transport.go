package upstream

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// authCache holds one authenticated transport per (rule, repository), so the
// ping and the token exchange happen once per TTL and not per request. It is
// an LRU bounded by size; concurrent callers for the same key wait for one
// creation instead of each fetching a token.
type authCache struct {
	mu    sync.Mutex
	size  int
	ttl   time.Duration
	now   func() time.Time
	items map[authKey]*list.Element // of *authEntry
	lru   list.List                 // front = most recently used
}

type authKey struct{ rule, repo string }

type authEntry struct {
	key     authKey
	ready   chan struct{} // closed once rt/err are set
	rt      http.RoundTripper
	err     error
	expires time.Time
}

func newAuthCache(size int, ttl time.Duration, now func() time.Time) *authCache {
	return &authCache{size: size, ttl: ttl, now: now, items: make(map[authKey]*list.Element)}
}

// get returns the cached transport for key, creating it with create when
// missing or expired.
func (a *authCache) get(ctx context.Context, key authKey, create func(context.Context) (http.RoundTripper, error)) (http.RoundTripper, error) {
	// A waiter whose creator gave up because of the creator's own context
	// tries again itself; bounded so a flapping caller cannot spin.
	for range 3 {
		a.mu.Lock()
		var e *authEntry
		if el, ok := a.items[key]; ok {
			e = el.Value.(*authEntry)
			if isDone(e) && !a.now().Before(e.expires) {
				a.removeLocked(el)
				e = nil
			} else {
				a.lru.MoveToFront(el)
			}
		}
		if e == nil {
			e = &authEntry{key: key, ready: make(chan struct{})}
			a.items[key] = a.lru.PushFront(e)
			for a.lru.Len() > a.size {
				a.removeLocked(a.lru.Back())
			}
			a.mu.Unlock()

			rt, err := create(ctx)
			a.mu.Lock()
			e.rt, e.err, e.expires = rt, err, a.now().Add(a.ttl)
			if err != nil {
				if el, ok := a.items[key]; ok && el.Value.(*authEntry) == e {
					a.removeLocked(el)
				}
			}
			close(e.ready)
			a.mu.Unlock()
			return rt, err
		}
		a.mu.Unlock()

		select {
		case <-e.ready:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if e.err == nil {
			return e.rt, nil
		}
		if errors.Is(e.err, context.Canceled) || errors.Is(e.err, context.DeadlineExceeded) {
			continue
		}
		return nil, e.err
	}
	return create(ctx)
}

// drop forgets key, e.g. after the upstream refused its credentials.
func (a *authCache) drop(key authKey) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if el, ok := a.items[key]; ok && isDone(el.Value.(*authEntry)) {
		a.removeLocked(el)
	}
}

func (a *authCache) removeLocked(el *list.Element) {
	e := el.Value.(*authEntry)
	if cur, ok := a.items[e.key]; ok && cur == el {
		delete(a.items, e.key)
	}
	a.lru.Remove(el)
}

func isDone(e *authEntry) bool {
	select {
	case <-e.ready:
		return true
	default:
		return false
	}
}

// transport returns the authenticated transport for repo on r.
func (c *Client) transport(ctx context.Context, r *rule, repo string) (http.RoundTripper, error) {
	return c.auth.get(ctx, authKey{r.Name, repo}, func(ctx context.Context) (http.RoundTripper, error) {
		return c.newTransport(ctx, r, repo)
	})
}

// newTransport pings r and runs the token flow for pull on repo, with the
// credentials r's keychain has for r's host (anonymous when none).
func (c *Client) newTransport(ctx context.Context, r *rule, repo string) (http.RoundTripper, error) {
	target := r.reg.Repo(repo)
	auth := authn.Anonymous
	if r.Auth != nil {
		a, err := authn.Resolve(ctx, r.Auth, target)
		if err != nil {
			return nil, fmt.Errorf("upstream %s: credentials: %w", r.Name, err)
		}
		if a != nil {
			auth = a
		}
	}
	var base http.RoundTripper = c.base
	if r.URL.Scheme == "https" {
		// name.Registry treats loopback and RFC 1918 hosts as possibly
		// plain-http and the ping would then race http against https; an
		// https rule must never be downgraded.
		base = &httpsOnly{host: r.URL.Host, inner: base}
	}
	rt, err := transport.NewWithContext(ctx, r.reg, auth, base, []string{target.Scope(transport.PullScope)})
	if err != nil {
		return nil, err
	}
	c.log.Debug("upstream transport ready", "rule", r.Name, "repo", repo, "anonymous", auth == authn.Anonymous)
	return rt, nil
}

// httpsOnly refuses plain-http requests to the registry host.
type httpsOnly struct {
	host  string
	inner http.RoundTripper
}

func (h *httpsOnly) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != "https" && req.URL.Host == h.host {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, fmt.Errorf("refusing plain http to https upstream %s", h.host)
	}
	return h.inner.RoundTrip(req)
}
