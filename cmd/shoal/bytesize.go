package main

import (
	"fmt"
	"strconv"
	"strings"
)

// byteSize is a flag value for a number of bytes: a plain integer, or one
// with a unit (KB, MB, GB, TB in powers of 1000; KiB, MiB, GiB, TiB in
// powers of 1024).
type byteSize int64

var byteUnits = []struct {
	suffix string
	factor int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
	{"B", 1},
}

func (b *byteSize) Set(s string) error {
	s = strings.TrimSpace(s)
	factor := int64(1)
	for _, u := range byteUnits {
		if strings.HasSuffix(s, u.suffix) {
			factor = u.factor
			s = strings.TrimSpace(strings.TrimSuffix(s, u.suffix))
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || (factor > 1 && n > (1<<63-1)/factor) {
		return fmt.Errorf("%q is not a size (want e.g. 1073741824, 500MB or 20GiB)", s)
	}
	*b = byteSize(n * factor)
	return nil
}

func (b *byteSize) String() string { return strconv.FormatInt(int64(*b), 10) }
func (b *byteSize) Type() string   { return "bytes" }
