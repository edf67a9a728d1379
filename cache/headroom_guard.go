package cache

import (
	"fmt"
	"io"
)

// headroomCheckBytes is how many bytes a content write goes between two
// looks at the free space: a write overshoots the headroom by at most
// this much.
const headroomCheckBytes = 1 << 20

// headroomGuard keeps one content write (a blob, an upload chunk) off the
// headroom: it measures the filesystem before the first bytes and after
// every headroomCheckBytes.
type headroomGuard struct {
	s       *Store
	checked bool
	pending int64
}

// admit says whether n more bytes may be written. A refusal matches
// ErrCannotWrite, and the store is degraded until a blob is stored again
// or the space watcher finds the headroom free.
func (g *headroomGuard) admit(n int64) error {
	g.pending += n
	if g.s.opts.noHeadroom || g.checked && g.pending < headroomCheckBytes {
		return nil
	}
	fs, err := g.s.statfs(g.s.dir)
	if err != nil {
		return nil
	}
	// The bytes written since the last look are in Avail already.
	need := g.s.contentHeadroom()
	if fs.Avail-n < need {
		reason := fmt.Sprintf("the filesystem of %s has %d bytes free; content must leave %d free for the metadata", g.s.dir, fs.Avail, need)
		g.s.enterDegraded(reason, true)
		return fmt.Errorf("%w: %s", ErrCannotWrite, reason)
	}
	g.checked, g.pending = true, 0
	return nil
}

// headroomWriter is a content file's writer under a headroomGuard.
type headroomWriter struct {
	w io.Writer
	g headroomGuard
}

func (h *headroomWriter) Write(p []byte) (int, error) {
	if err := h.g.admit(int64(len(p))); err != nil {
		return 0, err
	}
	return h.w.Write(p)
}
