package cache

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
)

// feed writes b to w in chunks of n, then closes w.
func feed(w *io.PipeWriter, b []byte, n int) {
	for len(b) > 0 {
		m := min(n, len(b))
		if _, err := w.Write(b[:m]); err != nil {
			return
		}
		b = b[m:]
	}
	w.Close()
}

func TestFetchCoalesces(t *testing.T) {
	onAdd, waitAdded := addedWatcher()
	s := openTest(t, "", Options{OnAdd: onAdd})
	b, d := content(3<<20, 40)
	var calls atomic.Int32
	src, pw := pipeSource(int64(len(b)), &calls)

	const callers = 20
	readers := make([]*Reader, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			r, err := s.Fetch(t.Context(), d, src)
			if err != nil {
				t.Errorf("Fetch: %v", err)
				return
			}
			readers[i] = r
		})
	}
	// No byte has been sent, so every caller joined the one fetch.
	wg.Wait()
	if n := calls.Load(); n != 1 {
		t.Fatalf("src called %d times, want 1", n)
	}
	go feed(pw, b, 64<<10)
	results := make([][]byte, callers)
	for i, r := range readers {
		wg.Go(func() {
			defer r.Close()
			if r.Size != int64(len(b)) {
				t.Errorf("reader %d: Size %d", i, r.Size)
			}
			got, err := io.ReadAll(r.Content)
			if err != nil {
				t.Errorf("reader %d: %v", i, err)
			}
			results[i] = got
		})
	}
	wg.Wait()
	for i, got := range results {
		if !bytes.Equal(got, b) {
			t.Fatalf("reader %d got %d bytes, not the blob", i, len(got))
		}
	}
	waitAdded(t, d)
	if size, err := s.StatBlob(d); err != nil || size != int64(len(b)) {
		t.Fatalf("StatBlob = %d, %v", size, err)
	}
	// Once stored, Fetch reads the file without calling src.
	r, err := s.Fetch(t.Context(), d, src)
	if err != nil {
		t.Fatal(err)
	}
	checkStoredContent(t, r)
	r.Close()
	if n := calls.Load(); n != 1 {
		t.Fatalf("src called %d times, want 1", n)
	}
}

// TestFetchRangeBeforeComplete serves ranges of a blob that is still
// arriving: a range inside what has arrived is answered without the rest,
// and a range beyond it waits for its bytes.
func TestFetchRangeBeforeComplete(t *testing.T) {
	s := openTest(t, "", Options{})
	b, d := content(1<<20, 41)
	src, pw := pipeSource(int64(len(b)), nil)
	defer pw.Close()
	r, err := s.Fetch(t.Context(), d, src)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, ok := r.Content.(*os.File); ok {
		t.Fatal("in-flight Content must not be the file")
	}
	half := len(b) / 2
	if _, err := pw.Write(b[:half]); err != nil {
		t.Fatal(err)
	}

	// Within the first half: must complete while the rest never arrives.
	buf := make([]byte, 1000)
	if _, err := r.Content.Seek(1234, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(r.Content, buf); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf, b[1234:2234]) {
		t.Fatal("early range differs")
	}

	// Through net/http, a range in the second half, before it exists.
	type result struct {
		code int
		body []byte
		cr   string
	}
	done := make(chan result, 1)
	go func() {
		req := httptest.NewRequest(http.MethodGet, "/blob", nil)
		req.Header.Set("Range", "bytes=900000-900999")
		rec := httptest.NewRecorder()
		http.ServeContent(rec, req, "", time.Time{}, r.Content)
		done <- result{rec.Code, rec.Body.Bytes(), rec.Header().Get("Content-Range")}
	}()
	select {
	case res := <-done:
		t.Fatalf("range answered before its bytes arrived: %d", res.code)
	case <-time.After(50 * time.Millisecond):
	}
	go feed(pw, b[half:], 16<<10)
	var res result
	select {
	case res = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("range never answered")
	}
	if res.code != http.StatusPartialContent || res.cr != "bytes 900000-900999/1048576" {
		t.Fatalf("status %d, Content-Range %q", res.code, res.cr)
	}
	if !bytes.Equal(res.body, b[900000:901000]) {
		t.Fatal("range body differs")
	}
}

