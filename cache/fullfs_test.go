package cache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/shoal-dev/shoal/internal/testfs"
)

// fullFSEnv names the phase a child process of TestFullFilesystem runs,
// and fullFSDirEnv the filesystem it runs it on.
const (
	fullFSEnv    = "SHOAL_CACHE_TEST_FULLFS_PHASE"
	fullFSDirEnv = "SHOAL_CACHE_TEST_FULLFS_DIR"
	// fullFSDone is what a phase prints when it got to its end: a
	// process killed by SIGBUS prints a stack instead.
	fullFSDone = "full-filesystem phase done"
)

// A store whose filesystem another writer fills to its last block: the
// metadata writes that follow (recording blobs, links, access times,
// closing) must not kill the process (issue 11: badger's mapped logs and
// tables raise SIGBUS on a full filesystem), the store serves what it
// holds and says it is degraded; started again with the filesystem
// still full it opens, serves what it holds and is degraded, and once
// space is freed it stores again. A new store on a full filesystem, with
// no reserve to release, refuses to open with the reason. Each phase
// runs in a child process of this test binary, since a SIGBUS kills the
// whole process.
func TestFullFilesystem(t *testing.T) {
	if phase := os.Getenv(fullFSEnv); phase != "" {
		runFullFSPhase(t, phase, os.Getenv(fullFSDirEnv))
		return
	}
	dir := testfs.Small(t, 64<<20)
	for _, phase := range []string{"fill", "start", "fresh"} {
		cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestFullFilesystem$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), fullFSEnv+"="+phase, fullFSDirEnv+"="+dir)
		cmd.WaitDelay = 10 * time.Second
		out, err := cmd.CombinedOutput()
		if err != nil || !bytes.Contains(out, []byte(fullFSDone)) {
			t.Fatalf("phase %q: the child process failed (%v):\n%s", phase, err, head(out, 40))
		}
	}
}

// head is the first n lines of out: where a crash says why, and the
// goroutine that crashed.
func head(out []byte, n int) string {
	lines := strings.Split(string(out), "\n")
	return strings.Join(lines[:min(len(lines), n)], "\n")
}

// fullFSBlob is the content of the phases' blobs.
func fullFSBlob(i int) ([]byte, digest.Digest) { return content(64<<10, uint64(9000+i)) }

func runFullFSPhase(t *testing.T, phase, dir string) {
	storeDir := filepath.Join(dir, "store")
	filler := filepath.Join(dir, "filler")
	const held = 8
	switch phase {
	case "fill":
		s, err := Open(storeDir, testOptions(Options{}))
		if err != nil {
			t.Fatal(err)
		}
		for i := range held {
			b, d := fullFSBlob(i)
			if _, err := s.PutBlob(d, bytes.NewReader(b)); err != nil {
				t.Fatal(err)
			}
			if err := s.LinkBlob("team/app", true, d); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Rename(testfs.FillAll(t, dir), filler); err != nil {
			t.Fatal(err)
		}
		// Metadata writes on a full filesystem: a few hundred kilobytes
		// of links (many pages of badger's log), new blobs, access times.
		_, d0 := fullFSBlob(0)
		long := strings.Repeat("x", 200)
		for i := range 2000 {
			err := s.LinkBlob(fmt.Sprintf("mirror/%s/%d", long, i), false, d0)
			if err != nil && !errors.Is(err, ErrCannotWrite) {
				t.Fatalf("link on a full filesystem: %v, want ErrCannotWrite", err)
			}
		}
		b, d := fullFSBlob(held)
		if _, err := s.PutBlob(d, bytes.NewReader(b)); !errors.Is(err, ErrCannotWrite) {
			t.Fatalf("PutBlob on a full filesystem: %v, want ErrCannotWrite", err)
		}
		if _, err := s.Fetch(context.Background(), d, staticSource(b, nil)); !errors.Is(err, ErrCannotWrite) {
			t.Fatalf("Fetch on a full filesystem: %v, want ErrCannotWrite", err)
		}
		checkHeld(t, s, held)
		s.meta.Lock()
		_ = s.flushAtimesLocked()
		s.meta.Unlock()
		if h := s.Health(); !h.Degraded {
			t.Fatal("the store is not degraded on a full filesystem")
		}
		if err := s.Close(); err != nil {
			t.Logf("Close on a full filesystem: %v", err)
		}
	case "start":
		s, err := Open(storeDir, testOptions(Options{}))
		if err != nil {
			t.Fatalf("Open on a full filesystem: %v", err)
		}
		defer s.Close()
		if h := s.Health(); !h.Degraded {
			t.Fatal("the store opened on a full filesystem is not degraded")
		}
		checkHeld(t, s, held)
		b, d := fullFSBlob(held)
		if _, err := s.Fetch(context.Background(), d, staticSource(b, nil)); !errors.Is(err, ErrCannotWrite) {
			t.Fatalf("Fetch on a full filesystem: %v, want ErrCannotWrite", err)
		}
		if err := os.Remove(filler); err != nil {
			t.Fatal(err)
		}
		s.checkSpace()
		if h := s.Health(); h.Degraded {
			t.Fatalf("still degraded once space was freed: %s", h.Reason)
		}
		if _, err := s.PutBlob(d, bytes.NewReader(b)); err != nil {
			t.Fatalf("PutBlob once space was freed: %v", err)
		}
		checkHeld(t, s, held+1)
	case "fresh":
		filler := testfs.FillAll(t, dir)
		defer os.Remove(filler)
		_, err := Open(filepath.Join(dir, "fresh"), testOptions(Options{}))
		// (An encrypted store fails first writing its key check.)
		if err == nil || !strings.Contains(err.Error(), "free space and start again") && !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("Open of a new store on a full filesystem: %v, want a refusal saying to free space", err)
		}
	default:
		t.Fatalf("unknown phase %q", phase)
	}
	fmt.Println(fullFSDone)
}

// checkHeld checks that the first n blobs of the phases are served whole.
func checkHeld(t *testing.T, s *Store, n int) {
	t.Helper()
	for i := range n {
		b, d := fullFSBlob(i)
		r, err := s.OpenBlob(d)
		if err != nil {
			t.Fatalf("blob %d: %v", i, err)
		}
		got := readAll(t, r)
		r.Close()
		if !bytes.Equal(got, b) {
			t.Fatalf("blob %d: wrong bytes", i)
		}
	}
}
