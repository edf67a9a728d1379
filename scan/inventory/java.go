package inventory

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"github.com/shoal-dev/shoal/internal/tempfile"

	"github.com/shoal-dev/shoal/scan"
)

// Bounds on reading Java archives, which can be large and nest.
const (
	// maxJavaArchive: a larger jar, war or ear in the image is skipped.
	maxJavaArchive = 256 << 20
	// javaInMemory: archives up to this size are read into memory, larger
	// ones spooled to a temporary file (zip needs random access).
	javaInMemory = 16 << 20
	// maxNestedArchive caps one archive inside another (read into memory).
	maxNestedArchive = 64 << 20
	// maxNestedTotal caps the bytes of all nested archives read for one
	// archive in the image, so a war of a thousand jars costs a bounded read.
	maxNestedTotal = 256 << 20
	// maxJavaNesting: archives within archives deeper than this are not
	// opened (a Spring Boot war is 2 deep: war, BOOT-INF/lib jar).
	maxJavaNesting = 3
	// maxJavaMetadata caps a pom.properties or MANIFEST.MF.
	maxJavaMetadata = 1 << 20
)

// isJavaArchive knows a jar, war or ear (and Jenkins' jpi and hpi plugins,
// which are jars) by its name, as the JVM and servlet containers do.
func isJavaArchive(base string) bool {
	switch strings.ToLower(path.Ext(base)) {
	case ".jar", ".war", ".ear", ".jpi", ".hpi":
		return true
	}
	return false
}

// readJavaArchive reads the archive named base, size bytes from r, and
// returns its packages and those of the archives inside it. An archive too
// large, or not a zip, gives nothing.
func readJavaArchive(r io.Reader, size int64, base string) ([]scan.Package, error) {
	if size > maxJavaArchive || size < 0 {
		return nil, nil
	}
	var ra io.ReaderAt
	if size <= javaInMemory {
		data, err := io.ReadAll(io.LimitReader(r, size))
		if err != nil {
			return nil, fmt.Errorf("read: %w", err)
		}
		ra, size = bytes.NewReader(data), int64(len(data))
	} else {
		f, err := tempfile.Unlinked(os.TempDir(), "shoal-inventory-*")
		if err != nil {
			return nil, fmt.Errorf("spool: %w", err)
		}
		defer f.Close()
		n, err := io.Copy(f, io.LimitReader(r, size))
		if err != nil {
			return nil, fmt.Errorf("spool: %w", err)
		}
		ra, size = f, n
	}
	budget := int64(maxNestedTotal)
	return javaArchivePackages(ra, size, base, "", 0, &budget), nil
}

// javaArchivePackages reads one zip: a package for each
// META-INF/maven/<group>/<artifact>/pom.properties, the archive's own
// identity from its manifest or file name when no pom.properties names the
// file's artifact,
// then the archives inside, up to maxJavaNesting deep and within budget
// bytes. nested is the archive's path within the image's file ("" for the
// file itself), the Location suffix of what it holds.
func javaArchivePackages(ra io.ReaderAt, size int64, base, nested string, depth int, budget *int64) []scan.Package {
	zr, err := zip.NewReader(ra, size)
	if err != nil && !(errors.Is(err, zip.ErrInsecurePath) && zr != nil) {
		return nil // not a zip; an entry named "../x" is harmless here, nothing is extracted
	}
	fileName, fileVersion := javaNameFromFile(base)
	var out []scan.Package
	var manifest []byte
	ownPom := false
	var inner []*zip.File
	for _, f := range zr.File {
		switch {
		case isPomProperties(f.Name):
			if p, ok := javaPomPackage(parseJavaProperties(readZipFile(f, maxJavaMetadata))); ok {
				ownPom = ownPom || javaArtifact(p.Name) == fileName
				out = append(out, p)
			}
		case strings.EqualFold(f.Name, "META-INF/MANIFEST.MF"):
			manifest = readZipFile(f, maxJavaMetadata)
		case isJavaArchive(path.Base(f.Name)) && !f.FileInfo().IsDir():
			inner = append(inner, f)
		}
	}
	if !ownPom {
		// A jar whose poms are all of other artifacts (shaded in: guice.jar
		// holds cglib's) still is something itself: say what, as far as its
		// manifest or name tell. A renamed jar (Debian's maven3-core.jar,
		// whose pom is maven-core's) so appears under both names, as syft
		// reports it.
		if p, ok := javaManifestPackage(parseJavaManifest(manifest), fileName, fileVersion); ok && (len(out) == 0 || !javaHasPackage(out, p)) {
			out = append(out, p)
		}
	}
	for i := range out {
		out[i].Location = nested
	}
	if depth >= maxJavaNesting {
		return out
	}
	for _, f := range inner {
		if f.UncompressedSize64 > maxNestedArchive || int64(f.UncompressedSize64) > *budget {
			continue
		}
		data := readZipFile(f, maxNestedArchive)
		*budget -= int64(len(data))
		if data == nil {
			continue
		}
		loc := f.Name
		if nested != "" {
			loc = nested + ":" + f.Name
		}
		out = append(out, javaArchivePackages(bytes.NewReader(data), int64(len(data)), path.Base(f.Name), loc, depth+1, budget)...)
	}
	return out
}

// readZipFile reads an entry of at most limit bytes, or gives nil for one
// that is larger (whatever its header claims) or damaged.
func readZipFile(f *zip.File, limit int64) []byte {
	rc, err := f.Open()
	if err != nil {
		return nil
	}
	defer func() { _ = rc.Close() }()
	data, err := io.ReadAll(io.LimitReader(rc, limit+1))
	if err != nil || int64(len(data)) > limit {
		return nil
	}
	return data
}

// isPomProperties matches META-INF/maven/<group>/<artifact>/pom.properties,
// which Maven writes into every artifact it builds.
func isPomProperties(name string) bool {
	rest, ok := strings.CutPrefix(name, "META-INF/maven/")
	return ok && strings.Count(rest, "/") == 2 && strings.HasSuffix(rest, "/pom.properties")
}

// javaHasPackage: is p's artifact at p's version among pkgs already, with
// or without a known group?
func javaHasPackage(pkgs []scan.Package, p scan.Package) bool {
	for _, q := range pkgs {
		if javaArtifact(q.Name) == javaArtifact(p.Name) && q.Version == p.Version {
			return true
		}
	}
	return false
}

// javaArtifact is the artifactId of a "groupId:artifactId" name.
func javaArtifact(name string) string {
	return name[strings.LastIndexByte(name, ':')+1:]
}
