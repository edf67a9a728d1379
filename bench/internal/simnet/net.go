package simnet

import (
	"math"
	"slices"
	"time"
)

// Upstream is the source of flows from the upstream registry: it has no
// cap of its own, so a flow from it is bounded by its receiver's link.
const Upstream = -1

// Net is nodes with an upload and a download cap each (bytes per
// second, like a tc cap on each side of a container's link). The flows
// on a link share it equally, and a flow moves at the smaller of its two
// shares: min(src up / src's flows, dst down / dst's flows). A flow's
// start or end changes only the shares of the flows on its two links,
// so each costs the degree of its ends, not the size of the net.
type Net struct {
	clk      *Clock
	up, down []float64
	ups      [][]*Flow
	downs    [][]*Flow
	// levels remembers, within one reshare, each link's water level,
	// which every flow of that link and of its neighbours asks for.
	levels levels
	// bounds is level's scratch stack.
	bounds []float64
}

// Flow is bytes moving from one node to another.
type Flow struct {
	n        *Net
	src, dst int
	left     float64
	rate     float64
	last     time.Duration
	upAt     int // index in n.ups[src], or -1
	downAt   int
	end      *Event
	// endAt is when the flow ends at its rate. Its end event may come
	// earlier, and then puts itself off to endAt (arrive): a flow that
	// slows down, as every flow on a link does when one more starts
	// there, keeps its place in the clock's queue instead of moving
	// down it. At 4,000 simulated nodes those moves were a quarter of
	// the simulation's time.
	endAt    time.Duration
	done     func(ok bool)
	progress func(bytes float64)
	moved    float64
	finished bool
}

// NewNet makes n nodes with the given caps.
func NewNet(clk *Clock, n int, up, down float64) *Net {
	net := &Net{clk: clk, up: make([]float64, n), down: make([]float64, n), ups: make([][]*Flow, n), downs: make([][]*Flow, n), levels: newLevels(n)}
	for i := range n {
		net.up[i], net.down[i] = up, down
	}
	return net
}

// Start begins moving bytes from src (or Upstream) to dst. progress, if
// not nil, is told of the bytes moved as they move (at each change of
// rate and at the end); done is called once, with ok false if the flow
// was cancelled.
func (n *Net) Start(src, dst int, bytes int64, progress func(bytes float64), done func(ok bool)) *Flow {
	f := &Flow{n: n, src: src, dst: dst, left: float64(bytes), last: n.clk.Now(), upAt: -1, done: done, progress: progress}
	if src != Upstream {
		f.upAt = len(n.ups[src])
		n.ups[src] = append(n.ups[src], f)
	}
	f.downAt = len(n.downs[dst])
	n.downs[dst] = append(n.downs[dst], f)
	n.reshare(f)
	return f
}

// Moved is how many bytes the flow has moved so far.
func (f *Flow) Moved() float64 {
	if f.finished {
		return f.moved
	}
	return f.moved + f.rate*(f.n.clk.Now()-f.last).Seconds()
}

// Finished says whether the flow has ended, whole or cancelled.
func (f *Flow) Finished() bool { return f.finished }

// Rate is the flow's current rate in bytes per second.
func (f *Flow) Rate() float64 { return f.rate }

// Cancel stops the flow; done gets false.
func (f *Flow) Cancel() {
	if f.finished {
		return
	}
	f.n.remove(f)
	f.done(false)
}

// Kill cancels every flow to or from node i.
func (n *Net) Kill(i int) {
	for len(n.ups[i]) > 0 {
		n.ups[i][len(n.ups[i])-1].Cancel()
	}
	for len(n.downs[i]) > 0 {
		n.downs[i][len(n.downs[i])-1].Cancel()
	}
}

func (n *Net) remove(f *Flow) {
	f.settle()
	f.finished = true
	f.end.Cancel()
	if f.src != Upstream {
		l := n.ups[f.src]
		last := l[len(l)-1]
		l[f.upAt], last.upAt = last, f.upAt
		n.ups[f.src] = l[:len(l)-1]
	}
	l := n.downs[f.dst]
	last := l[len(l)-1]
	l[f.downAt], last.downAt = last, f.downAt
	n.downs[f.dst] = l[:len(l)-1]
	n.reshare(f)
}

