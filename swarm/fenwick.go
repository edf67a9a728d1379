package swarm

// fenwick is a binary indexed tree of counts over [0, n): adding to one
// index and summing a prefix each take O(log n).
type fenwick []int

func newFenwick(n int) fenwick { return make(fenwick, n+1) }

// add adds v at index i.
func (f fenwick) add(i, v int) {
	for i++; i < len(f); i += i & -i {
		f[i] += v
	}
}

// sum is the total over [0, n).
func (f fenwick) sum(n int) int {
	t := 0
	for i := min(n, len(f)-1); i > 0; i -= i & -i {
		t += f[i]
	}
	return t
}
