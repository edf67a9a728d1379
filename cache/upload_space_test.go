package cache

import (
	"bytes"
	"errors"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
)

// uploadEnv is the store an upload-space test step works on. Steps may
// reopen the store, so they reach it through the env.
type uploadEnv struct {
	t   *testing.T
	dir string
	s   *Store
	id  string
	now *atomic.Int64 // unix seconds of the store's clock
}

func (e *uploadEnv) open() {
	e.t.Helper()
	e.s = openTest(e.t, e.dir, Options{clock: func() time.Time { return time.Unix(e.now.Load(), 0) }})
}

func (e *uploadEnv) write(p []byte) error {
	_, err := e.s.WriteUpload("team/app", e.id, -1, bytes.NewReader(p))
	return err
}

// Issue 10: the bytes of open upload sessions were not part of the
// store's size, so uploads could fill the disk past MaxBytes with nothing
// noticing. They now count from the first byte written until the session
// ends, and a committed upload counts once, as its blob.
func TestUploadBytesCounted(t *testing.T) {
	b, d := content(50_000, 310)
	other, _ := content(1000, 311)
	type step struct {
		do   func(e *uploadEnv) error
		want int64 // the store's size after the step
	}
	write := func(p []byte, want int64) step {
		return step{func(e *uploadEnv) error { return e.write(p) }, want}
	}
	commit := func(want int64) step {
		return step{func(e *uploadEnv) error {
			_, err := e.s.CommitUpload("team/app", e.id, d)
			return err
		}, want}
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{
			name:  "chunks count as they arrive",
			steps: []step{write(b[:10_000], 10_000), write(b[10_000:], 50_000)},
		},
		{
			name:  "a committed upload counts once, as its blob",
			steps: []step{write(b[:20_000], 20_000), write(b[20_000:], 50_000), commit(50_000)},
		},
		{
			name: "committing a blob already stored drops the upload's bytes",
			steps: []step{
				{func(e *uploadEnv) error { _, err := e.s.PutBlob(d, bytes.NewReader(b)); return err }, 50_000},
				write(b, 100_000),
				commit(50_000),
			},
		},
		{
			name: "a digest mismatch drops the upload",
			steps: []step{write(other, 1000), {func(e *uploadEnv) error {
				if _, err := e.s.CommitUpload("team/app", e.id, d); !errors.Is(err, ErrDigestMismatch) {
					e.t.Fatalf("commit of other content: %v", err)
				}
				return nil
			}, 0}},
		},
		{
			name: "cancel",
			steps: []step{write(b[:10_000], 10_000), {func(e *uploadEnv) error {
				return e.s.CancelUpload("team/app", e.id)
			}, 0}},
		},
		{
			name: "expiry",
			steps: []step{write(b[:10_000], 10_000), {func(e *uploadEnv) error {
				e.now.Add(int64((uploadIdle + time.Minute) / time.Second))
				e.s.expireUploads()
				return nil
			}, 0}},
		},
		{
			name: "a chunk that fails midway is rolled back and uncounted",
			steps: []step{write(b[:10_000], 10_000), {func(e *uploadEnv) error {
				r := io.MultiReader(bytes.NewReader(b[10_000:30_000]), errReader{io.ErrClosedPipe})
				if _, err := e.s.WriteUpload("team/app", e.id, -1, r); !errors.Is(err, io.ErrClosedPipe) {
					e.t.Fatalf("failing chunk: %v", err)
				}
				return nil
			}, 10_000}},
		},
		{
			name: "a chunk at the wrong offset adds nothing",
			steps: []step{write(b[:10_000], 10_000), {func(e *uploadEnv) error {
				if _, err := e.s.WriteUpload("team/app", e.id, 5, bytes.NewReader(b[10_000:])); !errors.Is(err, ErrUploadOffset) {
					e.t.Fatalf("chunk at the wrong offset: %v", err)
				}
				return nil
			}, 10_000}},
		},
		{
			name: "recounted after a restart",
			steps: []step{write(b[:10_000], 10_000), {func(e *uploadEnv) error {
				if err := e.s.Close(); err != nil {
					return err
				}
				e.open()
				return nil
			}, 10_000}, write(b[10_000:], 50_000), commit(50_000)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := new(atomic.Int64)
			now.Store(1_700_000_000)
			e := &uploadEnv{t: t, dir: t.TempDir(), now: now}
			e.open()
			id, err := e.s.NewUpload("team/app")
			if err != nil {
				t.Fatal(err)
			}
			e.id = id
			for i, st := range tt.steps {
				if err := st.do(e); err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				if got, _ := e.s.Usage(); got != st.want {
					t.Fatalf("after step %d the store's size is %d, want %d", i, got, st.want)
				}
				checkUploadCount(t, e.s, e.id)
			}
		})
	}
}

// checkUploadCount checks that Uploads reports what upload id (the only
// one) holds, and that the store's size is its blobs plus that.
func checkUploadCount(t *testing.T, s *Store, id string) {
	t.Helper()
	var want int64
	wantSessions := 0
	if size, err := s.UploadSize("team/app", id); err == nil {
		want, wantSessions = size, 1
	}
	got, sessions := s.Uploads()
	if got != want || sessions != wantSessions {
		t.Fatalf("Uploads() = %d bytes in %d sessions, want %d in %d", got, sessions, want, wantSessions)
	}
	var blobs int64
	if err := s.Blobs(func(_ digest.Digest, size int64) bool { blobs += size; return true }); err != nil {
		t.Fatal(err)
	}
	if total, _ := s.Usage(); total != blobs+got {
		t.Fatalf("Usage() = %d, want blobs %d + uploads %d", total, blobs, got)
	}
}

