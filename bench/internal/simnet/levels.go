package simnet

// levels is the water levels of links computed since the last change of
// the net's flows, per node and kind: a reshare asks for the level of
// each link near the changed flow once per flow there, and it is the
// same every time until a flow starts or ends.
type levels struct {
	// epoch counts changes of the flows; a level is known if its
	// stamp is the current epoch.
	epoch uint64
	// up0, down0: each flow bounded by its other link's equal share
	// (upLevel0, downLevel0); up2, down2: by its other link's level
	// (upLevel2, downLevel2).
	up0, down0, up2, down2 memo
}

// memo is one kind of level, per node.
type memo struct {
	stamp []uint64
	value []float64
}

func newLevels(n int) levels {
	mk := func() memo { return memo{stamp: make([]uint64, n), value: make([]float64, n)} }
	return levels{up0: mk(), down0: mk(), up2: mk(), down2: mk()}
}

// forget drops every known level: the flows have changed.
func (l *levels) forget() { l.epoch++ }

// get returns node i's level, computing it with compute if not known.
func (m *memo) get(epoch uint64, i int, compute func() float64) float64 {
	if m.stamp[i] == epoch {
		return m.value[i]
	}
	v := compute()
	m.stamp[i], m.value[i] = epoch, v
	return v
}

// upLevel0 is the level of node s's upload link with each flow bounded
// by its download link's equal share.
func (n *Net) upLevel0(s int) float64 {
	return n.levels.up0.get(n.levels.epoch, s, func() float64 { return n.level(n.ups[s], n.up[s], n.downEqual) })
}

// downLevel0 is the level of node d's download link with each flow
// bounded by its upload link's equal share.
func (n *Net) downLevel0(d int) float64 {
	return n.levels.down0.get(n.levels.epoch, d, func() float64 { return n.level(n.downs[d], n.down[d], n.upEqual) })
}

// upLevel2 is the level of node s's upload link with each flow bounded
// by what its download link gives it (downLevel1).
func (n *Net) upLevel2(s int) float64 {
	return n.levels.up2.get(n.levels.epoch, s, func() float64 { return n.level(n.ups[s], n.up[s], n.downLevel1) })
}

// downLevel2 is the level of node d's download link with each flow
// bounded by what its upload link gives it (upLevel1).
func (n *Net) downLevel2(d int) float64 {
	return n.levels.down2.get(n.levels.epoch, d, func() float64 { return n.level(n.downs[d], n.down[d], n.upLevel1) })
}
