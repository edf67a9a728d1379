package p2p

import (
	"testing"
	"time"
)

// Every piece request waits for the node's intake, a fetch's first
// (nothing else out) too, unless that fetch's reader starves: a node
// fetching four layers on a link with room for two had four pieces in
// flight at half their holders' rate (swarm.NewIntake, bench/RESULTS.md).
func TestIntakeAdmitsFirstRequestsOnlyWithRoom(t *testing.T) {
	tests := []struct {
		name     string
		out      int // requests already out, nothing measured yet
		first    bool
		starving bool
		want     bool
	}{
		{"room left", 1, true, false, true},
		{"full, first request", 2, true, false, false},
		{"full, later request", 2, false, false, false},
		{"full, first request of a starving fetch", 2, true, true, true},
		{"full, later request of a starving fetch", 2, false, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newFleet(t, 1)[0].h
			// The intake has measured nothing: it admits its minimum.
			for range tt.out {
				if !h.admitIntake(time.Now(), true, false) {
					t.Fatalf("request %d of the intake's minimum refused", h.intake.active()+1)
				}
			}
			if got := h.admitIntake(time.Now(), tt.first, tt.starving); got != tt.want {
				t.Fatalf("admitted %v, want %v (%d out)", got, tt.want, tt.out)
			}
			want := tt.out
			if tt.want {
				want++
			}
			if n := h.intake.active(); n != want {
				t.Fatalf("%d requests counted, want %d", n, want)
			}
		})
	}
}
