// Package cache is a node's content store: blobs as digest-verified files,
// metadata (links, manifests, tags, referrers, uploads) in badger, LRU
// eviction of mirrored content, and coalesced follow-along fetching.
//
// Layout under the store's directory:
//
//	blobs/<alg>/<first 2 hex>/<hex>  complete, verified blobs
//	tmp/                             blobs being written (cleared on Open)
//	uploads/<id>                     OCI push sessions
//	meta/                            badger
//	encryption                       key check of an encrypted store
//
// With Options.EncryptionKey, badger encrypts the metadata and every file
// under blobs/, tmp/ and uploads/ is sealed in authenticated chunks (see
// crypt.go); sizes and digests are always those of the plaintext.
//
// A blob becomes visible only by an atomic rename after its digest has been
// checked and its bytes fsynced, so a crash never leaves a partial or wrong
// blob in blobs/.
package cache

import (
	"context"
	_ "crypto/sha256" // registers sha256 for go-digest
	_ "crypto/sha512" // registers sha512 for go-digest
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/opencontainers/go-digest"
)

// Errors returned by the store; match them with errors.Is.
var (
	ErrNotFound       = errors.New("cache: not found")
	ErrDigestMismatch = errors.New("cache: digest mismatch")
	ErrUploadUnknown  = errors.New("cache: upload unknown")
	ErrUploadOffset   = errors.New("cache: upload offset mismatch")
	ErrSizeMismatch   = errors.New("cache: size mismatch")
	// ErrTooManyUploads refuses an upload session past the limits.
	ErrTooManyUploads = errors.New("cache: too many upload sessions open")
	// ErrStoreFull refuses upload bytes that would take the store past
	// MaxBytes when evicting mirrored content cannot make room for them.
	ErrStoreFull = errors.New("cache: store full")
	// ErrClosed is returned by operations on a closed store.
	ErrClosed = errors.New("cache: store closed")
	// ErrInvalid is returned for a malformed digest, repository, tag or
	// upload id.
	ErrInvalid = errors.New("cache: invalid argument")
)

// Options configure a Store.
type Options struct {
	// MaxBytes limits the store's size: its blobs and the bytes of its
	// open upload sessions; 0 means no limit. Mirrored content is evicted
	// to stay within it; local (pushed) content is never evicted, and
	// upload bytes past it are refused with ErrStoreFull. (Content stored
	// without an upload, such as an import, can still take it past.)
	MaxBytes int64
	// Logger receives the store's logs; nil discards them.
	Logger *slog.Logger
	// OnAdd is called after a blob becomes complete in the store.
	OnAdd func(d digest.Digest, size int64)
	// OnEvict is called after a blob has been removed from the store, by
	// eviction or because nothing references it any more.
	OnEvict func(d digest.Digest)
	// EncryptionKey, when set, encrypts everything the store writes: it
	// must be KeySize random bytes (see ParseKey). A store is created
	// encrypted or not, and must always be opened the same way with the
	// same key. Complete blobs are then no longer *os.File, so net/http
	// cannot use sendfile for them.
	EncryptionKey []byte
	// PiecesOnWrite says whether a blob being written should be hashed in
	// pieces as it arrives, so its piece digests are kept from the start
	// (see Pieces). It costs a second SHA-256 pass over every byte, worth
	// paying only where peers will ask for the blob: a node in a fleet
	// with peers connected. Nil or false: pieces are computed on first
	// use instead, and kept from then on.
	PiecesOnWrite func() bool
	// HighWatermark and LowWatermark keep the filesystem under the store
	// from filling (space.go): past HighWatermark used (a fraction, as df
	// counts it), least recently used mirrored content is evicted until
	// LowWatermark. Local content is never evicted. Zero for both turns
	// this off; otherwise 0 < LowWatermark < HighWatermark <= 1.
	HighWatermark, LowWatermark float64

	// Test hooks: a clock, the fetch idle timeout, the filesystem's
	// space and how often it is looked at (zero: defaults).
	clock         func() time.Time
	idleTimeout   time.Duration
	statfs        func(dir string) (Filesystem, error)
	spaceInterval time.Duration
	// noHeadroom turns the metadata headroom off, for tests whose
	// statfs is a fake: badger's files are on another filesystem.
	noHeadroom bool
}

const (
	// atimeFlushInterval bounds how stale persisted access times may be.
	atimeFlushInterval = 5 * time.Second
	// janitorInterval is how often expired uploads are removed.
	janitorInterval = 10 * time.Minute
	// uploadIdle is how long an unfinished upload is kept after it was
	// last written to (or started).
	uploadIdle = time.Hour
	// maxUploads and maxUploadsPerRepo bound the upload sessions open at
	// once, in the store and per repository, so that starting uploads
	// cannot fill the disk with sessions.
	maxUploads        = 1024
	maxUploadsPerRepo = 64
	// fetchIdleTimeout aborts a fetch that has received no bytes this long.
	fetchIdleTimeout = 2 * time.Minute
)

