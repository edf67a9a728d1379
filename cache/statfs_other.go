//go:build !linux

package cache

import "errors"

// statfs is not measured off Linux: the watermarks then do nothing, and
// a full filesystem is seen only when a write fails.
func statfs(string) (Filesystem, error) {
	return Filesystem{}, errors.New("cache: filesystem space is not measured on this system")
}
