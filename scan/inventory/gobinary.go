package inventory

import (
	"bytes"
	"debug/buildinfo"
	"io"
	"regexp"
	"strings"

	"github.com/shoal-dev/shoal/scan"
)

// buildInfoMagic starts the .go.buildinfo section of every Go binary since
// Go 1.13; a file without it is not worth handing to debug/buildinfo.
var buildInfoMagic = []byte("\xff Go buildinf:")

// goBinaryPackages returns the Go packages an executable was built from, or
// nothing if it is not a Go binary.
func goBinaryPackages(r io.ReaderAt) []scan.Package {
	bi, err := buildinfo.Read(r)
	if err != nil {
		// Not a Go binary after all, or one whose build info is damaged:
		// neither is an error of the image as a whole.
		return nil
	}
	return goPackages(bi)
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
