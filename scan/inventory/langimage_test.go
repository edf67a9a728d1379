package inventory

import (
	"archive/tar"
	"context"
	"path"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/shoal-dev/shoal/scan"
)

// at is p as found in the file at loc written by layer.
func at(p scan.Package, loc string, layer int) scan.Package {
	p.Location, p.Layer = loc, layer
	return p
}

// TestScanLanguagePackages builds an application image by hand: a Debian
// base whose python3-yaml also installed PyYAML's metadata, a Node app with
// its lock file and node_modules, a Java app with a war, and a last layer
// that upgrades, deletes and hides some of it.
func TestScanLanguagePackages(t *testing.T) {
	const site = "usr/lib/python3/dist-packages/"
	log4j := zipBytes(t, pomEntry("org.apache.logging.log4j", "log4j-core", "2.14.1"))
	commonsText := zipBytes(t, pomEntry("org.apache.commons", "commons-text", "1.9"))
	war := zipBytes(t, pomEntry("com.example", "shop", "2.0"), zipEntry{"WEB-INF/lib/commons-text-1.9.jar", string(commonsText)})
	exe := entry{name: "opt/app/bin/run.jar", body: string(zipBytes(t, zipEntry{"META-INF/MANIFEST.MF", "Implementation-Version: 3\n"})), mode: 0o755}
	layers := []Layer{
		layer(t,
			file("etc/os-release", debian12OSRelease),
			file("var/lib/dpkg/status", stanza("python3-yaml", "6.0-3+b2")+"Status: install ok installed\n"),
			file(site+"PyYAML-6.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: PyYAML\nVersion: 6.0\n\nlong description\n"),
			file(site+"PyYAML-6.0.dist-info/RECORD", "yaml/__init__.py,,\n"),
			file(site+"distro_info-1.5.egg-info", "Metadata-Version: 1.0\nName: distro-info\nVersion: 1.5\n"),
			file(site+"zope.interface-5.5.2.egg-info/PKG-INFO", "Name: zope.interface\nVersion: 5.5.2\n"),
			file("usr/local/lib/python3.11/site-packages/requests-2.28.1.dist-info/METADATA", "Name: requests\nVersion: 2.28.1\n"),
		),
		layer(t,
			file("app/package.json", `{"name":"my-app","version":"1.0.0"}`),
			file("app/package-lock.json", `{"lockfileVersion":3,"packages":{"":{"name":"my-app","version":"1.0.0"},
				"node_modules/express":{"version":"4.18.2"},"node_modules/@babel/core":{"version":"7.23.0","dev":true},
				"node_modules/qs":{"version":"6.11.0"}}}`),
			file("app/node_modules/express/package.json", `{"name":"express","version":"4.18.2"}`),
			file("app/node_modules/express/lib/package.json", `{"type":"commonjs"}`),
			file("app/node_modules/@types/node/package.json", `{"name":"@types/node","version":"20.8.10"}`),
			file("app/node_modules/lodash/package.json", `{"name":"lodash","version":"4.17.20"}`),
			file("app/node_modules/express/README.json", `{"name":"not-a-manifest","version":"1"}`),
		),
		layer(t,
			file("opt/app/lib/log4j-core-2.14.1.jar", string(log4j)),
			file("opt/app/webapps/shop.war", string(war)),
			exe,
			hardlink("opt/app/lib/log4j-copy.jar", "opt/app/lib/log4j-core-2.14.1.jar"),
		),
		layer(t,
			whiteout("opt/app/lib/.wh.log4j-core-2.14.1.jar"),
			file("app/node_modules/lodash/package.json", `{"name":"lodash","version":"4.17.21"}`),
			whiteout("usr/local/lib/python3.11/.wh.site-packages"),
			dir(site+"zope.interface-5.5.2.egg-info/"),
			whiteout(site+"zope.interface-5.5.2.egg-info/.wh..wh..opq"),
		),
	}
	inv, err := Scan(context.Background(), "linux/amd64", layers)
	if err != nil {
		t.Fatal(err)
	}
	want := sortPackages([]scan.Package{
		deb12("python3-yaml", "6.0-3+b2"),
		// Both: the deb for Debian's advisories, the distribution for PyPI's.
		at(pypi("PyYAML", "pyyaml", "6.0"), site+"PyYAML-6.0.dist-info/METADATA", 0),
		at(pypi("distro-info", "distro-info", "1.5"), site+"distro_info-1.5.egg-info", 0),
		// zope.interface's folder was made opaque and requests' site-packages whited out.
		at(npmPkg("express", "express", "4.18.2"), "app/node_modules/express/package.json", 1),
		at(npmPkg("@types/node", "%40types/node", "20.8.10"), "app/node_modules/@types/node/package.json", 1),
		at(npmPkg("qs", "qs", "6.11.0"), "app/package-lock.json", 1), // in the lock, not installed
		at(npmPkg("lodash", "lodash", "4.17.21"), "app/node_modules/lodash/package.json", 3),
		at(maven("org.apache.logging.log4j", "log4j-core", "2.14.1", ""), "opt/app/lib/log4j-copy.jar", 2), // the hardlink survives its target's whiteout
		at(maven("com.example", "shop", "2.0", ""), "opt/app/webapps/shop.war", 2),
		at(maven("org.apache.commons", "commons-text", "1.9", ""), "opt/app/webapps/shop.war:WEB-INF/lib/commons-text-1.9.jar", 2),
		at(maven("", "run", "3", ""), "opt/app/bin/run.jar", 2), // executable, yet a jar
	})
	if !slices.Equal(inv.Packages, want) {
		t.Errorf("Packages:\n got %s\nwant %s", packageLines(inv.Packages), packageLines(want))
	}
}

