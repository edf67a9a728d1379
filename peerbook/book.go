// Package peerbook is a node's bounded memory of the peers it has seen:
// each peer's addresses, when it was last seen, and the facts it last
// told about itself (store size, blob count, version). It is for people
// looking at the fleet: nothing in it decides what content is fetched or
// served, since a peer's facts are only its own claims.
package peerbook

import (
	"slices"
	"sort"
	"sync"
	"time"
)

// Facts are what a peer told about itself, and when this node heard it.
type Facts struct {
	StoreBytes int64
	Blobs      int
	Version    string
	At         time.Time
	// Seq orders a peer's announcements: an older one (replayed by a
	// forwarder, say) never replaces a newer one.
	Seq uint64
}

// Entry is one peer the book remembers.
type Entry struct {
	ID string
	// Addrs are the addresses it was last reached at; nil when it was
	// only heard of (its facts came through other peers).
	Addrs []string
	// LastSeen is when it was last connected or last told its facts.
	LastSeen time.Time
	// Facts are the last it told; nil when it told none.
	Facts *Facts
}

// Book remembers at most Max peers, each until Forget after it was last
// seen; past Max, the peer seen longest ago is forgotten first. It is
// safe for concurrent use.
type Book struct {
	max    int
	forget time.Duration

	mu      sync.Mutex
	entries map[string]*Entry
}

// New is a book of at most limit peers, each forgotten forget after it
// was last seen.
func New(limit int, forget time.Duration) *Book {
	return &Book{max: max(1, limit), forget: forget, entries: map[string]*Entry{}}
}

// Seen records that peer id was seen at at, reached at addrs; nil addrs
// keep the addresses it had (a disconnection, say).
func (b *Book) Seen(id string, addrs []string, at time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e := b.entry(id, at)
	if addrs != nil {
		e.Addrs = slices.Clone(addrs)
	}
	if at.After(e.LastSeen) {
		e.LastSeen = at
	}
}

// Told records facts peer id told about itself. It reports false, and
// keeps what it had, when they are older (by Seq) than the last it told.
func (b *Book) Told(id string, f Facts) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if e, ok := b.entries[id]; ok && e.Facts != nil && f.Seq <= e.Facts.Seq {
		return false
	}
	e := b.entry(id, f.At)
	e.Facts = &f
	if f.At.After(e.LastSeen) {
		e.LastSeen = f.At
	}
	return true
}

// entry is id's entry, made (and room made for it) when new.
func (b *Book) entry(id string, at time.Time) *Entry {
	if e, ok := b.entries[id]; ok {
		return e
	}
	b.expire(at)
	if len(b.entries) >= b.max {
		var oldest *Entry
		for _, e := range b.entries {
			if oldest == nil || e.LastSeen.Before(oldest.LastSeen) {
				oldest = e
			}
		}
		delete(b.entries, oldest.ID)
	}
	e := &Entry{ID: id, LastSeen: at}
	b.entries[id] = e
	return e
}

// expire forgets the peers last seen more than forget before now.
func (b *Book) expire(now time.Time) {
	for id, e := range b.entries {
		if now.Sub(e.LastSeen) > b.forget {
			delete(b.entries, id)
		}
	}
}

// List is every peer remembered at now, by ID.
func (b *Book) List(now time.Time) []Entry {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.expire(now)
	out := make([]Entry, 0, len(b.entries))
	for _, e := range b.entries {
		c := *e
		c.Addrs = slices.Clone(e.Addrs)
		if e.Facts != nil {
			f := *e.Facts
			c.Facts = &f
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
