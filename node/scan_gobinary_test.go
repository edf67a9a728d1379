package node

import (
	"archive/tar"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// sharedGoOSV is the Go vulnerability database's real OSV records, from
// ../shared/vulndata beside the project root (see its README).
func sharedGoOSV(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "..", "shared", "vulndata", "go-osv"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the shared vulnerability data is missing: %v", err)
		}
		t.Skipf("the shared vulnerability data is missing (%v)", err)
	}
	return dir
}

// buildOldTextBinary compiles a program against golang.org/x/text v0.3.5,
// a release the Go vulnerability database has advisories for.
func buildOldTextBinary(t *testing.T) []byte {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"go.mod": "module example.com/oldtext\n\ngo 1.21\n\nrequire golang.org/x/text v0.3.5\n",
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
			t.Fatal(err)
		}
	}
	out := filepath.Join(dir, "oldtext")
	for _, args := range [][]string{{"mod", "tidy"}, {"build", "-o", out, "."}} {
		cmd := exec.Command("go", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-mod=mod")
		if b, err := cmd.CombinedOutput(); err != nil {
			msg := "go " + strings.Join(args, " ") + " (needs the Go module proxy): " + err.Error() + "\n" + string(b)
			if os.Getenv("CI") == "true" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestScanGoBinaryExactAdvisories scans an image holding a Go binary built
// against golang.org/x/text v0.3.5 with the real Go vulnerability database
// and requires exactly the advisories those records give for that module.
func TestScanGoBinaryExactAdvisories(t *testing.T) {
	osv := sharedGoOSV(t)
	bin := buildOldTextBinary(t)

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: "usr/local/bin/oldtext", Typeflag: tar.TypeReg, Mode: 0o755, Size: int64(len(bin))}); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write(bin); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	layer, err := tarball.LayerFromReader(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		t.Fatal(err)
	}
	cf, _ := img.ConfigFile()
	cf.OS, cf.Architecture = "linux", "amd64"
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}

	tn := newScanTestNode(t)
	tn.push(t, "go/app:v1", img)
	tn.importDB(t, osv)
	rep := tn.scan(t, "go/app:v1").Reports[0]

	// The binary's modules and its standard library are in the inventory.
	if rep.Packages < 2 {
		t.Fatalf("inventory of %d packages, want x/text and stdlib at least", rep.Packages)
	}
	var text, stdlib []string
	for _, f := range rep.Report.Findings {
		switch f.Package {
		case "golang.org/x/text":
			text = append(text, f.ID)
			if f.Location != "usr/local/bin/oldtext" && f.Location != "/usr/local/bin/oldtext" {
				t.Errorf("finding %s located at %q", f.ID, f.Location)
			}
		case "stdlib":
			stdlib = append(stdlib, f.ID)
		default:
			t.Errorf("unexpected finding %s in %s", f.ID, f.Package)
		}
	}
	slices.Sort(text)
	// Every record in the Go vulnerability database snapshot that names
	// golang.org/x/text and whose ranges include v0.3.5: GO-2021-0113
	// (fixed v0.3.7), GO-2022-1059 (fixed v0.3.8), GO-2026-5970 (fixed
	// v0.39.0). GO-2020-0015 is fixed in v0.3.3 and must not appear.
	want := []string{"GO-2021-0113", "GO-2022-1059", "GO-2026-5970"}
	if !slices.Equal(text, want) {
		t.Fatalf("x/text v0.3.5 findings = %v, want exactly %v", text, want)
	}
	t.Logf("also reported for the toolchain's standard library: %v", stdlib)
}
