package inventory

import (
	"archive/tar"
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shoal-dev/shoal/internal/hosttar"
	"github.com/shoal-dev/shoal/scan"
)

// mixedImageLayers builds the image of issue 12 from this machine's own
// files, one layer per kind, as testdata/syft/README.md describes; nil when
// a source is missing here.
func mixedImageLayers(t testing.TB) []Layer {
	t.Helper()
	home, _ := os.UserHomeDir()
	var python []hosttar.Path
	for _, pattern := range []string{"*.dist-info", "*.egg-info"} {
		matches, _ := filepath.Glob("/usr/lib/python3/dist-packages/" + pattern)
		for _, m := range matches {
			python = append(python, hosttar.Path{Name: "usr/lib/python3/dist-packages/" + filepath.Base(m), Host: m})
		}
	}
	groups := [][]hosttar.Path{
		{{Name: "etc/os-release", Host: "/etc/os-release"}, {Name: "var/lib/dpkg/status", Host: "/var/lib/dpkg/status"}},
		python,
		{{Name: "usr/lib/node_modules/npm", Host: "/usr/lib/node_modules/npm"}},
		{{Name: "usr/share/java", Host: "/usr/share/java"}},
		{{Name: "usr/local/bin/crane", Host: filepath.Join(home, "go/bin/crane")}, {Name: "usr/local/bin/helm", Host: filepath.Join(home, "go/bin/helm")}},
	}
	var layers []Layer
	for _, g := range groups {
		if len(g) == 0 {
			return nil
		}
		for _, f := range g {
			if _, err := os.Stat(f.Host); err != nil {
				return nil
			}
		}
		layers = append(layers, func() (io.ReadCloser, error) { return hosttar.Reader(g...), nil })
	}
	return layers
}

// layersDigest is the sha256 of the layers' tar streams, one after another:
// the inputs a recorded package list is valid for.
func layersDigest(t *testing.T, layers []Layer) string {
	t.Helper()
	h := sha256.New()
	for _, open := range layers {
		rc, err := open()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(h, rc); err != nil {
			t.Fatal(err)
		}
		_ = rc.Close()
	}
	return hex.EncodeToString(h.Sum(nil))
}

// syftPackage is one line of testdata/syft/mixed-image.tsv.
type syftPackage struct{ typ, name, version, location string }

func readSyftList(t *testing.T, name string) []syftPackage {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	var out []syftPackage
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), "\t")
		if len(fields) != 4 {
			t.Fatalf("%s: bad line %q", name, sc.Text())
		}
		out = append(out, syftPackage{fields[0], fields[1], fields[2], fields[3]})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// syftKey is how a syft package is compared with Shoal's: ecosystem, the
// name as its purl has it, version.
func syftKey(p syftPackage) (string, bool) {
	v := p.version
	if v == "" || v == "UNKNOWN" || v == "(devel)" {
		return "", false // no version to compare: Shoal reports no such package
	}
	switch p.typ {
	case "deb":
		return "deb " + p.name + " " + v, true
	case "python":
		return "pypi " + pep503Name(p.name) + " " + v, true
	case "npm":
		return "npm " + p.name + " " + v, true
	case "java-archive":
		return "maven " + p.name + " " + v, true
	case "go-module":
		if p.name == "stdlib" {
			v = goToolchainSemver(v)
		}
		return "golang " + p.name + " " + v, true
	}
	return "", false
}

func shoalKey(p scan.Package) string {
	switch {
	case strings.HasPrefix(p.Ecosystem, "Debian"):
		return "deb " + p.Name + " " + p.Version
	case p.Ecosystem == "PyPI":
		return "pypi " + pep503Name(p.Name) + " " + p.Version
	case p.Ecosystem == "npm":
		return "npm " + p.Name + " " + p.Version
	case p.Ecosystem == "Maven":
		return "maven " + javaArtifact(p.Name) + " " + p.Version
	case p.Ecosystem == "Go":
		return "golang " + p.Name + " " + p.Version
	}
	return p.Ecosystem + " " + p.Name + " " + p.Version
}

