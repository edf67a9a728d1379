package inventory

import (
	"bytes"
	"encoding/binary"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/scan"
)

const (
	almaRelease   = "NAME=\"AlmaLinux\"\nID=\"almalinux\"\nVERSION_ID=\"8.8\"\n"
	centosRelease = "NAME=\"CentOS Linux\"\nID=\"centos\"\nVERSION_ID=\"7\"\n"
)

func TestScanRPMDatabase(t *testing.T) {
	libuuid := testdataFile(t, "rpm", "libuuid.Packages")
	dive := testdataFile(t, "rpm", "syft-coverage.Packages")
	tests := []struct {
		name    string
		layers  [][]entry
		want    []scan.Package
		wantErr bool
	}{
		{"AlmaLinux 8: OSV ecosystem, source RPM name, purl", [][]entry{{file("etc/os-release", almaRelease), file("var/lib/rpm/Packages", libuuid)}},
			[]scan.Package{{Ecosystem: "AlmaLinux:8", Name: "libuuid", Source: "util-linux", Version: "2.32.1-42.el8_8",
				PURL: "pkg:rpm/almalinux/libuuid@2.32.1-42.el8_8?arch=x86_64&distro=almalinux-8.8"}}, false},
		{"CentOS: listed under a name OSV does not use; source same as name is empty", [][]entry{{file("etc/os-release", centosRelease), file("var/lib/rpm/Packages", dive)}},
			[]scan.Package{{Ecosystem: "RPM:centos", Name: "dive", Version: "0.9.2-1",
				PURL: "pkg:rpm/centos/dive@0.9.2-1?arch=x86_64&distro=centos-7"}}, false},
		{"upper layer replaces the database", [][]entry{
			{file("etc/os-release", almaRelease), file("var/lib/rpm/Packages", dive)},
			{file("var/lib/rpm/Packages", libuuid)}},
			[]scan.Package{{Ecosystem: "AlmaLinux:8", Name: "libuuid", Source: "util-linux", Version: "2.32.1-42.el8_8",
				PURL: "pkg:rpm/almalinux/libuuid@2.32.1-42.el8_8?arch=x86_64&distro=almalinux-8.8", Layer: 1}}, false},
		{"database reached through a symlinked directory", [][]entry{{symlink("var/lib/rpm", "../../usr/lib/sysimage/rpm"), file("etc/os-release", almaRelease), file("usr/lib/sysimage/rpm/Packages", libuuid)}},
			[]scan.Package{{Ecosystem: "AlmaLinux:8", Name: "libuuid", Source: "util-linux", Version: "2.32.1-42.el8_8",
				PURL: "pkg:rpm/almalinux/libuuid@2.32.1-42.el8_8?arch=x86_64&distro=almalinux-8.8"}}, false},
		{"whited out", [][]entry{{file("var/lib/rpm/Packages", libuuid)}, {whiteout("var/lib/rpm/.wh.Packages")}}, nil, false},
		{"garbage database: no packages, no error", [][]entry{{file("var/lib/rpm/Packages", "not a berkeley db")}}, nil, false},
		{"truncated database: no packages, no error", [][]entry{{file("var/lib/rpm/Packages", libuuid[:len(libuuid)/2])}}, nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			inv, err := scanEntries(t, tc.layers)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v", err)
			}
			if err == nil && !slices.Equal(inv.Packages, tc.want) {
				t.Errorf("got %+v\nwant %+v", inv.Packages, tc.want)
			}
		})
	}
}

