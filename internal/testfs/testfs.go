// Package testfs makes small filesystems for tests of what a full disk
// does: a tmpfs of a given size mounted under the test's temporary
// directory and unmounted when the test ends.
//
// Mounting needs privileges (root, or CAP_SYS_ADMIN). Where it is not
// permitted the test is skipped with the reason, except under CI=true,
// where it fails: CI must run these tests.
package testfs

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// Small mounts a tmpfs of size bytes (a multiple of the page size is
// what tmpfs grants) and returns its directory.
func Small(t testing.TB, size int64) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "smallfs")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d,mode=0700", size), "tmpfs", dir).CombinedOutput()
	if err != nil {
		why := fmt.Sprintf("mounting a %d-byte tmpfs is not permitted here (%v: %s); these tests need root or CAP_SYS_ADMIN", size, err, strings.TrimSpace(string(out)))
		if os.Getenv("CI") == "true" {
			t.Fatal(why)
		}
		t.Skip(why)
	}
	t.Cleanup(func() {
		// Lazy: a store closed by another cleanup may still hold files.
		if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
			t.Errorf("unmounting %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// Fill writes a file of n zero bytes in dir, taking that much of its
// filesystem, and returns its path: remove it to free the space.
func Fill(t testing.TB, dir string, n int64) string {
	t.Helper()
	f, err := os.CreateTemp(dir, "filler-*")
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64<<10)
	for n > 0 {
		m := min(n, int64(len(buf)))
		if _, err := f.Write(buf[:m]); err != nil {
			_ = f.Close()
			t.Fatalf("filling %s: %v", dir, err)
		}
		n -= m
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return f.Name()
}

// FillAll writes a file in dir until its filesystem has not one block
// left, and returns its path: remove it to free the space.
func FillAll(t testing.TB, dir string) string {
	t.Helper()
	f, err := os.CreateTemp(dir, "filler-*")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, chunk := range []int{1 << 20, 4 << 10, 512, 1} {
		buf := make([]byte, chunk)
		for {
			if _, err := f.Write(buf); err != nil {
				if !errors.Is(err, syscall.ENOSPC) {
					t.Fatalf("filling %s: %v", dir, err)
				}
				break
			}
		}
	}
	if err := f.Sync(); err != nil && !errors.Is(err, syscall.ENOSPC) {
		t.Fatal(err)
	}
	return f.Name()
}
