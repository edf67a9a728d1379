//go:build !shoalfault

package p2p

import "io"

// corrupt is the identity outside fault-injection builds.
func (h *Host) corrupt(r io.Reader, piece bool) io.Reader { return r }
