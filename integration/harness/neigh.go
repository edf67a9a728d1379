package harness

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// neighPath is where the kernel's IPv4 neighbour (ARP) table limits are.
const neighPath = "/proc/sys/net/ipv4/neigh/default/"

// RoomForNeighbours makes the host's IPv4 neighbour table hold a full
// mesh of n containers on one bridge, and returns what puts the limits
// back. The table is one for the whole kernel: every container's entries
// count against the same gc_thresh3 (1024 by default). A mesh of n
// containers needs about n² entries (each container's for the others and
// the gateway, and the host's for each). At 50 node containers the table
// overflowed ("neighbor table overflow!" in the kernel log): each node
// could reach only the 31 peers it had resolved first, and none could
// reach the upstream on the gateway ("connect: no route to host"), so a
// rollout failed on every node. On a fleet of real machines each host
// has its own table and only its own neighbours in it; this is an
// artefact of many hosts sharing one kernel. Limits already high enough
// are left alone. Writing them needs root, as tc does.
func RoomForNeighbours(n int) (restore func() error, err error) {
	need := n*(n+2) + 256
	names := []string{"gc_thresh1", "gc_thresh2", "gc_thresh3"}
	old := make([]int, len(names))
	for i, name := range names {
		b, err := os.ReadFile(neighPath + name)
		if err != nil {
			return nil, fmt.Errorf("reading the neighbour table's limits: %w", err)
		}
		if old[i], err = strconv.Atoi(strings.TrimSpace(string(b))); err != nil {
			return nil, fmt.Errorf("reading %s: %w", name, err)
		}
	}
	nothing := func() error { return nil }
	if old[2] >= 2*need {
		return nothing, nil
	}
	// gc_thresh2 is where the kernel starts dropping entries older than
	// 5 s, gc_thresh3 where it refuses new ones; both above what the
	// mesh needs, thresh1 (below which nothing is collected) as it was.
	set := func(vals []int, lowering bool) error {
		// Raised from the top down and lowered from the bottom up, so
		// that thresh1 ≤ thresh2 ≤ thresh3 holds at every step.
		order := []int{2, 1}
		if lowering {
			order = []int{1, 2}
		}
		for _, i := range order {
			if err := os.WriteFile(neighPath+names[i], []byte(strconv.Itoa(vals[i])), 0o644); err != nil {
				return fmt.Errorf("setting %s: %w", names[i], err)
			}
		}
		return nil
	}
	if err := set([]int{old[0], max(old[1], need), 2 * need}, false); err != nil {
		_ = set(old, true)
		return nil, err
	}
	return func() error { return set(old, true) }, nil
}
