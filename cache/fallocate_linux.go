package cache

import (
	"errors"
	"os"
	"syscall"
)

// fallocateFile gives the first size bytes of the file at path blocks,
// keeping its content. A filesystem that cannot preallocate is left
// alone: the free-space checks still stand.
func fallocateFile(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	for {
		err = syscall.Fallocate(int(f.Fd()), 0, 0, size)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if errors.Is(err, syscall.EOPNOTSUPP) {
		return nil
	}
	return err
}