// reshare recomputes the rates of the flows on f's two links.
func (n *Net) reshare(f *Flow) {
	// The links' flows are fixed from here to the end: a level
	// computed for one flow holds for the others.
	n.levels.forget()
	if f.src != Upstream {
		for _, g := range n.ups[f.src] {
			n.rerate(g)
		}
	}
	for _, g := range n.downs[f.dst] {
		n.rerate(g)
	}
}

// rerate sets a flow's rate, max-min fair two steps deep: on each of its
// links the flow gets the water level left by the other flows there,
// each bounded by what its own other link would give it (that link's
// water level, with its flows bounded by their equal shares). So a node
// uploading to receivers that are busy elsewhere still fills its link,
// as TCP flows through two bottlenecks do, and no link carries more than
// its cap.
func (n *Net) rerate(f *Flow) {
	f.settle()
	r := min(n.downLevel2(f.dst), n.upLevel1(f))
	if f.src != Upstream {
		r = min(r, n.upLevel2(f.src), n.downLevel1(f))
	}
	if r == f.rate && f.end != nil {
		return
	}
	f.rate = r
	wait := time.Duration(math.Ceil(f.left / r * float64(time.Second)))
	f.endAt = n.clk.Now() + wait
	if f.end != nil && f.end.idx >= 0 && !f.end.canceled {
		if f.end.at <= f.endAt {
			return
		}
		// As cancelling the end and scheduling it anew, in place.
		n.clk.again(f.end, wait)
		return
	}
	f.end.Cancel()
	f.end = n.clk.After(wait, f.arrive)
}

// arrive is the flow's end event: the end itself, or, if the flow
// slowed down since the event was set, the event put off to the end.
func (f *Flow) arrive() {
	if now := f.n.clk.Now(); now < f.endAt {
		f.n.clk.requeue(f.end, f.endAt-now)
		return
	}
	f.finish()
}

// upLevel1 is what f's upload link gives it with every flow there
// bounded by its download link's equal share (no bound from upstream).
func (n *Net) upLevel1(f *Flow) float64 {
	if f.src == Upstream {
		return math.Inf(1)
	}
	return min(n.downEqual(f), n.upLevel0(f.src))
}

// downLevel1 is what f's download link gives it with every flow there
// bounded by its upload link's equal share.
func (n *Net) downLevel1(f *Flow) float64 {
	return min(n.upEqual(f), n.downLevel0(f.dst))
}

// upEqual is the equal share of f's upload link (no bound from upstream).
func (n *Net) upEqual(f *Flow) float64 {
	if f.src == Upstream {
		return math.Inf(1)
	}
	return n.up[f.src] / float64(len(n.ups[f.src]))
}

// downEqual is the equal share of f's download link.
func (n *Net) downEqual(f *Flow) float64 {
	return n.down[f.dst] / float64(len(n.downs[f.dst]))
}

// level is the water level of a link of capacity c shared by flows each
// bounded by bound: every flow gets min(its bound, level), and they fill
// the link (or all reach their bounds).
func (n *Net) level(flows []*Flow, c float64, bound func(*Flow) float64) float64 {
	if len(flows) <= 1 {
		return c
	}
	// The bounds go on a stack shared by the calls that bound calls in
	// turn, each taking back what it pushed, so level allocates nothing
	// once the stack has grown.
	base := len(n.bounds)
	least := math.Inf(1)
	for _, g := range flows {
		b := bound(g)
		least = min(least, b)
		n.bounds = append(n.bounds, b)
	}
	bs := n.bounds[base:]
	left, k := c, len(bs)
	// When no flow's bound is below an equal share (the common case: a
	// holder's upload to receivers that have room), the level is that
	// share, and the bounds need no sort.
	if least < left/float64(k) {
		slices.Sort(bs)
		for _, b := range bs {
			if b >= left/float64(k) {
				break
			}
			left -= b
			k--
		}
	}
	n.bounds = n.bounds[:base]
	return left / float64(k)
}

// settle moves the flow's bytes up to now.
func (f *Flow) settle() {
	now := f.n.clk.Now()
	b := min(f.left, f.rate*(now-f.last).Seconds())
	f.last = now
	if b <= 0 {
		return
	}
	f.left -= b
	f.moved += b
	if f.progress != nil {
		f.progress(b)
	}
}

func (f *Flow) finish() {
	f.settle()
	if f.left > 1e-6 {
		// rounding: the rest moves at once
		f.moved += f.left
		if f.progress != nil {
			f.progress(f.left)
		}
	}
	f.left = 0
	f.n.remove(f)
	f.done(true)
}
