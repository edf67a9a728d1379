package inventory

import (
	"context"
	"maps"
	"strconv"
	"strings"
	"testing"
)

const (
	jinjaDistInfo = "usr/lib/python3/dist-packages/Jinja2-2.10.dist-info/METADATA"
	jinjaVenv     = "opt/venv/lib/python3.11/site-packages/Jinja2-2.10.dist-info/METADATA"
	jinjaMetadata = "Metadata-Version: 2.1\nName: Jinja2\nVersion: 2.10\n"
	jinjaDebPURL  = "pkg:deb/debian/python3-jinja2@2.10-2?arch=all&distro=debian-12"
	// jinjaDebList is what dpkg writes to python3-jinja2.list: every
	// folder and file the package installed, absolute.
	jinjaDebList = "/.\n/usr\n/usr/lib\n/usr/lib/python3\n/usr/lib/python3/dist-packages\n" +
		"/usr/lib/python3/dist-packages/Jinja2-2.10.dist-info\n/" + jinjaDistInfo + "\n" +
		"/usr/lib/python3/dist-packages/jinja2/__init__.py\n"
)

func jinjaDebStatus(status, arch string) string {
	return "Package: python3-jinja2\nStatus: " + status + "\nArchitecture: " + arch + "\nSource: jinja2\nVersion: 2.10-2\n"
}

// Language packages an OS package installed carry that package's purl as
// their Owner, from the file lists dpkg, apk and rpm keep, with the lists
// and the files seen as the merged image has them.
func TestScanOwnership(t *testing.T) {
	osRelease := file("etc/os-release", debian12OSRelease)
	installed := file("var/lib/dpkg/status", jinjaDebStatus("install ok installed", "all"))
	list := file("var/lib/dpkg/info/python3-jinja2.list", jinjaDebList)
	tests := []struct {
		name   string
		layers [][]entry
		want   map[string]string // Location → Owner, for every package with a Location
	}{
		{"dpkg and its list in one layer, the files in the next; a venv copy is not owned",
			[][]entry{{osRelease, installed, list}, {file(jinjaDistInfo, jinjaMetadata), file(jinjaVenv, jinjaMetadata)}},
			map[string]string{jinjaDistInfo: jinjaDebPURL, jinjaVenv: ""}},
		{"files first, the list in a later layer",
			[][]entry{{file(jinjaDistInfo, jinjaMetadata)}, {osRelease, installed, list}},
			map[string]string{jinjaDistInfo: jinjaDebPURL}},
		{"merged /usr: the list's /lib path lands in usr/lib",
			[][]entry{{symlink("lib", "usr/lib"), osRelease, installed,
				file("var/lib/dpkg/info/python3-jinja2.list", "/lib/python3/dist-packages/Jinja2-2.10.dist-info/METADATA\n"),
				file("lib/python3/dist-packages/Jinja2-2.10.dist-info/METADATA", jinjaMetadata)}},
			map[string]string{jinjaDistInfo: jinjaDebPURL}},
		{"info folder reached through a symlink",
			[][]entry{{symlink("var/lib/dpkg", "../../usr/share/dpkg-db"), osRelease,
				file("usr/share/dpkg-db/status", jinjaDebStatus("install ok installed", "all")),
				file("usr/share/dpkg-db/info/python3-jinja2.list", jinjaDebList), file(jinjaDistInfo, jinjaMetadata)}},
			map[string]string{jinjaDistInfo: jinjaDebPURL}},
		{"Multi-Arch: same list named package:arch",
			[][]entry{{osRelease, file("var/lib/dpkg/status", jinjaDebStatus("install ok installed", "amd64")),
				file("var/lib/dpkg/info/python3-jinja2:amd64.list", jinjaDebList), file(jinjaDistInfo, jinjaMetadata)}},
			map[string]string{jinjaDistInfo: "pkg:deb/debian/python3-jinja2@2.10-2?arch=amd64&distro=debian-12"}},
		{"list whited out by a later layer",
			[][]entry{{osRelease, installed, list, file(jinjaDistInfo, jinjaMetadata)}, {whiteout("var/lib/dpkg/info/.wh.python3-jinja2.list")}},
			map[string]string{jinjaDistInfo: ""}},
		{"info folder made opaque by a later layer",
			[][]entry{{osRelease, installed, list, file(jinjaDistInfo, jinjaMetadata)}, {whiteout("var/lib/dpkg/info/.wh..wh..opq")}},
			map[string]string{jinjaDistInfo: ""}},
		{"package removed, its list left: not installed, owns nothing",
			[][]entry{{osRelease, file("var/lib/dpkg/status", jinjaDebStatus("deinstall ok config-files", "all")), list, file(jinjaDistInfo, jinjaMetadata)}},
			map[string]string{jinjaDistInfo: ""}},
		{"list of a package the status does not have",
			[][]entry{{osRelease, file("var/lib/dpkg/status", stanza("libc6", "2.36-9")), list, file(jinjaDistInfo, jinjaMetadata)}},
			map[string]string{jinjaDistInfo: ""}},
		{"distroless status.d and its md5sums",
			[][]entry{{osRelease, file("var/lib/dpkg/status.d/python3-jinja2", jinjaDebStatus("install ok installed", "all")),
				file("var/lib/dpkg/status.d/python3-jinja2.md5sums", "0123456789abcdef0123456789abcdef  "+jinjaDistInfo+"\n"),
				file(jinjaDistInfo, jinjaMetadata), file(jinjaVenv, jinjaMetadata)}},
			map[string]string{jinjaDistInfo: jinjaDebPURL, jinjaVenv: ""}},
		{"distroless md5sums without its stanza",
			[][]entry{{osRelease, file("var/lib/dpkg/status.d/python3-jinja2.md5sums", "0123456789abcdef0123456789abcdef  "+jinjaDistInfo+"\n"),
				file(jinjaDistInfo, jinjaMetadata)}},
			map[string]string{jinjaDistInfo: ""}},
		{"a file list over the cap is left out, the scan goes on",
			[][]entry{{osRelease, installed, file("var/lib/dpkg/info/python3-jinja2.list", jinjaDebList+strings.Repeat("/usr/share/doc/x\n", maxDpkgList/16)),
				file(jinjaDistInfo, jinjaMetadata)}},
			map[string]string{jinjaDistInfo: ""}},
		{"apk F: and R: lines",
			[][]entry{{file("etc/os-release", alpine310OSRelease), file("lib/apk/db/installed",
				"P:py3-jinja2\nV:3.1.2-r0\nA:noarch\no:py3-jinja2\nF:usr/lib/python3.11/site-packages/Jinja2-3.1.2.dist-info\nR:METADATA\nR:RECORD\n"),
				file("usr/lib/python3.11/site-packages/Jinja2-3.1.2.dist-info/METADATA", "Name: Jinja2\nVersion: 3.1.2\n")}},
			map[string]string{"usr/lib/python3.11/site-packages/Jinja2-3.1.2.dist-info/METADATA": "pkg:apk/alpine/py3-jinja2@3.1.2-r0?arch=noarch&distro=alpine-3.10.4"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			inv, err := scanEntries(t, tc.layers)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for _, p := range inv.Packages {
				if p.Location != "" {
					got[p.Location] = p.Owner
				} else if p.Owner != "" {
					t.Errorf("OS package %s has an owner %q", p.Name, p.Owner)
				}
			}
			if !maps.Equal(got, tc.want) {
				t.Errorf("owners %v\nwant %v", got, tc.want)
			}
		})
	}
}

