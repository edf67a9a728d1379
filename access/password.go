package access

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/shoal-dev/shoal/oci"
	"github.com/shoal-dev/shoal/policy"
)

// Password checks cost a bcrypt hash each (about 60 ms of CPU at the
// policy's usual cost), and basic credentials are checked on every
// request that carries them. So a credential verified recently is
// remembered, and the checks that must hash are rate-limited per client
// address, so that unauthenticated guessing cannot take the node's CPU.
const (
	passwordRate    = rate.Limit(5) // hashes per second per client address
	passwordBurst   = 10
	verifiedTTL     = 5 * time.Minute
	maxVerified     = 4096
	maxRateLimiters = 4096
)

// errTooManyPasswords answers a client address over its rate.
var errTooManyPasswords = func() *oci.Error {
	e := oci.ErrTooManyRequests.WithMessage("too many password checks from this address; wait and try again")
	e.RetryAfter = 1
	return e
}()

// passwordChecker verifies basic credentials against a policy.
type passwordChecker struct {
	// key makes the remembered entries' keys useless outside this
	// process; the password itself is never kept.
	key [32]byte
	now func() time.Time

	mu       sync.Mutex
	verified map[[32]byte]verifiedCredential
	limiters map[string]*rate.Limiter

	// hashed counts bcrypt checks (tests).
	hashed atomic.Int64
}

type verifiedCredential struct {
	identities []string
	expires    time.Time
}

func newPasswordChecker(now func() time.Time) *passwordChecker {
	pc := &passwordChecker{now: now, verified: map[[32]byte]verifiedCredential{}, limiters: map[string]*rate.Limiter{}}
	_, _ = rand.Read(pc.key[:])
	return pc
}

// check returns the identities user's password gives under p, an error
// naming the user when it is wrong, or errTooManyPasswords.
func (pc *passwordChecker) check(p *policy.Policy, remoteAddr, user, pass string) ([]string, error) {
	mac := hmac.New(sha256.New, pc.key[:])
	mac.Write([]byte(p.Digest.String()))
	mac.Write([]byte{0})
	mac.Write([]byte(user))
	mac.Write([]byte{0})
	mac.Write([]byte(pass))
	var k [32]byte
	copy(k[:], mac.Sum(nil))
	now := pc.now()

	pc.mu.Lock()
	if v, ok := pc.verified[k]; ok && now.Before(v.expires) {
		pc.mu.Unlock()
		return v.identities, nil
	}
	lim := pc.limiterLocked(clientHost(remoteAddr))
	pc.mu.Unlock()
	if !lim.AllowN(now, 1) {
		return nil, errTooManyPasswords
	}
	pc.hashed.Add(1)
	ids, ok := p.Authenticate(user, pass)
	if !ok {
		return nil, fmt.Errorf("invalid username or password for %q", user)
	}
	pc.mu.Lock()
	if len(pc.verified) >= maxVerified {
		clear(pc.verified)
	}
	pc.verified[k] = verifiedCredential{identities: ids, expires: now.Add(verifiedTTL)}
	pc.mu.Unlock()
	return ids, nil
}

func (pc *passwordChecker) limiterLocked(host string) *rate.Limiter {
	if l, ok := pc.limiters[host]; ok {
		return l
	}
	if len(pc.limiters) >= maxRateLimiters {
		clear(pc.limiters) // a flood of addresses forgets, never grows
	}
	l := rate.NewLimiter(passwordRate, passwordBurst)
	pc.limiters[host] = l
	return l
}

func clientHost(remoteAddr string) string {
	if host, _, err := net.SplitHostPort(remoteAddr); err == nil {
		return host
	}
	return remoteAddr
}
