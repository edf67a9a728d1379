package peerbook

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)

func ids(es []Entry) []string {
	out := []string{}
	for _, e := range es {
		out = append(out, e.ID)
	}
	return out
}

func TestBook(t *testing.T) {
	type step func(b *Book)
	seen := func(id string, addrs []string, after time.Duration) step {
		return func(b *Book) { b.Seen(id, addrs, t0.Add(after)) }
	}
	told := func(id string, seq uint64, storeBytes int64, after time.Duration) step {
		return func(b *Book) {
			b.Told(id, Facts{StoreBytes: storeBytes, Blobs: 1, Version: "v", At: t0.Add(after), Seq: seq})
		}
	}
	tests := []struct {
		name  string
		max   int
		steps []step
		at    time.Duration
		want  []string
		check func(t *testing.T, es []Entry)
	}{
		{name: "a connected then disconnected peer keeps its addresses and is last seen at the disconnection",
			max: 8, steps: []step{seen("a", []string{"/ip4/10.0.0.1/tcp/5001"}, 0), seen("a", nil, time.Minute)}, at: time.Hour,
			want: []string{"a"},
			check: func(t *testing.T, es []Entry) {
				if !slices.Equal(es[0].Addrs, []string{"/ip4/10.0.0.1/tcp/5001"}) || !es[0].LastSeen.Equal(t0.Add(time.Minute)) {
					t.Errorf("entry %+v", es[0])
				}
			}},
		{name: "forgotten a day after last seen",
			max: 8, steps: []step{seen("a", nil, 0), seen("b", nil, time.Hour)}, at: 24*time.Hour + time.Minute,
			want: []string{"b"}},
		{name: "past the bound the peer seen longest ago goes",
			max: 2, steps: []step{seen("a", nil, 2*time.Minute), seen("b", nil, time.Minute), seen("c", nil, 3*time.Minute)}, at: 4 * time.Minute,
			want: []string{"a", "c"}},
		{name: "facts told make a peer seen, with no addresses",
			max: 8, steps: []step{told("a", 1, 100, time.Minute)}, at: 2 * time.Minute,
			want: []string{"a"},
			check: func(t *testing.T, es []Entry) {
				if es[0].Addrs != nil || es[0].Facts == nil || es[0].Facts.StoreBytes != 100 || !es[0].LastSeen.Equal(t0.Add(time.Minute)) {
					t.Errorf("entry %+v", es[0])
				}
			}},
		{name: "older facts never replace newer ones",
			max: 8, steps: []step{told("a", 5, 500, time.Minute), told("a", 4, 400, 2*time.Minute), told("a", 5, 999, 3*time.Minute)}, at: 4 * time.Minute,
			want: []string{"a"},
			check: func(t *testing.T, es []Entry) {
				if es[0].Facts.StoreBytes != 500 || !es[0].LastSeen.Equal(t0.Add(time.Minute)) {
					t.Errorf("entry %+v, facts %+v", es[0], *es[0].Facts)
				}
			}},
		{name: "a later sighting keeps the facts",
			max: 8, steps: []step{told("a", 1, 100, time.Minute), seen("a", []string{"/x"}, 2*time.Minute)}, at: 3 * time.Minute,
			want: []string{"a"},
			check: func(t *testing.T, es []Entry) {
				if es[0].Facts == nil || es[0].Facts.StoreBytes != 100 || !es[0].LastSeen.Equal(t0.Add(2*time.Minute)) {
					t.Errorf("entry %+v", es[0])
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := New(tt.max, 24*time.Hour)
			for _, s := range tt.steps {
				s(b)
			}
			es := b.List(t0.Add(tt.at))
			if got := ids(es); !slices.Equal(got, tt.want) {
				t.Fatalf("peers %v, want %v", got, tt.want)
			}
			if tt.check != nil {
				tt.check(t, es)
			}
		})
	}
}

// TestBookBounded: however many peers pass by, the book holds at most
// its bound, and the most recently seen stay.
func TestBookBounded(t *testing.T) {
	b := New(1024, 24*time.Hour)
	for i := range 5000 {
		b.Seen(fmt.Sprintf("p%05d", i), []string{"/x"}, t0.Add(time.Duration(i)*time.Second))
	}
	es := b.List(t0.Add(5000 * time.Second))
	if len(es) != 1024 || es[0].ID != "p03976" || es[len(es)-1].ID != "p04999" {
		t.Fatalf("%d peers, from %s to %s", len(es), es[0].ID, es[len(es)-1].ID)
	}
}

// TestListIsACopy: what List returns cannot change the book.
func TestListIsACopy(t *testing.T) {
	b := New(8, time.Hour)
	b.Seen("a", []string{"/x"}, t0)
	b.Told("a", Facts{StoreBytes: 1, Seq: 1, At: t0})
	es := b.List(t0)
	es[0].Addrs[0] = "/changed"
	es[0].Facts.StoreBytes = 2
	again := b.List(t0)
	if again[0].Addrs[0] != "/x" || again[0].Facts.StoreBytes != 1 {
		t.Fatalf("List shares its entries: %+v", again[0])
	}
}
