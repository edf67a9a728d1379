package simnet

// queue is the clock's events as a 4-ary min-heap by (at, seq): every
// event has its own seq, so the order is total and any heap pops the
// same sequence; four children a node make the heap shallower, and its
// own methods spare container/heap's interface calls.
type queue []*Event

// arity is the children a node.
const arity = 4

func (e *Event) before(o *Event) bool {
	if e.at != o.at {
		return e.at < o.at
	}
	return e.seq < o.seq
}

func (q *queue) push(e *Event) {
	e.idx = len(*q)
	*q = append(*q, e)
	q.up(e.idx)
}

// pop removes the first event.
func (q *queue) pop() {
	h := *q
	last := len(h) - 1
	h[0].idx = -1
	if last > 0 {
		h[0], h[last].idx = h[last], 0
	}
	h[last] = nil
	*q = h[:last]
	if last > 0 {
		q.down(0)
	}
}

// fix restores the order after the event at i changed its time.
func (q queue) fix(i int) {
	if !q.up(i) {
		q.down(i)
	}
}

// up moves the event at i towards the root; it says whether it moved.
func (q queue) up(i int) bool {
	e := q[i]
	start := i
	for i > 0 {
		p := (i - 1) / arity
		if !e.before(q[p]) {
			break
		}
		q[i] = q[p]
		q[i].idx = i
		i = p
	}
	q[i], e.idx = e, i
	return i != start
}

func (q queue) down(i int) {
	e := q[i]
	n := len(q)
	for {
		c := i*arity + 1
		if c >= n {
			break
		}
		m := c
		for j := c + 1; j < min(c+arity, n); j++ {
			if q[j].before(q[m]) {
				m = j
			}
		}
		if !q[m].before(e) {
			break
		}
		q[i] = q[m]
		q[i].idx = i
		i = m
	}
	q[i], e.idx = e, i
}
