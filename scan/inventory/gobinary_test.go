package inventory

import (
	"archive/tar"
	"bytes"
	"context"
	"debug/buildinfo"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/shoal-dev/shoal/scan"
)

var goBinary struct {
	once      sync.Once
	data      []byte
	goVersion string // "go1.26.8"
	err       error
	log       string
}

// buildGoBinary compiles a tiny module that uses golang.org/x/text v0.3.5,
// fetching it through the module proxy. Offline it skips, except in CI
// (CI=true), where a skip would hide a broken test.
func buildGoBinary(t testing.TB) ([]byte, string) {
	t.Helper()
	goBinary.once.Do(func() {
		goTool, err := exec.LookPath("go")
		if err != nil {
			goBinary.err = err
			return
		}
		dir, err := os.MkdirTemp("", "shoal-gobin-*")
		if err != nil {
			goBinary.err = err
			return
		}
		defer os.RemoveAll(dir)
		files := map[string]string{
			"go.mod": "module example.com/hello\n\ngo 1.21\n\nrequire golang.org/x/text v0.3.5\n",
			"main.go": `package main

import (
	"fmt"

	"golang.org/x/text/language"
)

func main() { fmt.Println(language.English) }
`,
		}
		for name, body := range files {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
				goBinary.err = err
				return
			}
		}
		out := filepath.Join(dir, "hello")
		cmd := exec.Command(goTool, "build", "-trimpath", "-o", out, ".")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod -buildvcs=false", "GOWORK=off", "CGO_ENABLED=0", "GOTOOLCHAIN=local")
		log, err := cmd.CombinedOutput()
		goBinary.log = string(log)
		if err != nil {
			goBinary.err = err
			return
		}
		goBinary.data, goBinary.err = os.ReadFile(out)
		if goBinary.err == nil {
			bi, err := buildinfo.Read(bytes.NewReader(goBinary.data))
			if err != nil {
				goBinary.err = err
				return
			}
			goBinary.goVersion = bi.GoVersion
		}
	})
	if goBinary.err != nil {
		msg := "building the test Go binary (needs the module proxy for golang.org/x/text v0.3.5): " + goBinary.err.Error() + "\n" + goBinary.log
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return goBinary.data, goBinary.goVersion
}

func TestScanGoBinary(t *testing.T) {
	bin, goVersion := buildGoBinary(t)
	stdlib := goToolchainSemver(goVersion)
	if stdlib == "" {
		t.Fatalf("toolchain %q has no release version", goVersion)
	}
	at := func(loc string) []scan.Package {
		return []scan.Package{
			{Ecosystem: "Go", Name: "example.com/hello", Location: loc, PURL: "pkg:golang/example.com/hello"},
			{Ecosystem: "Go", Name: "golang.org/x/text", Version: "v0.3.5", Location: loc, PURL: "pkg:golang/golang.org/x/text@v0.3.5"},
			{Ecosystem: "Go", Name: "stdlib", Version: stdlib, Location: loc, PURL: "pkg:golang/stdlib@" + stdlib},
		}
	}
	exe := func(name string) entry { return entry{name: name, body: string(bin), mode: 0o755} }
	tests := []struct {
		name   string
		layers func(t *testing.T) []Layer
		want   []scan.Package
	}{
		{
			name:   "executable binary",
			layers: func(t *testing.T) []Layer { return []Layer{layer(t, exe("usr/local/bin/hello"))} },
			want:   at("usr/local/bin/hello"),
		},
		{
			name: "not executable: skipped",
			layers: func(t *testing.T) []Layer {
				return []Layer{layer(t, entry{name: "srv/hello", body: string(bin), mode: 0o644})}
			},
		},
		{
			name: "whited out binary",
			layers: func(t *testing.T) []Layer {
				return []Layer{layerWith(t, zstded, exe("app/hello")), layer(t, whiteout("app/.wh.hello"))}
			},
		},
		{
			name: "overwritten by a script",
			layers: func(t *testing.T) []Layer {
				return []Layer{layer(t, exe("app/hello")), layer(t, entry{name: "app/hello", body: "#!/bin/sh\n", mode: 0o755})}
			},
		},
		{
			name: "hardlink outlives its whited-out original",
			layers: func(t *testing.T) []Layer {
				return []Layer{layer(t, exe("bin/a"), hardlink("bin/b", "bin/a")), layer(t, whiteout("bin/.wh.a"))}
			},
			want: at("bin/b"),
		},
		{
			name: "symlink to a binary is not listed twice",
			layers: func(t *testing.T) []Layer {
				return []Layer{layer(t, exe("bin/a"), symlink("usr/bin/a", "/bin/a"))}
			},
			want: at("bin/a"),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			inv, err := Scan(context.Background(), "linux/amd64", tc.layers(t))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(inv.Packages, tc.want) {
				t.Errorf("Packages:\n got %+v\nwant %+v", inv.Packages, tc.want)
			}
		})
	}
}

