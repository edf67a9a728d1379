package policy

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// Credential cache bounds. bcrypt is deliberately slow (~50-100 ms at
// cost 10) and a registry pull makes dozens of requests with the same
// basic credentials, so results are remembered briefly.
const (
	credentialTTL        = 5 * time.Minute
	maxCachedCredentials = 4096
)

// dummyHash is compared against when no identity has the username, so an
// unknown username costs what a known one does and timing does not tell
// which usernames exist. It is the bcrypt (cost 10) of a random string.
const dummyHash = "$2a$10$eWcBl4UinLjtAhvDZH.9nutrUl3ompmwSML69y0XS9Hehvba5/zZ."

// credentialCache remembers Authenticate results (both outcomes) per
// (username, password), keyed by an HMAC under a per-policy random key so
// that the cache never holds anything a memory dump could brute-force
// faster than bcrypt. A new policy brings a new, empty cache.
type credentialCache struct {
	key     [32]byte
	mu      sync.Mutex
	entries map[[32]byte]*credentialEntry
}

type credentialEntry struct {
	done    chan struct{} // closed when names/ok are set
	names   []string
	ok      bool
	expires time.Time
}

func newCredentialCache() *credentialCache {
	c := &credentialCache{entries: make(map[[32]byte]*credentialEntry)}
	rand.Read(c.key[:])
	return c
}

func (c *credentialCache) cacheKey(username, password string) [32]byte {
	m := hmac.New(sha256.New, c.key[:])
	m.Write([]byte(username))
	m.Write([]byte{0})
	m.Write([]byte(password))
	var k [32]byte
	m.Sum(k[:0])
	return k
}

// lookup returns the cached result for the credentials, computing it with
// check when absent or stale. Concurrent lookups of the same credentials
// wait for one bcrypt rather than each paying for it.
func (c *credentialCache) lookup(username, password string, now time.Time, check func() ([]string, bool)) ([]string, bool) {
	k := c.cacheKey(username, password)
	c.mu.Lock()
	e := c.entries[k]
	if e != nil {
		select {
		case <-e.done:
			if now.Before(e.expires) {
				c.mu.Unlock()
				return e.names, e.ok
			}
			e = nil // stale: compute again below
		default:
			c.mu.Unlock()
			<-e.done
			return e.names, e.ok
		}
	}
	if len(c.entries) >= maxCachedCredentials {
		c.evict(now)
	}
	e = &credentialEntry{done: make(chan struct{})}
	c.entries[k] = e
	c.mu.Unlock()

	e.names, e.ok = check()
	e.expires = now.Add(credentialTTL)
	close(e.done)
	return e.names, e.ok
}

// evict makes room: first whatever has expired, then, if the cache is
// still full (many distinct credentials, e.g. a password-guessing
// client), arbitrary finished entries until a quarter is free.
func (c *credentialCache) evict(now time.Time) {
	for k, e := range c.entries {
		select {
		case <-e.done:
			if !now.Before(e.expires) {
				delete(c.entries, k)
			}
		default:
		}
	}
	for k, e := range c.entries {
		if len(c.entries) < maxCachedCredentials*3/4 {
			return
		}
		select {
		case <-e.done:
			delete(c.entries, k)
		default:
		}
	}
}

// checkCredentials runs bcrypt against every identity with the username
// and returns the names of those whose hash matches.
func checkCredentials(ids []Identity, username, password string) ([]string, bool) {
	var names []string
	found := false
	for _, id := range ids {
		if id.Username == "" || id.Username != username {
			continue
		}
		found = true
		if bcrypt.CompareHashAndPassword([]byte(id.PasswordHash), []byte(password)) == nil {
			names = append(names, id.Name)
		}
	}
	if !found {
		_ = bcrypt.CompareHashAndPassword([]byte(dummyHash), []byte(password))
	}
	return names, len(names) > 0
}
