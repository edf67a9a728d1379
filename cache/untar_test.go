package cache

import (
	"testing"

	"github.com/shoal-dev/shoal/internal/testtar"
)

// untarStore extracts the store/ of a data dir fixture into a new dir
// and returns it.
func untarStore(t *testing.T, fixture string) string {
	t.Helper()
	dir := t.TempDir()
	testtar.Extract(t, fixture, "store/", dir)
	return dir
}
