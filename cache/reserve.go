package cache

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
)

// The reserve is a file, fallocated, that the store keeps beside its
// metadata while the filesystem has room for it: metaNeed for the tables
// badger has, and room for their growth (a memtable flushed as the store
// closes, and a quarter more), made larger as they grow. It is what lets
// badger work when another writer has taken every free block: the store
// removes it to open its metadata on a full filesystem and to evict (a
// metadata write) for room when the filesystem is full. It is made again
// once the filesystem has room for it beyond the content headroom. (On a
// filesystem without fallocate it is sparse, and holds nothing.)
const reserveName = "reserve"

// reserveSize is the size of the reserve for tables of lsm bytes.
func reserveSize(lsm int64) int64 {
	n := reserveLow(lsm) + lsm/4
	return (n + 1<<20 - 1) &^ (1<<20 - 1)
}

// reserveLow is the size under which the reserve is made larger.
func reserveLow(lsm int64) int64 { return metaNeed(lsm) + memTableSize }

func (s *Store) reservePath() string { return filepath.Join(s.dir, reserveName) }

// releaseReserve removes the reserve file in dir, if there is one, so
// badger can use its blocks, and says how large it was.
func releaseReserve(dir string) (int64, error) {
	p := filepath.Join(dir, reserveName)
	fi, err := os.Stat(p)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if err := os.Remove(p); err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// releaseReserve is the store's use of it, logged.
func (s *Store) releaseReserve(why string) {
	n, err := releaseReserve(s.dir)
	if err != nil {
		s.log.Warn("cache: could not remove the reserve file", "err", err)
	}
	if n > 0 {
		s.log.Warn("cache: released the reserve file for the metadata", "why", why, "bytes", n)
	}
}

// keepReserve makes the reserve file, or makes it larger for the tables
// badger has now, when the filesystem has room for it beyond the
// content headroom.
func (s *Store) keepReserve() {
	if s.opts.noHeadroom {
		return
	}
	lsm := s.files.lsm.Load()
	var have int64
	if fi, err := os.Stat(s.reservePath()); err == nil {
		have = fi.Size()
	}
	if have >= reserveLow(lsm) {
		return
	}
	want := reserveSize(lsm)
	fs, err := s.statfs(s.dir)
	if err != nil || fs.Avail < s.contentHeadroom()+want-have {
		return
	}
	if err := makeReserve(s.reservePath(), want); err != nil {
		s.log.Warn("cache: could not make the reserve file", "err", err)
	}
}

// makeReserve makes the reserve file size bytes, allocated (growing it
// in place when it is there).
func makeReserve(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("cache: the reserve file: %w", err)
	}
	err = f.Truncate(size)
	if err == nil {
		err = fallocateFile(path, size)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("cache: the reserve file: %w", err)
	}
	return nil
}

// roomToOpen makes sure badger can open the metadata in dir/meta: it
// replays its logs and flushes them to tables, and starts a new log.
// With less than metaNeed free it releases the reserve file; if that is
// not enough it refuses, rather than have badger die of SIGBUS.
func roomToOpen(dir string, files *badgerFiles, opts Options, log *slog.Logger) error {
	if opts.noHeadroom {
		return nil
	}
	measure := opts.statfs
	if measure == nil {
		measure = statfs
	}
	fs, err := measure(dir)
	if err != nil {
		return nil // not measurable: nothing better to go on
	}
	// The logs a killed process left are backed before badger replays
	// them: on tmpfs even reading a hole of a mapped file needs a block.
	backErr := files.back()
	if backErr == nil && fs.Avail >= metaNeed(files.lsm.Load()) {
		return nil
	}
	released, err := releaseReserve(dir)
	if err != nil {
		return fmt.Errorf("cache: open metadata: %w", err)
	}
	if released > 0 {
		log.Warn("cache: released the reserve file to open the metadata on a full filesystem", "available_bytes", fs.Avail, "bytes", released)
		if fs, err = measure(dir); err != nil {
			return nil
		}
		backErr = files.back()
	}
	if backErr != nil && !errors.Is(backErr, os.ErrNotExist) {
		return fmt.Errorf("cache: open metadata in %s: %w", files.dir, backErr)
	}
	if need := metaNeed(files.lsm.Load()); fs.Avail < need {
		return fmt.Errorf("cache: the filesystem of %s has %d bytes free, and opening the metadata needs %d: free space and start again (badger cannot write its logs and tables on a full filesystem)", dir, fs.Avail, need)
	}
	return nil
}