func packageLines(pkgs []scan.Package) string {
	var b strings.Builder
	for _, p := range pkgs {
		b.WriteString("\n  " + p.Ecosystem + " " + p.Name + " " + p.Version + " " + p.PURL + " @" + p.Location + " layer " + strconv.Itoa(p.Layer))
	}
	return b.String()
}

// TestHostImageWhiteouts scans the mixed image of this machine's files (not
// needing the recorded syft list) and then hides a jar, a Python
// distribution and an npm package with a last layer of whiteouts.
func TestHostImageWhiteouts(t *testing.T) {
	if testing.Short() {
		t.Skip("reads ~160 MB of this machine's files")
	}
	layers := mixedImageLayers(t)
	if layers == nil {
		t.Skip("this machine lacks a source of the mixed image")
	}
	inv, err := Scan(context.Background(), "linux/amd64", layers)
	if err != nil {
		t.Fatal(err)
	}
	victims := make(map[string]string) // ecosystem -> a file that gave one of its packages
	count := make(map[string]int)
	for _, p := range inv.Packages {
		count[p.Ecosystem]++
		if _, ok := victims[p.Ecosystem]; !ok && p.Location != "" && !strings.Contains(p.Location, ":") {
			victims[p.Ecosystem] = p.Location
		}
	}
	var hide []entry
	for _, eco := range []string{"PyPI", "npm", "Maven"} {
		loc, ok := victims[eco]
		if !ok {
			t.Fatalf("no %s package found in the mixed image (found %v)", eco, count)
		}
		if base := path.Base(loc); base == "METADATA" || base == "PKG-INFO" {
			loc = path.Dir(loc) // the whole *.dist-info or *.egg-info folder
		}
		hide = append(hide, entry{name: path.Join(path.Dir(loc), ".wh."+path.Base(loc)), typ: tar.TypeReg})
	}
	after, err := Scan(context.Background(), "linux/amd64", append(layers, layer(t, hide...)))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range after.Packages {
		for _, h := range hide {
			gone := path.Join(path.Dir(h.name), strings.TrimPrefix(path.Base(h.name), ".wh."))
			if p.Location == gone || strings.HasPrefix(p.Location, gone+"/") || strings.HasPrefix(p.Location, gone+":") {
				t.Errorf("%s %s still found at %s after its whiteout", p.Name, p.Version, p.Location)
			}
		}
	}
	if len(after.Packages) >= len(inv.Packages) {
		t.Errorf("%d packages before the whiteouts, %d after", len(inv.Packages), len(after.Packages))
	}
	t.Logf("mixed image: %v; hid %v", count, hide)
}
