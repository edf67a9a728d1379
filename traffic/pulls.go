package traffic

import (
	"sync"
	"time"
)

// Pull is one image a client pulled through the node: a manifest GET.
type Pull struct {
	At time.Time
	// Repo is the repository as the client named it; Key the name the
	// policy decides on; Reference the tag or digest the client asked
	// for; Digest what that resolved to.
	Repo, Key, Reference, Digest string
}

// Pulls keeps the last pulls. It is safe for concurrent use.
type Pulls struct {
	mu   sync.Mutex
	len  int
	last []Pull // oldest first, at most len
}

// NewPulls keeps the last n pulls.
func NewPulls(n int) *Pulls { return &Pulls{len: max(1, n)} }

// Add records a pull.
func (p *Pulls) Add(x Pull) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.last = append(p.last, x)
	if extra := len(p.last) - p.len; extra > 0 {
		p.last = append(p.last[:0], p.last[extra:]...)
	}
}

// Recent are the kept pulls, newest first, those keep says yes to.
func (p *Pulls) Recent(keep func(Pull) bool) []Pull {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]Pull, 0, len(p.last))
	for i := len(p.last) - 1; i >= 0; i-- {
		if keep == nil || keep(p.last[i]) {
			out = append(out, p.last[i])
		}
	}
	return out
}
