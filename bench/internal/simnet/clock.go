// Package simnet is a discrete-event clock and a network of nodes with
// capped upload and download links whose flows share them fairly: what
// a fleet simulation (bench/cmd/swarmsim) runs the fleet's real decision
// code against, so that thousands of nodes take seconds, not a cluster.
package simnet

import (
	"container/heap"
	"time"
)

// Clock runs events in time order; events at the same time run in the
// order they were scheduled, so a run is the same every time.
type Clock struct {
	now time.Duration
	q   events
	seq uint64
}

// Event is a scheduled call; Cancel keeps it from running.
type Event struct {
	at       time.Duration
	seq      uint64
	f        func()
	canceled bool
}

// Cancel keeps the event from running (nil is fine).
func (e *Event) Cancel() {
	if e != nil {
		e.canceled = true
	}
}

// Now is the time since the start.
func (c *Clock) Now() time.Duration { return c.now }

// At schedules f at time t (now, if t is past).
func (c *Clock) At(t time.Duration, f func()) *Event {
	c.seq++
	e := &Event{at: max(t, c.now), seq: c.seq, f: f}
	heap.Push(&c.q, e)
	return e
}

// After schedules f d from now.
func (c *Clock) After(d time.Duration, f func()) *Event { return c.At(c.now+d, f) }

// Run runs events until none is left or the next is after until; it
// says whether the queue ran dry.
func (c *Clock) Run(until time.Duration) bool {
	for c.q.Len() > 0 {
		e := c.q[0]
		if e.at > until {
			return false
		}
		heap.Pop(&c.q)
		if e.canceled {
			continue
		}
		c.now = e.at
		e.f()
	}
	return true
}

type events []*Event

func (q events) Len() int { return len(q) }
func (q events) Less(i, j int) bool {
	if q[i].at != q[j].at {
		return q[i].at < q[j].at
	}
	return q[i].seq < q[j].seq
}
func (q events) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *events) Push(x any)   { *q = append(*q, x.(*Event)) }
func (q *events) Pop() any {
	old := *q
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	return e
}