func TestFetchCallerLeavesFillContinues(t *testing.T) {
	onAdd, waitAdded := addedWatcher()
	s := openTest(t, "", Options{OnAdd: onAdd})
	b, d := content(2<<20, 42)
	src, pw := pipeSource(int64(len(b)), nil)
	ctx, cancel := context.WithCancel(t.Context())
	r, err := s.Fetch(ctx, d, src)
	if err != nil {
		t.Fatal(err)
	}
	go feed(pw, b, 32<<10)
	if _, err := io.ReadFull(r.Content, make([]byte, 100_000)); err != nil {
		t.Fatal(err)
	}
	// The client disconnects: its context ends and its reader closes.
	cancel()
	r.Close()
	waitAdded(t, d)
	r, err = s.OpenBlob(d)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if got := readAll(t, r); !bytes.Equal(got, b) {
		t.Fatal("stored blob differs")
	}
}

func TestFetchFailures(t *testing.T) {
	good, d := content(200_000, 43)
	bad := bytes.Clone(good)
	bad[len(bad)/2] ^= 1
	boom := errors.New("upstream reset")
	tests := []struct {
		name      string
		src       Source
		fetchErr  error // Fetch itself fails
		readErr   error // Fetch succeeds, reading fails
		anyRead   bool
		unknownSz bool
	}{
		{name: "wrong bytes", src: staticSource(bad, nil), readErr: ErrDigestMismatch},
		{name: "too short", src: func(context.Context) (io.ReadCloser, int64, error) {
			return io.NopCloser(bytes.NewReader(good[:1000])), int64(len(good)), nil
		}, readErr: ErrSizeMismatch},
		{name: "too long", src: func(context.Context) (io.ReadCloser, int64, error) {
			return io.NopCloser(bytes.NewReader(append(bytes.Clone(good), 0))), int64(len(good)), nil
		}, readErr: ErrSizeMismatch},
		{name: "body fails", src: func(context.Context) (io.ReadCloser, int64, error) {
			return io.NopCloser(io.MultiReader(bytes.NewReader(good[:5000]), errReader{boom})), int64(len(good)), nil
		}, readErr: boom},
		{name: "src fails", src: func(context.Context) (io.ReadCloser, int64, error) {
			return nil, 0, boom
		}, fetchErr: boom},
		{name: "wrong bytes, unknown size", src: func(context.Context) (io.ReadCloser, int64, error) {
			return io.NopCloser(bytes.NewReader(bad)), -1, nil
		}, fetchErr: ErrDigestMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openTest(t, "", Options{})
			r, err := s.Fetch(t.Context(), d, tt.src)
			switch {
			case tt.fetchErr != nil:
				if !errors.Is(err, tt.fetchErr) {
					t.Fatalf("Fetch err = %v, want %v", err, tt.fetchErr)
				}
			case err != nil:
				// The fill may fail before this caller gets to follow it.
				if !errors.Is(err, tt.readErr) {
					t.Fatalf("Fetch err = %v, want nil or %v", err, tt.readErr)
				}
			default:
				_, rerr := io.ReadAll(r.Content)
				if !errors.Is(rerr, tt.readErr) {
					t.Fatalf("read err = %v, want %v", rerr, tt.readErr)
				}
				if !errors.Is(r.Err(), tt.readErr) {
					t.Fatalf("Err() = %v, want %v", r.Err(), tt.readErr)
				}
				r.Close()
			}
			if _, err := s.StatBlob(d); !errors.Is(err, ErrNotFound) {
				t.Fatalf("bad blob stored: %v", err)
			}
			if e := tmpEntries(t, s); len(e) != 0 {
				t.Fatalf("tmp not cleaned: %v", e)
			}
			// A failed fetch does not poison the next one.
			r, err = s.Fetch(t.Context(), d, staticSource(good, nil))
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(r.Content)
			r.Close()
			if err != nil || !bytes.Equal(got, good) {
				t.Fatalf("retry: %v", err)
			}
		})
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// TestFetchFollowersSeeFailure: readers blocked mid-stream get the error.
func TestFetchFollowersSeeFailure(t *testing.T) {
	s := openTest(t, "", Options{})
	good, d := content(100_000, 44)
	bad := bytes.Clone(good)
	bad[len(bad)-1] ^= 1
	src, pw := pipeSource(int64(len(bad)), nil)
	var readers []*Reader
	for range 3 {
		r, err := s.Fetch(t.Context(), d, src)
		if err != nil {
			t.Fatal(err)
		}
		readers = append(readers, r)
	}
	errs := make(chan error, len(readers))
	for _, r := range readers {
		go func() {
			_, err := io.ReadAll(r.Content)
			errs <- err
		}()
	}
	go feed(pw, bad, 1000)
	for range readers {
		if err := <-errs; !errors.Is(err, ErrDigestMismatch) {
			t.Fatalf("follower err = %v, want ErrDigestMismatch", err)
		}
	}
	for _, r := range readers {
		r.Close()
	}
	if _, err := s.StatBlob(d); !errors.Is(err, ErrNotFound) {
		t.Fatal("bad blob stored")
	}
}

func TestFetchUnknownSize(t *testing.T) {
	s := openTest(t, "", Options{})
	b, d := content(300_000, 45)
	r, err := s.Fetch(t.Context(), d, func(context.Context) (io.ReadCloser, int64, error) {
		return io.NopCloser(bytes.NewReader(b)), -1, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Size != int64(len(b)) {
		t.Fatalf("Size = %d", r.Size)
	}
	checkStoredContent(t, r)
	if got := readAll(t, r); !bytes.Equal(got, b) {
		t.Fatal("content differs")
	}
}

func TestFetchIdleTimeout(t *testing.T) {
	s := openTest(t, "", Options{idleTimeout: 100 * time.Millisecond})
	_, d := content(1000, 46)
	src, pw := pipeSource(1000, nil)
	defer pw.Close()
	r, err := s.Fetch(t.Context(), d, src)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	// Nothing is ever sent: the watchdog aborts the fetch.
	if _, err := io.ReadAll(r.Content); err == nil {
		t.Fatal("read of a stalled fetch succeeded")
	}
	if _, err := s.StatBlob(d); !errors.Is(err, ErrNotFound) {
		t.Fatal("stalled blob stored")
	}
}

// TestFetchCallerGivesUpWaiting: a caller whose context ends before src
// answers gets its error; the fill still completes.
func TestFetchCallerGivesUpWaiting(t *testing.T) {
	onAdd, waitAdded := addedWatcher()
	s := openTest(t, "", Options{OnAdd: onAdd})
	b, d := content(5000, 47)
	release := make(chan struct{})
	src := func(ctx context.Context) (io.ReadCloser, int64, error) {
		<-release
		return io.NopCloser(bytes.NewReader(b)), int64(len(b)), ctx.Err()
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := s.Fetch(ctx, d, src); !errors.Is(err, context.Canceled) {
		t.Fatalf("Fetch err = %v, want context.Canceled", err)
	}
	close(release)
	waitAdded(t, d)
	s.mu.Lock()
	pins := s.pins[d]
	s.mu.Unlock()
	if pins != 0 {
		t.Fatalf("pins = %d after caller left", pins)
	}
}

func TestFetchInvalidDigest(t *testing.T) {
	s := openTest(t, "", Options{})
	var calls atomic.Int32
	if _, err := s.Fetch(t.Context(), digest.Digest("md5:abc"), staticSource(nil, &calls)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("err = %v", err)
	}
	if calls.Load() != 0 {
		t.Fatal("src called for an invalid digest")
	}
}