// Store is a node's content store. It is safe for concurrent use.
type Store struct {
	dir  string
	opts Options
	log  *slog.Logger
	db   *badger.DB
	// enc is nil for a store without encryption.
	enc *encryption
	// rebuild is set when Open rebuilt the metadata from the blob files;
	// its counts are filled in by recover, under mu.
	rebuild *Rebuild

	// ctx is cancelled by Close; it bounds fetches and background work.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	// evictMore asks the background goroutine for the eviction passes
	// a request path left (maybeEvict).
	evictMore chan struct{}
	// metaTxns counts committed metadata transactions, each an fsync:
	// tests check that eviction batches them.
	metaTxns atomic.Int64
	once     sync.Once

	// meta serializes every change to metadata and to the set of stored
	// blob files, so that check-then-act sequences (commit, link, free,
	// evict) are atomic with respect to each other. Lock order: meta, mu.
	meta sync.Mutex

	// mu guards the in-memory state below; it is held only briefly.
	mu       sync.Mutex
	closed   bool
	blobs    map[digest.Digest]*blobInfo
	total    int64
	pins     map[digest.Digest]int
	inflight map[digest.Digest]*fetch
	dirty    map[digest.Digest]struct{}
	dirsMade map[string]bool
	// uploads is the plaintext size of each open upload session, and
	// uploadBytes their sum: part of the store's size, so that uploads
	// cannot fill the disk past MaxBytes unseen.
	uploads     map[string]int64
	uploadBytes int64

	upMu    sync.Mutex
	upLocks map[string]*uploadLock

	// health is whether the store can write (health.go).
	health health
	// files backs badger's mapped files and measures its tables
	// (headroom.go).
	files *badgerFiles

	// Tunables, fixed by Open; tests in this package shorten them.
	idleTimeout time.Duration
	now         func() time.Time
}

// blobInfo is the in-memory view of one complete blob.
type blobInfo struct {
	size  int64
	atime int64 // unix nanoseconds
	// links counts repositories linking the blob, localLinks those among
	// them that are local; both mirror the r/ keys in badger.
	links, localLinks int
	// doomed marks a blob that became unreferenced while pinned: it is
	// freed when its last reader closes, unless linked again.
	doomed bool
}

// Open opens (creating if needed) the store in dir.
func Open(dir string, opts Options) (*Store, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := checkWatermarks(opts.HighWatermark, opts.LowWatermark); err != nil {
		return nil, err
	}
	var enc *encryption
	if opts.EncryptionKey != nil {
		var err error
		if enc, err = newEncryption(opts.EncryptionKey); err != nil {
			return nil, err
		}
	}
	// meta/ is made by openMeta, which tells a missing one from an empty one.
	for _, sub := range []string{"blobs", "tmp", "uploads"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return nil, fmt.Errorf("cache: %w", err)
		}
	}
	if err := clearDir(filepath.Join(dir, "tmp")); err != nil {
		return nil, fmt.Errorf("cache: clean tmp: %w", err)
	}
	if err := checkEncryption(dir, enc); err != nil {
		return nil, err
	}

	bo := badger.DefaultOptions(filepath.Join(dir, "meta")).
		WithLogger(badgerLogger{log}).
		WithSyncWrites(true).
		WithNumVersionsToKeep(1).
		WithMemTableSize(memTableSize).
		WithValueLogFileSize(valueLogFileSize).
		WithValueThreshold(valueThreshold).
		WithBlockCacheSize(16 << 20).
		WithIndexCacheSize(8 << 20).
		WithNumMemtables(2).
		WithNumLevelZeroTables(2).
		WithNumLevelZeroTablesStall(8).
		WithNumCompactors(2).
		WithMetricsEnabled(false).
		// Every mutation runs under Store.meta, so badger's own conflict
		// detection would only cost memory.
		WithDetectConflicts(false)
	if enc != nil {
		// Encrypted tables need an index cache (badger panics without).
		bo = bo.WithEncryptionKey(enc.badgerKey()).WithIndexCacheSize(16 << 20)
	}
	now, idle := opts.clock, opts.idleTimeout
	if now == nil {
		now = time.Now
	}
	files := newBadgerFiles(filepath.Join(dir, "meta"))
	if err := roomToOpen(dir, files, opts, log); err != nil {
		return nil, err
	}
	db, rebuild, err := openMeta(dir, bo, log, now())
	if err != nil {
		return nil, fmt.Errorf("cache: open metadata in %s: %w", filepath.Join(dir, "meta"), err)
	}
	if err := indexTags(db); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("cache: open metadata in %s: %w", filepath.Join(dir, "meta"), err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	if idle <= 0 {
		idle = fetchIdleTimeout
	}
	s := &Store{
		dir:         dir,
		opts:        opts,
		log:         log,
		db:          db,
		enc:         enc,
		rebuild:     rebuild,
		ctx:         ctx,
		cancel:      cancel,
		blobs:       make(map[digest.Digest]*blobInfo),
		pins:        make(map[digest.Digest]int),
		inflight:    make(map[digest.Digest]*fetch),
		dirty:       make(map[digest.Digest]struct{}),
		evictMore:   make(chan struct{}, 1),
		dirsMade:    make(map[string]bool),
		uploads:     make(map[string]int64),
		upLocks:     make(map[string]*uploadLock),
		idleTimeout: idle,
		now:         now,
		files:       files,
	}
	if err := s.recover(); err != nil {
		cancel()
		_ = db.Close()
		return nil, err
	}
	if err := s.countUploads(); err != nil {
		cancel()
		_ = db.Close()
		return nil, err
	}
	_ = s.roomForMeta()
	s.checkHeadroom()
	s.keepReserve()
	s.wg.Add(2)
	go s.background()
	go s.watchSpace()
	return s, nil
}