// TestMixedImageAgainstSyft scans the mixed image built from this machine's
// files and requires every package syft finds in it, with a version, to be
// found by Shoal too. Where syft is installed (.ci/run installs it) it runs
// syft on the same image now, as testdata/syft/README.md says the recorded
// list was made; elsewhere it compares with that list, where the inputs
// are the ones it was recorded from (testdata/syft/mixed-image.sha256): a
// machine's files change with every package installed, so the recorded
// list alone left the test skipped on CI.
func TestMixedImageAgainstSyft(t *testing.T) {
	if testing.Short() {
		t.Skip("reads ~160 MB of this machine's files")
	}
	layers := mixedImageLayers(t)
	if layers == nil {
		t.Skip("this machine lacks a source of the mixed image (dist-packages, npm, /usr/share/java, ~/go/bin/crane and helm)")
	}
	var syftList []syftPackage
	if syft, err := exec.LookPath("syft"); err == nil {
		syftList = runSyft(t, syft, layers)
	} else {
		if os.Getenv("CI") != "" {
			t.Fatal("syft is not installed; .ci/run installs it")
		}
		want, err := os.ReadFile("testdata/syft/mixed-image.sha256")
		if err != nil {
			t.Fatal(err)
		}
		if got := layersDigest(t, layers); got != strings.TrimSpace(string(want)) {
			t.Skipf("syft is not installed, and this machine's files (layers sha256 %s) are not the ones the syft list was recorded from", got)
		}
		syftList = readSyftList(t, "testdata/syft/mixed-image.tsv")
	}
	inv, err := Scan(context.Background(), "linux/amd64", layers)
	if err != nil {
		t.Fatal(err)
	}
	found := make(map[string]bool)
	perEcosystem := make(map[string]int)
	for _, p := range inv.Packages {
		found[shoalKey(p)] = true
		perEcosystem[strings.SplitN(p.Ecosystem, ":", 2)[0]]++
	}
	t.Logf("Shoal: %d packages %v", len(inv.Packages), perEcosystem)
	syftPerType := make(map[string]int)
	unversioned := make(map[string]int)
	for _, p := range syftList {
		syftPerType[p.typ]++
		k, ok := syftKey(p)
		if !ok {
			unversioned[p.typ]++
			continue
		}
		if !found[k] {
			t.Errorf("syft found %s %s %s at %s; Shoal did not", p.typ, p.name, p.version, p.location)
		}
	}
	t.Logf("syft: %v, of which without a version (not compared): %v", syftPerType, unversioned)
}

// runSyft unpacks layers into a directory and catalogs it with syft as
// testdata/syft/README.md records (its image catalogers: a dir: source
// otherwise reads lock files, not installed package.json files).
func runSyft(t *testing.T, syft string, layers []Layer) []syftPackage {
	t.Helper()
	root := t.TempDir()
	for _, open := range layers {
		rc, err := open()
		if err != nil {
			t.Fatal(err)
		}
		err = unpackTar(rc, root)
		_ = rc.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(t.TempDir(), "syft.json")
	cmd := exec.Command(syft, "dir:"+root, "--override-default-catalogers", "image", "-o", "syft-json="+out, "-q")
	cmd.Env = append(os.Environ(), "SYFT_CHECK_FOR_APP_UPDATE=false")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("syft: %v\n%s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Artifacts []struct {
			Type, Name, Version string
			Locations           []struct{ Path string }
		}
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("syft's JSON: %v", err)
	}
	var list []syftPackage
	for _, a := range doc.Artifacts {
		p := syftPackage{typ: a.Type, name: a.Name, version: a.Version}
		if a.Type != "deb" && len(a.Locations) > 0 {
			p.location = a.Locations[0].Path
		}
		list = append(list, p)
	}
	if len(list) == 0 {
		t.Fatal("syft found nothing in the mixed image")
	}
	return list
}

// unpackTar writes a layer's directories, files and symlinks (kept as they
// are, as cp -a keeps them) under root.
func unpackTar(r io.Reader, root string) error {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		name := filepath.Clean("/" + h.Name)
		dst := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(dst, 0o755); err != nil {
				return err
			}
		case tar.TypeSymlink:
			_ = os.Remove(dst)
			if err := os.Symlink(h.Linkname, dst); err != nil {
				return err
			}
		case tar.TypeReg:
			f, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
			if err != nil {
				return err
			}
			_, err = io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		}
	}
}