// Past MaxBytes, upload bytes first make room by evicting mirrored
// content; when only pushed content, pinned content and other uploads
// remain, they are refused and the chunk is rolled back.
func TestUploadsWithinMaxBytes(t *testing.T) {
	tests := []struct {
		name     string
		max      int64
		local    int   // bytes of a pushed blob, never evicted
		mirrored int   // mirrored blobs of 1000 bytes, evictable
		chunks   []int // written in turn to one upload
		wantErr  error // of the last chunk
		// wantSize is what the upload holds at the end, wantMirrored how
		// many mirrored blobs are left.
		wantSize     int64
		wantMirrored int
	}{
		{
			name: "within the limit nothing is evicted", max: 5000, mirrored: 2,
			chunks: []int{1000, 2000}, wantSize: 3000, wantMirrored: 2,
		},
		{
			name: "mirrored content is evicted to make room", max: 3000, mirrored: 2,
			chunks: []int{1000, 1500}, wantSize: 2500, wantMirrored: 0,
		},
		{
			name: "only as much as needed is evicted", max: 3000, mirrored: 2,
			chunks: []int{1000}, wantSize: 1000, wantMirrored: 2,
		},
		{
			name: "past pushed content the chunk is refused and rolled back", max: 3000, local: 2000,
			chunks: []int{500, 1000}, wantErr: ErrStoreFull, wantSize: 500,
		},
		{
			name: "nothing is evicted in vain", max: 3000, local: 1500, mirrored: 1,
			chunks: []int{2000}, wantErr: ErrStoreFull, wantSize: 0, wantMirrored: 1,
		},
		{
			name: "no limit", max: 0, local: 5000,
			chunks: []int{10_000, 10_000}, wantSize: 20_000,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openTest(t, "", Options{MaxBytes: tt.max})
			if tt.local > 0 {
				b, d := content(tt.local, 320)
				putBlob(t, s, b)
				if err := s.LinkBlob("team/base", true, d); err != nil {
					t.Fatal(err)
				}
			}
			var mirrored []digest.Digest
			for i := range tt.mirrored {
				b, d := content(1000, uint64(330+i))
				putBlob(t, s, b)
				if err := s.LinkBlob("docker.io/library/x", false, d); err != nil {
					t.Fatal(err)
				}
				mirrored = append(mirrored, d)
			}
			id, err := s.NewUpload("team/app")
			if err != nil {
				t.Fatal(err)
			}
			for i, n := range tt.chunks {
				p, _ := content(n, uint64(340+i))
				_, err = s.WriteUpload("team/app", id, -1, bytes.NewReader(p))
				if i < len(tt.chunks)-1 && err != nil {
					t.Fatalf("chunk %d: %v", i, err)
				}
			}
			if !errors.Is(err, tt.wantErr) || (err != nil) != (tt.wantErr != nil) {
				t.Fatalf("last chunk: %v, want %v", err, tt.wantErr)
			}
			if size, err := s.UploadSize("team/app", id); err != nil || size != tt.wantSize {
				t.Fatalf("upload holds %d (%v), want %d", size, err, tt.wantSize)
			}
			left := 0
			for _, d := range mirrored {
				if _, err := s.StatBlob(d); err == nil {
					left++
				}
			}
			if left != tt.wantMirrored {
				t.Fatalf("%d mirrored blobs left, want %d", left, tt.wantMirrored)
			}
			if total, _ := s.Usage(); tt.max > 0 && total > tt.max {
				t.Fatalf("the store's size %d is past its limit %d", total, tt.max)
			}
			if got, _ := s.Uploads(); got != tt.wantSize {
				t.Fatalf("Uploads() = %d, want %d", got, tt.wantSize)
			}
		})
	}
}

// A full store refuses a new session before any byte is sent, and takes
// one again once room is made.
func TestNewUploadWhenFull(t *testing.T) {
	s := openTest(t, "", Options{MaxBytes: 2000})
	b, d := content(2000, 350)
	putBlob(t, s, b)
	if err := s.LinkBlob("team/base", true, d); err != nil {
		t.Fatal(err)
	}
	if _, err := s.NewUpload("team/app"); !errors.Is(err, ErrStoreFull) {
		t.Fatalf("new upload in a full store: %v, want ErrStoreFull", err)
	}
	if err := s.UnlinkBlob("team/base", d); err != nil {
		t.Fatal(err)
	}
	if _, err := s.NewUpload("team/app"); err != nil {
		t.Fatalf("new upload once pushed content is gone: %v", err)
	}
}

// Concurrent uploads each count their bytes before writing them, so
// together they cannot pass the limit either.
func TestConcurrentUploadsWithinMaxBytes(t *testing.T) {
	const max, uploads, chunk = 10_000, 8, 3000
	s := openTest(t, "", Options{MaxBytes: max})
	ids := make([]string, uploads)
	for i := range ids {
		var err error
		if ids[i], err = s.NewUpload("team/app"); err != nil {
			t.Fatal(err)
		}
	}
	errs := make(chan error, uploads)
	for i, id := range ids {
		go func() {
			p, _ := content(chunk, uint64(360+i))
			_, err := s.WriteUpload("team/app", id, -1, bytes.NewReader(p))
			errs <- err
		}()
	}
	done := 0
	for range ids {
		switch err := <-errs; {
		case err == nil:
			done++
		case !errors.Is(err, ErrStoreFull):
			t.Fatalf("chunk: %v", err)
		}
	}
	if done == 0 || done > max/chunk {
		t.Fatalf("%d chunks of %d bytes fit in %d", done, chunk, max)
	}
	total, _ := s.Usage()
	if got, _ := s.Uploads(); total > max || got != int64(done*chunk) {
		t.Fatalf("size %d, uploads %d after %d whole chunks (limit %d)", total, got, done, max)
	}
}
