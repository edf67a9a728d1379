// Package datadir is the format of a node's data directory: the version
// of its layout, recorded in the directory, so that a node refuses a data
// dir written by a newer release instead of misreading it, and upgrades
// one written by an older release in place.
package datadir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Current is the format this release writes.
//
//	0  written by releases before formats were recorded: no FORMAT file.
//	1  the FORMAT file. A store's missing or damaged metadata is rebuilt
//	   from its blob files (cache.Rebuild); nothing else changed, so
//	   upgrading from 0 only records the format.
//	2  the store's metadata indexes tags by the manifest they point at,
//	   so that evicting a manifest finds its own tags. The store builds
//	   the index when it next opens (cache.Open, once, marked done in the
//	   metadata), so upgrading from 1 only records the format; the bump
//	   keeps a release before it, which would change tags without the
//	   index, off the data dir.
const Current = 2

// File is the name of the file in the data dir that records its format.
const File = "FORMAT"

const header = "shoal data format "

// upgrades are the steps from each format to the next: upgrades()[i]
// turns format i into i+1, in place. Each must be safe to run again if
// it was interrupted before the new format was recorded.
func upgrades() []func(dir string) error {
	return []func(dir string) error{
		0: func(string) error { return nil }, // format 1 only adds the record
		1: func(string) error { return nil }, // the store builds its tag index at open
	}
}

// Prepare makes the data dir at dir (which must exist) hold the Current
// format: a new, empty one is marked with it, an older one is upgraded in
// place, and one written by a newer release is refused. It returns the
// format the dir held before.
func Prepare(dir string) (from int, err error) {
	from, err = Read(dir)
	if err != nil {
		return 0, err
	}
	switch {
	case from > Current:
		return from, fmt.Errorf("the data dir %s holds format %d, written by a newer shoal; this shoal reads formats up to %d and will not touch it: run that newer release, or give --data-dir an empty directory", dir, from, Current)
	case from == Current:
		if _, err := os.Stat(filepath.Join(dir, File)); err == nil {
			return from, nil
		}
	}
	steps := upgrades()
	for v := from; v < Current; v++ {
		if err := steps[v](dir); err != nil {
			return from, fmt.Errorf("upgrading the data dir %s from format %d to %d: %w", dir, v, v+1, err)
		}
	}
	if err := write(dir, Current); err != nil {
		return from, fmt.Errorf("recording the format of the data dir %s: %w", dir, err)
	}
	return from, nil
}

// Read returns the format of the data dir at dir: the one its FORMAT file
// records, 0 for a dir with content but no such file (an older release),
// and Current for an empty dir.
func Read(dir string) (int, error) {
	p := filepath.Join(dir, File)
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		es, err := os.ReadDir(dir)
		if err != nil {
			return 0, err
		}
		if len(es) == 0 {
			return Current, nil
		}
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	s, ok := strings.CutPrefix(strings.TrimSpace(string(b)), header)
	v, verr := strconv.Atoi(s)
	if !ok || verr != nil || v < 1 {
		return 0, fmt.Errorf("%s does not say a format (want %q followed by a number, found %q): it is damaged, or not shoal's", p, header, truncate(string(b), 64))
	}
	return v, nil
}

// write records format v in dir durably: a temporary file, fsynced,
// renamed into place, the directory synced.
func write(dir string, v int) error {
	p := filepath.Join(dir, File)
	tmp := p + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(f, "%s%d\n", header, v)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, p)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