// Close stops background work, aborts fetches in flight, persists access
// times and closes the metadata database. Readers still open keep working
// on their open files. Close is idempotent.
func (s *Store) Close() error {
	var err error
	s.once.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		s.cancel()
		s.wg.Wait()
		s.meta.Lock()
		defer s.meta.Unlock()
		if ferr := s.flushAtimesLocked(); ferr != nil {
			s.log.Warn("cache: flush access times", "err", ferr)
		}
		// Badger flushes its memtable to a table as it closes: without
		// room for that it is left open, its log (synced) replayed at
		// the next open, which the reserve file is kept for.
		if s.roomForMeta() != nil {
			s.log.Warn("cache: the filesystem is full; leaving the metadata to be replayed from its log at the next open")
			return
		}
		err = s.db.Close()
	})
	return err
}

// Ready reports whether the store is open.
func (s *Store) Ready() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.closed
}

// Usage reports the store's size — its complete blobs and the bytes of
// its open upload sessions, the figure MaxBytes limits — and the number
// of complete blobs.
func (s *Store) Usage() (bytes int64, blobs int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.total + s.uploadBytes, len(s.blobs)
}

func (s *Store) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// background flushes access times, expires uploads and garbage-collects
// badger's value log until Close.
func (s *Store) background() {
	defer s.wg.Done()
	flush := time.NewTicker(atimeFlushInterval)
	defer flush.Stop()
	janitor := time.NewTicker(janitorInterval)
	defer janitor.Stop()
	s.expireUploads()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-flush.C:
			s.meta.Lock()
			err := s.flushAtimesLocked()
			s.meta.Unlock()
			if err != nil {
				s.log.Warn("cache: flush access times", "err", err)
			}
		case <-s.evictMore:
			s.evictRest()
		case <-janitor.C:
			s.expireUploads()
			// One pass is enough: RunValueLogGC rewrites at most one file.
			if s.roomForMeta() != nil {
				continue
			}
			if err := s.db.RunValueLogGC(0.5); err != nil && !errors.Is(err, badger.ErrNoRewrite) {
				s.log.Debug("cache: value log gc", "err", err)
			}
		}
	}
}

// clearDir removes everything inside dir.
func clearDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// badgerLogger forwards badger's logs to slog. Badger is chatty at info
// level, so its info goes to debug.
type badgerLogger struct{ l *slog.Logger }

func (b badgerLogger) Errorf(f string, a ...any) {
	b.l.Error("badger: " + trimNL(fmt.Sprintf(f, a...)))
}
func (b badgerLogger) Warningf(f string, a ...any) {
	b.l.Warn("badger: " + trimNL(fmt.Sprintf(f, a...)))
}
func (b badgerLogger) Infof(f string, a ...any) { b.l.Debug("badger: " + trimNL(fmt.Sprintf(f, a...))) }
func (b badgerLogger) Debugf(f string, a ...any) {
	b.l.Debug("badger: " + trimNL(fmt.Sprintf(f, a...)))
}

func trimNL(s string) string {
	for len(s) > 0 && s[len(s)-1] == '\n' {
		s = s[:len(s)-1]
	}
	return s
}

// discard drains and closes r, ignoring errors; used on error paths.
func discard(c io.Closer) { _ = c.Close() }