// An rpm's header lists its files: a Go binary the rpm installed is owned.
func TestScanRPMOwnership(t *testing.T) {
	bin, _ := buildGoBinary(t)
	dive := testdataFile(t, "rpm", "syft-coverage.Packages")
	inv, err := Scan(context.Background(), "linux/amd64", []Layer{layer(t,
		file("etc/os-release", centosRelease), file("var/lib/rpm/Packages", dive),
		entry{name: "usr/local/bin/dive", body: string(bin), mode: 0o755},
		entry{name: "usr/local/bin/other", body: string(bin), mode: 0o755})})
	if err != nil {
		t.Fatal(err)
	}
	owned := 0
	for _, p := range inv.Packages {
		switch p.Location {
		case "usr/local/bin/dive":
			owned++
			if p.Owner != "pkg:rpm/centos/dive@0.9.2-1?arch=x86_64&distro=centos-7" {
				t.Errorf("%s in dive: owner %q", p.Name, p.Owner)
			}
		case "usr/local/bin/other":
			if p.Owner != "" {
				t.Errorf("%s in other: owner %q", p.Name, p.Owner)
			}
		}
	}
	if owned == 0 {
		t.Errorf("no package read from usr/local/bin/dive: %+v", inv.Packages)
	}
}

func TestRPMFiles(t *testing.T) {
	tests := []struct {
		name    string
		dirs    []string
		indexes []int
		bases   []string
		want    []string
	}{
		{"joined", []string{"/usr/bin/", "/etc/"}, []int{0, 1, 0}, []string{"a", "b", "c"}, []string{"/usr/bin/a", "/etc/b", "/usr/bin/c"}},
		{"none", nil, nil, nil, []string{}},
		{"index out of range", []string{"/usr/bin/"}, []int{0, 1}, []string{"a", "b"}, nil},
		{"negative index", []string{"/usr/bin/"}, []int{-1}, []string{"a"}, nil},
		{"counts differ", []string{"/usr/bin/"}, []int{0}, []string{"a", "b"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := rpmFiles(tc.dirs, tc.indexes, tc.bases)
			if (got == nil) != (tc.want == nil) || len(got) != len(tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("got %q, want %q", got, tc.want)
				}
			}
		})
	}
}

// BenchmarkOwners: a full Debian system's file lists (~800 packages,
// ~200,000 lines) against ~1,000 language package files.
func BenchmarkOwners(b *testing.B) {
	o := newOverlay()
	candidates := map[string]bool{}
	var lists []ownedFiles
	for pkg := range 800 {
		var list []byte
		for f := range 250 {
			p := "usr/share/pkg" + strconv.Itoa(pkg) + "/dir" + strconv.Itoa(f%10) + "/file" + strconv.Itoa(f) + ".py"
			if f == 0 && pkg%4 == 0 {
				p = "usr/lib/python3/dist-packages/pkg" + strconv.Itoa(pkg) + "-1.0.dist-info/METADATA"
			}
			list = append(list, "/"+p+"\n"...)
		}
		lists = append(lists, ownedFiles{owner: "pkg:deb/debian/pkg" + strconv.Itoa(pkg), files: lineList(list)})
	}
	for i := range 1000 {
		candidates["usr/lib/python3/dist-packages/pkg"+strconv.Itoa(i)+"-1.0.dist-info/METADATA"] = true
	}
	b.ReportAllocs()
	for b.Loop() {
		if got := o.owners(candidates, lists); len(got) != 200 {
			b.Fatalf("%d owned, want 200", len(got))
		}
	}
}
