package archive

import (
	"errors"
	"fmt"
	"io"

	"github.com/shoal-dev/shoal/oci"
)

// limits bound what an archive may hold, so that a hostile one cannot
// make its reader allocate without bound.
type limits struct {
	entries       int   // tar members
	jsonBytes     int64 // index.json, manifest.json, oci-layout
	configBytes   int64 // a docker save image config
	manifestBytes int64
	indexDepth    int // indexes within indexes
}

func defaultLimits(maxManifestBytes int64) limits {
	if maxManifestBytes <= 0 {
		maxManifestBytes = oci.DefaultMaxManifestBytes
	}
	return limits{
		entries:       1 << 20,
		jsonBytes:     16 << 20,
		configBytes:   32 << 20,
		manifestBytes: maxManifestBytes,
		indexDepth:    8,
	}
}

// Read reads the image archive of size bytes in r: a tar of an OCI image
// layout or a docker save tarball, uncompressed. It reads the tar's
// headers and the archive's metadata (every manifest, and the configs of
// docker save images), checking each manifest against its digest; the
// blobs are left in r to be read through Blob.Open, so r must stay open
// while the Contents are used.
//
// A hostile archive cannot make Read allocate without bound: it refuses
// manifests over maxManifestBytes (0 for oci.DefaultMaxManifestBytes),
// more than 2^20 tar members, an oci-layout, index.json or manifest.json
// over 16 MiB, a docker save image config over 32 MiB, and indexes nested
// more than 8 deep.
//
// Every error Read returns matches one of the Err… values of this package.
func Read(r io.ReaderAt, size, maxManifestBytes int64) (*Contents, error) {
	return read(r, size, defaultLimits(maxManifestBytes))
}

func read(r io.ReaderAt, size int64, lim limits) (*Contents, error) {
	ix, err := indexTar(r, size, lim.entries)
	if err != nil {
		return nil, &problem{kind: ErrUnknownFormat, msg: err.Error(), cause: err}
	}
	if root, ok := layoutRoot(ix); ok {
		return readOCILayout(ix, root, lim)
	}
	if ix.has(dockerSaveManifest) {
		return readDockerSave(ix, lim)
	}
	return nil, &problem{kind: ErrUnknownFormat, msg: "found neither oci-layout and index.json nor manifest.json"}
}

// invalid is an ErrInvalid problem.
func invalid(format string, args ...any) error {
	return &problem{kind: ErrInvalid, msg: fmt.Sprintf(format, args...)}
}

// inContext says where in the archive err happened: where is the entry
// of index.json or manifest.json being read. A file absent from the
// archive that the entry needs is ErrMissing; any other error that is not
// yet a problem is ErrInvalid.
func inContext(where string, err error) error {
	var p *problem
	if errors.As(err, &p) {
		return &problem{kind: p.kind, msg: where + ": " + p.msg, cause: p.cause}
	}
	if errors.Is(err, errAbsent) {
		return &problem{kind: ErrMissing, msg: fmt.Sprintf("%s: manifest %v", where, err)}
	}
	return invalid("%s: %v", where, err)
}
