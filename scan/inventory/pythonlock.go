package inventory

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/shoal-dev/shoal/scan"
)

// pypiPackage is a PyPI package pinned at version, or false when name or
// version is not one (empty, or holding characters no distribution name or
// PEP 440 version has).
func pypiPackage(name, version string) (scan.Package, bool) {
	name, version = strings.TrimSpace(name), strings.TrimSpace(version)
	if name == "" || version == "" || !isPythonName(name) || strings.ContainsAny(version, " \t\r\n,;*<>=!~@/\\\"'") {
		return scan.Package{}, false
	}
	return scan.Package{Ecosystem: "PyPI", Name: name, Version: version,
		PURL: purl("pypi", "", pep503Name(name), version, nil)}, true
}

// isPythonName: letters, digits, ".", "-" and "_" (PEP 508's names).
func isPythonName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-' || c == '_') {
			return false
		}
	}
	return s != ""
}

// requirementsPackages reads the exact pins of a pip requirements file:
// "name==version", optionally with extras ("name[socks]==1.0"), an
// environment marker after ";", "--hash" options and "\" continuations, as
// `pip freeze` and `pip-compile` write them. Anything else pins no single
// version and is skipped: ranges, "===", wildcards ("==1.*"), URLs and
// "name @ url", options and nested files ("-r", "-e", "--index-url").
func requirementsPackages(data []byte) []scan.Package {
	var out []scan.Package
	var logical []byte
	for line := range bytes.Lines(data) {
		line = bytes.TrimRight(line, "\r\n")
		if cont, ok := bytes.CutSuffix(line, []byte(`\`)); ok {
			logical = append(logical, cont...)
			logical = append(logical, ' ')
			continue
		}
		logical = append(logical, line...)
		if p, ok := requirementPin(string(logical)); ok {
			out = append(out, p)
		}
		logical = logical[:0]
	}
	if p, ok := requirementPin(string(logical)); ok {
		out = append(out, p)
	}
	return out
}

func requirementPin(line string) (scan.Package, bool) {
	if i := strings.Index(line, " #"); i >= 0 {
		line = line[:i]
	}
	if i := strings.IndexAny(line, ";"); i >= 0 {
		line = line[:i]
	}
	line = strings.TrimSpace(line)
	if line == "" || line[0] == '#' || line[0] == '-' {
		return scan.Package{}, false
	}
	// Options after the requirement ("--hash=sha256:…") are not part of it.
	if i := strings.Index(line, " -"); i >= 0 {
		line = strings.TrimSpace(line[:i])
	}
	name, version, ok := strings.Cut(line, "==")
	if !ok || strings.HasPrefix(version, "=") {
		return scan.Package{}, false
	}
	if i := strings.IndexByte(name, '['); i >= 0 {
		if !strings.HasSuffix(strings.TrimSpace(name), "]") {
			return scan.Package{}, false
		}
		name = name[:i]
	}
	return pypiPackage(name, version)
}

// pipfileLockPackages reads Pipenv's Pipfile.lock (JSON): the "default"
// section's entries pinned "==version". "develop" (what `pipenv install
// --dev` adds) is left out, as npm's dev dependencies are; entries without
// a version (editable, path or git installs) are not registry packages.
func pipfileLockPackages(data []byte) []scan.Package {
	var lock struct {
		Default map[string]struct {
			Version string `json:"version"`
		} `json:"default"`
	}
	if err := json.Unmarshal(data, &lock); err != nil {
		return nil
	}
	var out []scan.Package
	for name, e := range lock.Default {
		version, ok := strings.CutPrefix(e.Version, "==")
		if !ok || strings.HasPrefix(version, "=") {
			continue
		}
		if p, ok := pypiPackage(name, version); ok {
			out = append(out, p)
		}
	}
	return out
}

// poetryLockPackages reads Poetry's poetry.lock (TOML, [[package]] tables).
// Left out: development packages (lock-version 1's `category = "dev"`, or
// 2.1's `groups` without "main"), and packages from a git repository, a
// folder, a file or a URL (`[package.source] type`), which are not PyPI's;
// a private index (`type = "legacy"`) mirrors PyPI's names and is kept.
func poetryLockPackages(data []byte) []scan.Package {
	var lock struct {
		Package []struct {
			Name     string   `toml:"name"`
			Version  string   `toml:"version"`
			Category string   `toml:"category"`
			Groups   []string `toml:"groups"`
			Source   struct {
				Type string `toml:"type"`
			} `toml:"source"`
		} `toml:"package"`
	}
	if _, err := toml.Decode(string(data), &lock); err != nil {
		return nil
	}
	var out []scan.Package
	for _, e := range lock.Package {
		switch {
		case e.Category == "dev", len(e.Groups) > 0 && !slices.Contains(e.Groups, "main"):
			continue
		case e.Source.Type != "" && e.Source.Type != "legacy":
			continue
		}
		if p, ok := pypiPackage(e.Name, e.Version); ok {
			out = append(out, p)
		}
	}
	return out
}

// uvLockPackages reads uv's uv.lock (TOML, [[package]] tables): packages
// whose `source` is a registry. The project itself (`editable` or
// `virtual`) and git, path, directory and URL sources are left out. uv
// marks development dependencies on the project, not on the package, so
// they are listed.
func uvLockPackages(data []byte) []scan.Package {
	var lock struct {
		Package []struct {
			Name    string         `toml:"name"`
			Version string         `toml:"version"`
			Source  map[string]any `toml:"source"`
		} `toml:"package"`
	}
	if _, err := toml.Decode(string(data), &lock); err != nil {
		return nil
	}
	var out []scan.Package
	for _, e := range lock.Package {
		if _, ok := e.Source["registry"]; !ok {
			continue
		}
		if p, ok := pypiPackage(e.Name, e.Version); ok {
			out = append(out, p)
		}
	}
	return out
}
