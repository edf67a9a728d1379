package pull

import (
	"fmt"
	"slices"
	"testing"

	"github.com/shoal-dev/shoal/repository"
)

func TestTagPeersRemembersTheLastAndStaysBounded(t *testing.T) {
	for _, tc := range []struct {
		name  string
		sets  int // repositories r0, r1, … each resolved by peer p<i>
		again string
		want  map[string][]string // repository → of
	}{
		{name: "none", want: map[string][]string{"r0": nil}},
		{name: "one", sets: 1, want: map[string][]string{"r0": {"p0"}, "r1": nil}},
		{name: "the last answer wins", sets: 2, again: "r0", want: map[string][]string{"r0": {"again"}, "r1": {"p1"}}},
		{name: "past the bound the newest is kept", sets: maxTagPeers + 10, want: map[string][]string{fmt.Sprintf("r%d", maxTagPeers+9): {fmt.Sprintf("p%d", maxTagPeers+9)}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var tp tagPeers
			for i := range tc.sets {
				tp.set(repository.Local(fmt.Sprintf("r%d", i)), fmt.Sprintf("p%d", i))
			}
			tp.set(repository.Local("ignored"), "") // no peer named: nothing to remember
			if tc.again != "" {
				tp.set(repository.Local(tc.again), "again")
			}
			if len(tp.peers) > maxTagPeers {
				t.Errorf("remembers %d repositories, more than %d", len(tp.peers), maxTagPeers)
			}
			if got := tp.of(repository.Local("ignored")); got != nil {
				t.Errorf("of(ignored) = %q", got)
			}
			for repo, want := range tc.want {
				if got := tp.of(repository.Local(repo)); !slices.Equal(got, want) {
					t.Errorf("of(%s) = %q, want %q", repo, got, want)
				}
			}
		})
	}
}
