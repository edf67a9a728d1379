// Package simnet is a discrete-event clock and a network of nodes with
// capped upload and download links whose flows share them fairly: what
// a fleet simulation (bench/cmd/swarmsim) runs the fleet's real decision
// code against, so that thousands of nodes take seconds, not a cluster.
package simnet

import "time"

// Clock runs events in time order; events at the same time run in the
// order they were scheduled, so a run is the same every time.
type Clock struct {
	now time.Duration
	q   queue
	seq uint64
}

// Event is a scheduled call; Cancel keeps it from running.
type Event struct {
	at       time.Duration
	seq      uint64
	f        func()
	canceled bool
	// idx is the event's index in the queue, or -1 once out of it.
	idx int
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
	c.q.push(e)
	return e
}

// After schedules f d from now.
func (c *Clock) After(d time.Duration, f func()) *Event { return c.At(c.now+d, f) }

// again moves e, waiting in the queue and not cancelled, to d from now,
// in the order of an event scheduled now: what cancelling it and
// scheduling its call anew would do, without leaving the cancelled
// event in the queue.
func (c *Clock) again(e *Event, d time.Duration) {
	c.seq++
	e.at, e.seq = max(c.now+d, c.now), c.seq
	c.q.fix(e.idx)
}

// requeue schedules e, which has just run and left the queue, to run
// again d from now, in the order of an event scheduled now.
func (c *Clock) requeue(e *Event, d time.Duration) {
	c.seq++
	e.at, e.seq = c.now+max(d, 0), c.seq
	c.q.push(e)
}

// Run runs events until none is left or the next is after until; it
// says whether the queue ran dry.
func (c *Clock) Run(until time.Duration) bool {
	for len(c.q) > 0 {
		e := c.q[0]
		if e.at > until {
			return false
		}
		c.q.pop()
		if e.canceled {
			continue
		}
		c.now = e.at
		e.f()
	}
	return true
}
