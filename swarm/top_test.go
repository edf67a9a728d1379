package swarm

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestTop(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 2, 3, 10, 64, 65, 100, 512} {
		for _, k := range []int{0, 1, 2, 7, 64, 600} {
			for _, distinct := range []int{1, 3, 1000} {
				s := make([]int, n)
				for i := range s {
					s[i] = rng.IntN(distinct)
				}
				want := slices.Clone(s)
				slices.Sort(want)
				top(s, k, cmp.Compare[int])
				m := min(k, n)
				if !slices.Equal(s[:m], want[:m]) {
					t.Fatalf("n %d k %d distinct %d: top %v, want %v", n, k, distinct, s[:m], want[:m])
				}
				rest := slices.Clone(s)
				slices.Sort(rest)
				if !slices.Equal(rest, want) {
					t.Fatalf("n %d k %d: elements lost or duplicated", n, k)
				}
			}
		}
	}
}
