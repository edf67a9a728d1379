package cache

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
)

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
