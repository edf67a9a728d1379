package inventory

import (
	"archive/tar"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// hostFile maps a file or directory tree of this machine into a test image.
type hostFile struct {
	image string // path in the image
	host  string // path on this machine
}

// hostLayer streams a plain tar of the host files as a layer, through a pipe
// so that a large tree never sits in memory. Directories are walked without
// following symlinks, which stay symlinks in the layer; a top-level host path
// that is a symlink is followed (/etc/os-release -> ../usr/lib/os-release).
func hostLayer(t testing.TB, files ...hostFile) Layer {
	return func() (io.ReadCloser, error) {
		pr, pw := io.Pipe()
		go func() {
			tw := tar.NewWriter(pw)
			err := writeHostFiles(tw, files)
			if err == nil {
				err = tw.Close()
			}
			pw.CloseWithError(err)
		}()
		return pr, nil
	}
}

func writeHostFiles(tw *tar.Writer, files []hostFile) error {
	for _, f := range files {
		root, err := filepath.EvalSymlinks(f.host)
		if err != nil {
			return err
		}
		err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			link := ""
			if info.Mode()&fs.ModeSymlink != 0 {
				if link, err = os.Readlink(p); err != nil {
					return err
				}
			}
			hdr, err := tar.FileInfoHeader(info, link)
			if err != nil {
				return err
			}
			hdr.Name = f.image + strings.TrimPrefix(p, root)
			if d.IsDir() {
				hdr.Name += "/"
			}
			if err := tw.WriteHeader(hdr); err != nil {
				return err
			}
			if !info.Mode().IsRegular() {
				return nil
			}
			src, err := os.Open(p)
			if err != nil {
				return err
			}
			defer func() { _ = src.Close() }()
			_, err = io.Copy(tw, src)
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}
