package cache

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
)

// Badger writes its memtable logs and its tables through files it maps
// into memory, sized in advance and sparse. Writing (on tmpfs, even
// reading) a page of such a file that the filesystem has no block for
// raises SIGBUS, which kills the process: Go cannot turn it into an error
// (issue 11). So badger must never meet a full filesystem. The store
// keeps it away from one in three ways:
//
//   - the logs are backed: every memtable log, value log file and
//     badger's discard file is fallocated as soon as the store sees it,
//     so writing and replaying it never needs a new block;
//   - metadata writes need room: before each one the store measures the
//     filesystem (statfs: other writers fill it too) and refuses the
//     write (ErrCannotWrite, degraded) when less than metaNeed is free,
//     what the flushes and compactions the write may set off can take;
//   - content keeps off the headroom: blobs and uploads are written only
//     while they leave twice metaNeed free, so the metadata writes that
//     follow them have room; and a reserve file (reserve.go) holds
//     metaNeed for when another writer takes the rest.

const (
	// memTableSize is badger's memtable size. Small, because every
	// memtable log is fallocated at twice this size and metaNeed grows
	// with it; metadata writes are small.
	memTableSize = 2 << 20
	// walFileSize is the size badger gives a memtable's log file.
	walFileSize = 2 * memTableSize
	// valueThreshold: values this large go to badger's value log, not
	// its tables. Below badger's largest write batch (15% of the
	// memtable); only the piece digests of blobs over 8 GiB are this
	// large.
	valueThreshold = 256 << 10
	// valueLogFileSize is badger's smallest: each value log file is
	// mapped at twice this size and backed like the memtable logs.
	valueLogFileSize = 1 << 20
)

// metaNeed is the free space badger may need beyond what it holds: a
// new memtable log and value log file, two memtables flushed to tables,
// and a compaction rewriting every table it has (lsm bytes) before it
// removes the old.
func metaNeed(lsm int64) int64 {
	return walFileSize + 2*valueLogFileSize + 2*memTableSize + lsm
}

// headroom is the free space content writes leave: twice metaNeed.
func headroom(lsm int64) int64 { return 2 * metaNeed(lsm) }

// badgerFiles backs badger's mapped files and measures its tables.
type badgerFiles struct {
	dir string
	mu  sync.Mutex
	// backed is the size each mapped file was fallocated at.
	backed map[string]int64
	// lsm is the size of the tables at the last look.
	lsm atomic.Int64
}

func newBadgerFiles(dir string) *badgerFiles {
	return &badgerFiles{dir: dir, backed: make(map[string]int64)}
}

// back fallocates the memtable and value logs and the discard file not yet backed
// at their size, and measures the tables. A log badger made since the
// last look (a memtable rotated) is backed here, before the next write.
func (b *badgerFiles) back() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	entries, err := os.ReadDir(b.dir)
	if err != nil {
		return err
	}
	var lsm int64
	seen := make(map[string]bool, len(entries))
	for _, e := range entries {
		name := e.Name()
		mapped := strings.HasSuffix(name, ".mem") || strings.HasSuffix(name, ".vlog") || name == "DISCARD"
		if !mapped && !strings.HasSuffix(name, ".sst") {
			continue
		}
		info, err := e.Info()
		if errors.Is(err, os.ErrNotExist) {
			continue // flushed or compacted away meanwhile
		} else if err != nil {
			return err
		}
		if !mapped {
			lsm += info.Size()
			continue
		}
		seen[name] = true
		if info.Size() == 0 {
			// Just made and not sized yet, or emptied to be removed
			// (fallocate refuses a zero length).
			delete(b.backed, name)
			continue
		}
		if b.backed[name] == info.Size() {
			continue
		}
		if err := fallocateFile(filepath.Join(b.dir, name), info.Size()); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			return fmt.Errorf("backing badger's %s (%d bytes, was %d): %w", name, info.Size(), b.backed[name], err)
		}
		b.backed[name] = info.Size()
	}
	for name := range b.backed {
		if !seen[name] {
			delete(b.backed, name)
		}
	}
	b.lsm.Store(lsm)
	return nil
}

// roomForMeta says whether a metadata write may run now: badger's logs
// are backed and the filesystem has metaNeed free. When not, the store is
// degraded and the error matches ErrCannotWrite: the caller skips or
// defers the write.
func (s *Store) roomForMeta() error {
	if s.opts.noHeadroom {
		return nil
	}
	if err := s.files.back(); err != nil {
		return s.writeFailed(err)
	}
	fs, err := s.statfs(s.dir)
	if err != nil {
		return nil // not measurable: nothing better to go on
	}
	need := metaNeed(s.files.lsm.Load())
	if fs.Avail >= need {
		return nil
	}
	reason := fmt.Sprintf("the filesystem of %s has %d bytes free, under the %d its metadata needs kept free", s.dir, fs.Avail, need)
	s.enterDegraded(reason, false)
	return fmt.Errorf("%w: %s", ErrCannotWrite, reason)
}

// contentHeadroom is the free space blob and upload writes must leave.
func (s *Store) contentHeadroom() int64 {
	if s.opts.noHeadroom {
		return 0
	}
	return headroom(s.files.lsm.Load())
}

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
