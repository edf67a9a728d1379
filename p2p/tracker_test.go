package p2p

import (
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/shoal-dev/shoal/internal/testpeer"
	"github.com/shoal-dev/shoal/swarm"
)

// How often members are told to ask for news follows the node's upload
// rate as it reads it when it answers (swarm.Tracker.SetUplink): a node
// on a fast link is asked more often than a fixed rate would allow.
func TestTrackerStatusEveryReadsTheUplink(t *testing.T) {
	d := digest.FromString("blob")
	now := time.Now()
	for _, tc := range []struct {
		name   string
		uplink float64 // bytes a second
		faster bool
	}{
		{"nothing measured", 0, false},
		{"4 Mbit/s", 4e6 / 8, false},
		{"100 Mbit/s", 100e6 / 8, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rate := 0.0
			tr := newTracker(func() float64 { return rate })
			for range 300 {
				tr.note(d, testpeer.ID(t), 0, nil, now)
			}
			fixed := tr.statusEvery(d)
			rate = tc.uplink
			got := tr.statusEvery(d)
			if (got < fixed) != tc.faster || got < swarm.StatusInterval {
				t.Fatalf("every %v at %.0f B/s, %v with nothing measured; want faster: %v", got, tc.uplink, fixed, tc.faster)
			}
		})
	}
}
