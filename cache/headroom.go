package cache

import (
	"fmt"
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
//     so writing and replaying it never needs a new block (backing.go);
//   - metadata writes need room: before each one the store measures the
//     filesystem (statfs: other writers fill it too) and refuses the
//     write (ErrCannotWrite, degraded) when less than metaNeed is free,
//     what the flushes and compactions the write may set off can take;
//   - content keeps off the headroom: blobs and uploads are written only
//     while they leave twice metaNeed free (headroom_guard.go), so the
//     metadata writes that follow them have room; and a reserve file
//     (reserve.go) holds metaNeed for when another writer takes the rest.

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

// checkHeadroom starts an episode when the filesystem has less free than
// the content headroom: content is then passed through until the space
// watcher finds the headroom free.
func (s *Store) checkHeadroom() bool {
	if s.opts.noHeadroom {
		return true
	}
	fs, err := s.statfs(s.dir)
	if err != nil {
		return true
	}
	if need := s.contentHeadroom(); fs.Avail < need {
		s.enterDegraded(fmt.Sprintf("the filesystem of %s has %d bytes free, under the %d kept free for the metadata", s.dir, fs.Avail, need), false)
		return false
	}
	return true
}
