// Package hosttar streams files and directory trees of this machine as a
// plain tar: the layers through which tests and benchmarks catalogue a
// real filesystem as an image.
package hosttar

import (
	"archive/tar"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// Path is a file or directory tree of this machine and its name in the
// tar. With Name "", the members of the tree stand at the top of the tar
// and the tree's root itself is left out.
type Path struct {
	Name string
	Host string
}

// Reader streams the paths as a tar through a pipe, so that a large tree
// never sits in memory. Trees are walked without following symlinks,
// which stay symlinks in the tar; a Host that is itself a symlink is
// followed (/etc/os-release -> ../usr/lib/os-release).
func Reader(paths ...Path) io.ReadCloser {
	pr, pw := io.Pipe()
	go func() {
		tw := tar.NewWriter(pw)
		err := write(tw, paths)
		if err == nil {
			err = tw.Close()
		}
		pw.CloseWithError(err)
	}()
	return pr
}

func write(tw *tar.Writer, paths []Path) error {
	for _, p := range paths {
		root, err := filepath.EvalSymlinks(p.Host)
		if err != nil {
			return err
		}
		if err := filepath.WalkDir(root, func(f string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, err := filepath.Rel(root, f)
			if err != nil {
				return err
			}
			name := p.Name
			switch {
			case rel == "." && name == "":
				return nil
			case rel == ".":
			case name == "":
				name = filepath.ToSlash(rel)
			default:
				name += "/" + filepath.ToSlash(rel)
			}
			return writeEntry(tw, f, name, d)
		}); err != nil {
			return err
		}
	}
	return nil
}

// writeEntry writes the member name for host file f.
func writeEntry(tw *tar.Writer, f, name string, d fs.DirEntry) error {
	info, err := d.Info()
	if err != nil {
		return err
	}
	link := ""
	if info.Mode()&fs.ModeSymlink != 0 {
		if link, err = os.Readlink(f); err != nil {
			return err
		}
	}
	hdr, err := tar.FileInfoHeader(info, link)
	if err != nil {
		return err
	}
	hdr.Name = name
	if d.IsDir() {
		hdr.Name += "/"
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	if !info.Mode().IsRegular() {
		return nil
	}
	src, err := os.Open(f)
	if err != nil {
		return err
	}
	defer func() { _ = src.Close() }()
	_, err = io.Copy(tw, src)
	return err
}