func TestGoPackages(t *testing.T) {
	bi := &debug.BuildInfo{
		GoVersion: "go1.21.3 X:boringcrypto",
		Main:      debug.Module{Path: "example.com/app", Version: "v1.2.3"},
		Deps: []*debug.Module{
			{Path: "golang.org/x/net", Version: "v0.1.0", Replace: &debug.Module{Path: "example.com/fork/net", Version: "v0.17.0"}},
			{Path: "example.com/local", Version: "v1.0.0", Replace: &debug.Module{Path: "../local"}},
			{Path: "github.com/Foo/Bar+baz", Version: "v0.0.0-20200101000000-abcdefabcdef+incompatible"},
			nil,
		},
	}
	want := []scan.Package{
		{Ecosystem: "Go", Name: "example.com/app", Version: "v1.2.3", PURL: "pkg:golang/example.com/app@v1.2.3"},
		{Ecosystem: "Go", Name: "golang.org/x/net", Version: "v0.17.0", PURL: "pkg:golang/golang.org/x/net@v0.17.0"},
		{Ecosystem: "Go", Name: "example.com/local", PURL: "pkg:golang/example.com/local"},
		{Ecosystem: "Go", Name: "github.com/Foo/Bar+baz", Version: "v0.0.0-20200101000000-abcdefabcdef+incompatible",
			PURL: "pkg:golang/github.com/Foo/Bar%2Bbaz@v0.0.0-20200101000000-abcdefabcdef%2Bincompatible"},
		{Ecosystem: "Go", Name: "stdlib", Version: "v1.21.3", PURL: "pkg:golang/stdlib@v1.21.3"},
	}
	if got := goPackages(bi); !slices.Equal(got, want) {
		t.Errorf("goPackages:\n got %+v\nwant %+v", got, want)
	}
	bi.Main = debug.Module{Path: "command-line-arguments"}
	if got := goPackages(bi); got[0].Name == "command-line-arguments" {
		t.Errorf("command-line-arguments listed as a module")
	}
}

func TestGoToolchainSemver(t *testing.T) {
	for in, want := range map[string]string{
		"go1.21.3": "v1.21.3", "go1.21.3 X:boringcrypto": "v1.21.3", "go1.20": "v1.20.0",
		"go1.22rc1": "v1.22.0-rc.1", "go1.19beta2": "v1.19.0-beta.2", "go1.26.8": "v1.26.8",
		"devel go1.23-abcdef Mon": "", "": "", "1.21.3": "",
	} {
		if got := goToolchainSemver(in); got != want {
			t.Errorf("goToolchainSemver(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMagicSpotter(t *testing.T) {
	data := append(bytes.Repeat([]byte{'x'}, 100), buildInfoMagic...)
	data = append(data, bytes.Repeat([]byte{'y'}, 50)...)
	for _, chunk := range []int{1, 3, 7, 13, 14, 15, 64, len(data)} {
		var sink bytes.Buffer
		m := &magicSpotter{w: &sink}
		for i := 0; i < len(data); i += chunk {
			if _, err := m.Write(data[i:min(len(data), i+chunk)]); err != nil {
				t.Fatal(err)
			}
		}
		if !m.found || !bytes.Equal(sink.Bytes(), data) {
			t.Errorf("chunk %d: found=%v, copied %d of %d bytes", chunk, m.found, sink.Len(), len(data))
		}
	}
	m := &magicSpotter{w: &bytes.Buffer{}}
	_, _ = m.Write([]byte(strings.Repeat("\xff Go buildin", 10)))
	if m.found {
		t.Error("found a partial magic")
	}
}

// An ELF executable that is not a Go binary is spooled, then dropped.
func TestScanNonGoELF(t *testing.T) {
	body := "\x7fELF" + strings.Repeat("\x00", 8<<10)
	inv, err := Scan(context.Background(), "linux/amd64", []Layer{layer(t, entry{name: "bin/true", typ: tar.TypeReg, body: body, mode: 0o755})})
	if err != nil {
		t.Fatal(err)
	}
	if len(inv.Packages) != 0 {
		t.Fatalf("packages from a non-Go ELF: %+v", inv.Packages)
	}
}
