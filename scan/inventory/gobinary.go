package inventory

import (
	"bytes"
	"debug/buildinfo"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"

	"github.com/shoal-dev/shoal/internal/tempfile"

	"github.com/shoal-dev/shoal/scan"
)

// Executable formats Go builds: ELF, Mach-O (32/64-bit, both byte orders,
// universal), PE.
var execMagics = [][]byte{
	[]byte("\x7fELF"),
	{0xfe, 0xed, 0xfa, 0xce}, {0xfe, 0xed, 0xfa, 0xcf},
	{0xce, 0xfa, 0xed, 0xfe}, {0xcf, 0xfa, 0xed, 0xfe},
	{0xca, 0xfe, 0xba, 0xbe},
	[]byte("MZ"),
}

// buildInfoMagic starts the .go.buildinfo section of every Go binary since
// Go 1.13; a file without it is not worth handing to debug/buildinfo.
var buildInfoMagic = []byte("\xff Go buildinf:")

// readGoBinary reads an executable of size bytes from r and returns the Go
// packages it was built from (Location unset), or nothing if it is not a Go
// binary. debug/buildinfo needs an io.ReaderAt, so the file is spooled to a
// temporary file that is removed before returning.
func readGoBinary(r io.Reader, size int64) ([]scan.Package, error) {
	var head [4]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	if !isExecutable(head[:]) {
		return nil, nil
	}
	f, err := tempfile.Unlinked(os.TempDir(), "shoal-inventory-*")
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	defer f.Close()
	spot := &magicSpotter{w: f}
	if _, err := spot.Write(head[:]); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	if _, err := io.Copy(spot, io.LimitReader(r, size-int64(len(head)))); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	if !spot.found {
		return nil, nil
	}
	bi, err := buildinfo.Read(f)
	if err != nil {
		// Not a Go binary after all, or one whose build info is damaged:
		// neither is an error of the image as a whole.
		return nil, nil
	}
	return goPackages(bi), nil
}

func isExecutable(head []byte) bool {
	for _, m := range execMagics {
		if bytes.HasPrefix(head, m) {
			return true
		}
	}
	return false
}

// magicSpotter copies to w and notes whether buildInfoMagic went past, even
// across two writes.
type magicSpotter struct {
	w     io.Writer
	tail  []byte // the last len(buildInfoMagic)-1 bytes seen
	found bool
}

func (m *magicSpotter) Write(p []byte) (int, error) {
	if !m.found {
		k := len(buildInfoMagic) - 1
		edge := append(m.tail, p[:min(len(p), k)]...)
		if bytes.Contains(edge, buildInfoMagic) || bytes.Contains(p, buildInfoMagic) {
			m.found = true
		}
		if len(p) >= k {
			m.tail = append(m.tail[:0], p[len(p)-k:]...)
		} else {
			m.tail = append(m.tail, p...)
			m.tail = m.tail[max(0, len(m.tail)-k):]
		}
	}
	return m.w.Write(p)
}

// goPackages turns build info into packages: the main module (a "(devel)"
// build has no version: Version ""), each dependency, and the toolchain as
// "stdlib".
//
// A replaced dependency keeps its required module path with the
// replacement's version, as govulncheck matches it: Go vulnerability records
// name the module path the code imports, and a fork under another path
// carries the upstream bug at the fork's version. A replacement by a local
// directory has no version, so Version is "".
func goPackages(bi *buildinfo.BuildInfo) []scan.Package {
	var pkgs []scan.Package
	if p := bi.Main.Path; p != "" && p != "command-line-arguments" {
		v := bi.Main.Version
		if v == "(devel)" {
			v = ""
		}
		pkgs = append(pkgs, goPackage(p, v))
	}
	for _, d := range bi.Deps {
		if d == nil || d.Path == "" {
			continue
		}
		v := d.Version
		if d.Replace != nil {
			v = d.Replace.Version
		}
		pkgs = append(pkgs, goPackage(d.Path, v))
	}
	if v := goToolchainSemver(bi.GoVersion); v != "" {
		pkgs = append(pkgs, goPackage("stdlib", v))
	}
	return pkgs
}

func goPackage(modPath, version string) scan.Package {
	return scan.Package{Ecosystem: "Go", Name: modPath, Version: version, PURL: purl("golang", "", modPath, version, nil)}
}

var goTagRE = regexp.MustCompile(`^go([0-9]+)\.([0-9]+)(?:\.([0-9]+))?(?:(alpha|beta|rc)([0-9]+))?$`)

// goToolchainSemver maps a toolchain version as buildinfo records it
// ("go1.21.3", "go1.22rc1", "go1.21.3 X:boringcrypto") to the semver form
// vulnerability records use ("v1.21.3", "v1.22.0-rc.1"). Development
// toolchains ("devel go1.23-abc…") have no release version: "".
func goToolchainSemver(v string) string {
	f := strings.Fields(v)
	if len(f) == 0 {
		return ""
	}
	m := goTagRE.FindStringSubmatch(f[0])
	if m == nil {
		return ""
	}
	patch := m[3]
	if patch == "" {
		patch = "0"
	}
	s := "v" + m[1] + "." + m[2] + "." + patch
	if m[4] != "" {
		s += "-" + m[4] + "." + m[5]
	}
	return s
}