func TestRPMPackages(t *testing.T) {
	rocky := scan.OSRelease{ID: "rocky", VersionID: "9.3"}
	tests := []struct {
		name string
		e    rpmEntry
		osr  scan.OSRelease
		want scan.Package
	}{
		{"epoch in Version and as a purl qualifier", rpmEntry{Name: "openssl-libs", Epoch: 1, Version: "3.0.7", Release: "24.el9", Arch: "x86_64", SourceRPM: "openssl-3.0.7-24.el9.src.rpm"}, rocky,
			scan.Package{Ecosystem: "Rocky Linux:9", Name: "openssl-libs", Source: "openssl", Version: "1:3.0.7-24.el9",
				PURL: "pkg:rpm/rocky/openssl-libs@3.0.7-24.el9?arch=x86_64&distro=rocky-9.3&epoch=1"}},
		{"noarch, no release", rpmEntry{Name: "tzdata", Version: "2024a", Arch: "noarch", SourceRPM: "tzdata-2024a-1.el9.src.rpm"}, rocky,
			scan.Package{Ecosystem: "Rocky Linux:9", Name: "tzdata", Version: "2024a",
				PURL: "pkg:rpm/rocky/tzdata@2024a?arch=noarch&distro=rocky-9.3"}},
		{"gpg-pubkey has no source RPM; no os-release", rpmEntry{Name: "gpg-pubkey", Version: "fd431d51", Release: "4ae0493b"}, scan.OSRelease{},
			scan.Package{Ecosystem: "RPM", Name: "gpg-pubkey", Version: "fd431d51-4ae0493b", PURL: "pkg:rpm/gpg-pubkey@fd431d51-4ae0493b"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := rpmPackages([]rpmEntry{tc.e}, tc.osr); !slices.Equal(got, []scan.Package{tc.want}) {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestRPMEcosystem(t *testing.T) {
	for _, tc := range []struct {
		id, version, want string
	}{
		{"rhel", "8.9", "Red Hat:8"},
		{"rhel", "", "Red Hat"},
		{"almalinux", "9.3", "AlmaLinux:9"},
		{"rocky", "8", "Rocky Linux:8"},
		{"rocky", "", "Rocky Linux"},
		{"opensuse-leap", "15.5", "openSUSE:Leap 15.5"},
		{"opensuse", "42.3", "openSUSE:Leap 42.3"},
		{"opensuse-leap-micro", "5.5", "openSUSE:Leap Micro 5.5"},
		{"opensuse-tumbleweed", "20240101", "openSUSE:Tumbleweed"},
		{"sles", "15.5", "SUSE:Linux Enterprise 15 SP5"},
		{"sles_sap", "15.4", "SUSE:Linux Enterprise 15 SP4"},
		{"sles", "15", "SUSE:Linux Enterprise 15"},
		{"sles", "12.5", "SUSE:Linux Enterprise 12 SP5"},
		{"sles", "16.0", "SUSE:Linux Enterprise 16.0"},
		{"sles", "", "SUSE"},
		{"sle-micro", "5.5", "SUSE:Linux Enterprise Micro 5.5"},
		{"mageia", "9", "Mageia:9"},
		{"fedora", "39", "RPM:fedora"},
		{"amzn", "2", "RPM:amzn"},
		{"", "", "RPM"},
	} {
		if got := rpmEcosystem(scan.OSRelease{ID: tc.id, VersionID: tc.version}); got != tc.want {
			t.Errorf("rpmEcosystem(%q, %q) = %q, want %q", tc.id, tc.version, got, tc.want)
		}
	}
}

func TestSourceRPMName(t *testing.T) {
	for in, want := range map[string]string{
		"util-linux-2.32.1-42.el8_8.src.rpm": "util-linux",
		"glibc-2.28-151.el8.src.rpm":         "glibc",
		"foo-1-2.nosrc.rpm":                  "foo",
		"":                                   "",
		"(none)":                             "",
		"nodash.src.rpm":                     "",
		"-1-2.src.rpm":                       "",
	} {
		if got := sourceRPMName(in); got != want {
			t.Errorf("sourceRPMName(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestReadRPMDBCorrupt damages a real database in the ways that make
// go-rpmdb's reader goroutine panic or loop; each must end in an error.
func TestReadRPMDBCorrupt(t *testing.T) {
	orig := []byte(testdataFile(t, "rpm", "libuuid.Packages"))
	if _, err := readRPMBDB(orig); err != nil {
		t.Fatalf("intact database: %v", err)
	}
	ps := int(binary.LittleEndian.Uint32(orig[20:24]))
	// The first hash page and its first HOFFPAGE value, and that value's
	// first overflow page.
	hashPage, value, overflow := -1, -1, -1
	for n := 1; n*ps < len(orig) && hashPage < 0; n++ {
		p := orig[n*ps : (n+1)*ps]
		if p[25] != bdbHashPage && p[25] != bdbHashUnsorted {
			continue
		}
		for i := 1; i < int(binary.LittleEndian.Uint16(p[20:22])); i += 2 {
			v := int(binary.LittleEndian.Uint16(p[bdbPageHeader+2*i:]))
			if p[v] == bdbHashOffIndex {
				hashPage, value = n, v
				overflow = int(binary.LittleEndian.Uint32(p[v+4:]))
				break
			}
		}
	}
	if overflow <= 0 {
		t.Fatal("test database has no overflow value")
	}
	// The first header's index, and its first string-array tag.
	hdr := overflow*ps + bdbPageHeader
	strTag := -1
	for i := 0; strTag < 0 && hdr+8+16*(i+1) <= (overflow+1)*ps; i++ {
		if binary.BigEndian.Uint32(orig[hdr+8+16*i+4:]) == rpmStringArrayType {
			strTag = hdr + 8 + 16*i
		}
	}
	if strTag < 0 {
		t.Fatal("first header has no string array on its first page")
	}
	tests := []struct {
		name   string
		damage func(b []byte)
	}{
		{"page size", func(b []byte) { binary.LittleEndian.PutUint32(b[20:], 3000) }},
		{"last page past the end", func(b []byte) { binary.LittleEndian.PutUint32(b[32:], 1<<30) }},
		{"odd index entries", func(b []byte) { binary.LittleEndian.PutUint16(b[hashPage*ps+20:], 3) }},
		{"index past the page", func(b []byte) { binary.LittleEndian.PutUint16(b[hashPage*ps+20:], 0xfffe) }},
		{"value offset past the page", func(b []byte) {
			binary.LittleEndian.PutUint16(b[hashPage*ps+bdbPageHeader+2:], uint16(ps+10))
		}},
		{"overflow entry straddles the page end", func(b []byte) {
			binary.LittleEndian.PutUint16(b[hashPage*ps+bdbPageHeader+2:], uint16(ps-4))
			b[hashPage*ps+ps-4] = bdbHashOffIndex
		}},
		{"overflow page past the end", func(b []byte) { binary.LittleEndian.PutUint32(b[hashPage*ps+value+4:], 1<<20) }},
		{"overflow chain into a non-overflow page", func(b []byte) { binary.LittleEndian.PutUint32(b[hashPage*ps+value+4:], uint32(hashPage)) }},
		{"overflow chain loops", func(b []byte) { binary.LittleEndian.PutUint32(b[overflow*ps+16:], uint32(overflow)) }},
		{"free offset past the page", func(b []byte) {
			binary.LittleEndian.PutUint32(b[overflow*ps+16:], 0)
			binary.LittleEndian.PutUint16(b[overflow*ps+22:], 0xffff)
		}},
		{"header index count near 2^31", func(b []byte) { binary.BigEndian.PutUint32(b[hdr:], 0x7fffffff) }},
		{"string array count past its strings", func(b []byte) { binary.BigEndian.PutUint32(b[strTag+12:], 0xffffffff) }},
		{"header garbage", func(b []byte) {
			for i := overflow*ps + bdbPageHeader; i < overflow*ps+bdbPageHeader+64; i++ {
				b[i] = 0xff
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := slices.Clone(orig)
			tc.damage(b)
			if got, err := readRPMBDB(b); err == nil {
				t.Errorf("no error; got %+v", got)
			}
		})
	}
}

// TestReadRPMBDBLeavesNoGoroutine reads a database of two headers whose
// first go-rpmdb rejects (its region tag's type is unknown): go-rpmdb's
// ListPackages returned at that error and left its reader goroutine
// blocked for good on the second header.
func TestReadRPMBDBLeavesNoGoroutine(t *testing.T) {
	b := []byte(testdataFile(t, "rpm", "libuuid.Packages"))
	ps := int(binary.LittleEndian.Uint32(b[20:24]))
	hashPage := -1
	for n := 1; n*ps < len(b) && hashPage < 0; n++ {
		if p := b[n*ps : (n+1)*ps]; p[25] == bdbHashPage || p[25] == bdbHashUnsorted {
			hashPage = n
		}
	}
	p := b[hashPage*ps : (hashPage+1)*ps]
	if binary.LittleEndian.Uint16(p[20:22]) != 2 {
		t.Fatal("test database's hash page does not hold one pair")
	}
	// A second key/value pair pointing at the same header.
	binary.LittleEndian.PutUint16(p[20:22], 4)
	copy(p[bdbPageHeader+4:bdbPageHeader+8], p[bdbPageHeader:bdbPageHeader+4])
	region := bytes.Index(b, []byte{0, 0, 0, 0x3f, 0, 0, 0, 7})
	if region < 0 {
		t.Fatal("no region tag in the test database")
	}
	binary.BigEndian.PutUint32(b[region+4:], 99)

	before := runtime.NumGoroutine()
	_, _ = readRPMBDB(b)
	// The reader goroutine ends on its own once drained; give it a moment.
	for range 100 {
		if runtime.NumGoroutine() <= before {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Errorf("%d goroutines before, %d after", before, runtime.NumGoroutine())
}
