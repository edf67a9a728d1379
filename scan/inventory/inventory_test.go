package inventory

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/shoal-dev/shoal/scan"
)

const debian12OSRelease = `PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
`

const alpine310OSRelease = `NAME="Alpine Linux"
ID=alpine
VERSION_ID=3.10.4
PRETTY_NAME="Alpine Linux v3.10"
`

const debianStatus = `Package: libc6
Status: install ok installed
Priority: optional
Section: libs
Installed-Size: 12988
Maintainer: GNU Libc Maintainers <debian-glibc@lists.debian.org>
Architecture: amd64
Multi-Arch: same
Source: glibc
Version: 2.36-9+deb12u2
Description: GNU C Library: Shared libraries
 Contains the standard libraries that are used by nearly all programs on
 the system.

Package: removed-pkg
Status: deinstall ok config-files
Architecture: amd64
Version: 1.0-1

Package: libssl3
Status: install ok installed
Architecture: amd64
Source: openssl (3.0.11-1~deb12u1)
Version: 3.0.11-1~deb12u2

Package: held
Status: hold ok installed
Architecture: all
Version: 2:1.0-1
`

const apkInstalledDB = `C:Q1kZ3oZ2eQzF4jV8Jd8gq5j2Z5QXk=
P:busybox
V:1.30.1-r1
A:x86_64
S:494101
I:970752
T:Size optimized toolbox of many common UNIX utilities
o:busybox
m:Natanael Copa <ncopa@alpinelinux.org>

P:ssl_client
V:1.30.1-r1
A:x86_64
o:busybox
`

var (
	libc6 = scan.Package{Ecosystem: "Debian:12", Name: "libc6", Source: "glibc", Version: "2.36-9+deb12u2",
		PURL: "pkg:deb/debian/libc6@2.36-9%2Bdeb12u2?arch=amd64&distro=debian-12"}
	libssl3 = scan.Package{Ecosystem: "Debian:12", Name: "libssl3", Source: "openssl", Version: "3.0.11-1~deb12u2",
		PURL: "pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&distro=debian-12"}
	held = scan.Package{Ecosystem: "Debian:12", Name: "held", Version: "2:1.0-1",
		PURL: "pkg:deb/debian/held@2:1.0-1?arch=all&distro=debian-12"}
	busybox = scan.Package{Ecosystem: "Alpine:v3.10", Name: "busybox", Version: "1.30.1-r1",
		PURL: "pkg:apk/alpine/busybox@1.30.1-r1?arch=x86_64&distro=alpine-3.10.4"}
	sslClient = scan.Package{Ecosystem: "Alpine:v3.10", Name: "ssl_client", Source: "busybox", Version: "1.30.1-r1",
		PURL: "pkg:apk/alpine/ssl_client@1.30.1-r1?arch=x86_64&distro=alpine-3.10.4"}
	debian12  = scan.OSRelease{ID: "debian", VersionID: "12", VersionCodename: "bookworm", PrettyName: "Debian GNU/Linux 12 (bookworm)"}
	alpine310 = scan.OSRelease{ID: "alpine", VersionID: "3.10.4", PrettyName: "Alpine Linux v3.10"}
)

func stanza(name, version string) string {
	return "Package: " + name + "\nArchitecture: amd64\nVersion: " + version + "\n"
}

// onLayer is pkgs as read from a file that layer wrote.
func onLayer(layer int, pkgs ...scan.Package) []scan.Package {
	out := slices.Clone(pkgs)
	for i := range out {
		out[i].Layer = layer
	}
	return out
}

func deb12(name, version string) scan.Package {
	return scan.Package{Ecosystem: "Debian:12", Name: name, Version: version,
		PURL: "pkg:deb/debian/" + name + "@" + strings.ReplaceAll(version, "+", "%2B") + "?arch=amd64&distro=debian-12"}
}

func TestScan(t *testing.T) {
	osLayer := func() entry { return file("etc/os-release", debian12OSRelease) }
	tests := []struct {
		name   string
		layers func(t *testing.T) []Layer
		os     scan.OSRelease
		want   []scan.Package
	}{
		{
			name: "debian 12 dpkg status, gzip",
			layers: func(t *testing.T) []Layer {
				return []Layer{layer(t, dir("etc/"), osLayer(), dir("var/lib/dpkg/"), file("var/lib/dpkg/status", debianStatus))}
			},
			os:   debian12,
			want: []scan.Package{held, libc6, libssl3},
		},
		{
			name: "distroless status.d, zstd, md5sums ignored",
			layers: func(t *testing.T) []Layer {
				return []Layer{layerWith(t, zstded,
					osLayer(),
					file("var/lib/dpkg/status.d/libc6", strings.Replace(debianStatus[:strings.Index(debianStatus, "\n\n")+1], "Status: install ok installed\n", "", 1)),
					file("var/lib/dpkg/status.d/libc6.md5sums", "0123 usr/lib/libc.so.6\n"),
					file("var/lib/dpkg/status.d/base", stanza("base-files", "12.4+deb12u5")+"\n"+stanza("netbase", "6.4")),
				)}
			},
			os:   debian12,
			want: []scan.Package{deb12("base-files", "12.4+deb12u5"), libc6, deb12("netbase", "6.4")},
		},
		{
			name: "alpine 3.10 apk, plain tar",
			layers: func(t *testing.T) []Layer {
				return []Layer{layerWith(t, plain, file("etc/os-release", alpine310OSRelease), file("lib/apk/db/installed", apkInstalledDB))}
			},
			os:   alpine310,
			want: []scan.Package{busybox, sslClient},
		},
		{
			name: "file whited out by a later layer vanishes",
			layers: func(t *testing.T) []Layer {
				return []Layer{
					layer(t, osLayer(), file("var/lib/dpkg/status", debianStatus)),
					layer(t, whiteout("var/lib/dpkg/.wh.status")),
				}
			},
			os: debian12,
		},
		{
			name: "directory whiteout removes what is under it",
			layers: func(t *testing.T) []Layer {
				return []Layer{
					layer(t, osLayer(), file("var/lib/dpkg/status.d/a", stanza("a", "1"))),
					layer(t, whiteout("var/lib/.wh.dpkg")),
				}
			},
			os: debian12,
		},
		{
			name: "whiteout hides lower layers only, not its own",
			layers: func(t *testing.T) []Layer {
				return []Layer{
					layer(t, osLayer(), file("var/lib/dpkg/status.d/a", stanza("a", "1"))),
					layer(t, file("var/lib/dpkg/status.d/b", stanza("b", "2")), whiteout("var/lib/dpkg/status.d/.wh.b"), whiteout("var/lib/dpkg/status.d/.wh.a")),
				}
			},
			os:   debian12,
			want: onLayer(1, deb12("b", "2")),
		},
		{
			name: "opaque directory drops lower layers' entries, keeps its own",
			layers: func(t *testing.T) []Layer {
				return []Layer{
					layer(t, osLayer(), file("var/lib/dpkg/status.d/a", stanza("a", "1")), file("var/lib/dpkg/status.d/b", stanza("b", "1"))),
					layer(t, file("var/lib/dpkg/status.d/c", stanza("c", "3")), whiteout("var/lib/dpkg/status.d/.wh..wh..opq"), file("var/lib/dpkg/status.d/d", stanza("d", "4"))),
				}
			},
			os:   debian12,
			want: onLayer(1, deb12("c", "3"), deb12("d", "4")),
		},
		{
			name: "later layer replaces status",
			layers: func(t *testing.T) []Layer {
				return []Layer{
					layer(t, osLayer(), file("var/lib/dpkg/status", debianStatus)),
					layer(t, file("var/lib/dpkg/status", stanza("only", "9")+"Status: install ok installed\n")),
				}
			},
			os:   debian12,
			want: onLayer(1, deb12("only", "9")),
		},
		{
			name: "os-release through relative symlink into usr/lib",
			layers: func(t *testing.T) []Layer {
				return []Layer{
					layer(t, symlink("etc/os-release", "../usr/lib/os-release"), file("usr/lib/os-release", debian12OSRelease)),
				}
			},
			os: debian12,
		},
		{
			name: "os-release absolute symlink, target in an earlier layer",
			layers: func(t *testing.T) []Layer {
				return []Layer{
					layer(t, file("usr/lib/os-release", alpine310OSRelease)),
					layer(t, symlink("./etc/os-release", "/usr/lib/os-release")),
				}
			},
			os: alpine310,
		},
		{
			name: "os-release hardlink",
			layers: func(t *testing.T) []Layer {
				return []Layer{layer(t, file("usr/lib/os-release", alpine310OSRelease), hardlink("etc/os-release", "usr/lib/os-release"))}
			},
			os: alpine310,
		},
		{
			name: "usr/lib/os-release fallback",
			layers: func(t *testing.T) []Layer {
				return []Layer{layer(t, file("usr/lib/os-release", debian12OSRelease))}
			},
			os: debian12,
		},
		{
			name: "whited-out symlink falls back to usr/lib",
			layers: func(t *testing.T) []Layer {
				return []Layer{
					layer(t, file("etc/os-release", alpine310OSRelease), file("usr/lib/os-release", debian12OSRelease)),
					layer(t, whiteout("etc/.wh.os-release")),
				}
			},
			os: debian12,
		},
		{
			name: "merged-usr: a file written through a directory symlink",
			layers: func(t *testing.T) []Layer {
				return []Layer{
					layer(t, file("etc/os-release", alpine310OSRelease), symlink("lib", "usr/lib"), dir("usr/lib/")),
					layer(t, file("lib/apk/db/installed", apkInstalledDB)),
				}
			},
			os:   alpine310,
			want: onLayer(1, busybox, sslClient),
		},
		{
			name: "a file replacing a directory drops its contents",
			layers: func(t *testing.T) []Layer {
				return []Layer{
					layer(t, osLayer(), file("var/lib/dpkg/status.d/a", stanza("a", "1"))),
					layer(t, file("var/lib/dpkg/status.d", "not a directory any more")),
				}
			},
			os: debian12,
		},
		{
			name: "a package listed again by a later layer keeps the first layer",
			layers: func(t *testing.T) []Layer {
				return []Layer{
					layer(t, osLayer(), file("var/lib/dpkg/status.d/a", stanza("a", "1"))),
					layer(t, file("var/lib/dpkg/status", stanza("a", "1")+"Status: install ok installed\n\n"+stanza("b", "2")+"Status: install ok installed\n")),
				}
			},
			os:   debian12,
			want: append([]scan.Package{deb12("a", "1")}, onLayer(1, deb12("b", "2"))...),
		},
		{
			name: "status and status.d together, duplicate listed once",
			layers: func(t *testing.T) []Layer {
				return []Layer{layer(t, osLayer(), file("var/lib/dpkg/status", debianStatus), file("var/lib/dpkg/status.d/libc6", debianStatus[:strings.Index(debianStatus, "\n\n")+1]))}
			},
			os:   debian12,
			want: []scan.Package{held, libc6, libssl3},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			inv, err := Scan(context.Background(), "linux/amd64", tc.layers(t))
			if err != nil {
				t.Fatal(err)
			}
			if inv.Platform != "linux/amd64" {
				t.Errorf("Platform = %q", inv.Platform)
			}
			if inv.OS != tc.os {
				t.Errorf("OS = %+v, want %+v", inv.OS, tc.os)
			}
			if !slices.Equal(inv.Packages, tc.want) {
				t.Errorf("Packages:\n got %+v\nwant %+v", inv.Packages, tc.want)
			}
		})
	}
}

func TestScanErrors(t *testing.T) {
	oversize := func() []byte {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		if err := tw.WriteHeader(&tar.Header{Name: "var/lib/dpkg/status", Typeflag: tar.TypeReg, Mode: 0o644, Size: maxMetadataFile + 1}); err != nil {
			t.Fatal(err)
		}
		return append(buf.Bytes(), make([]byte, 1024)...)
	}()
	errOpen := errors.New("blob gone")
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name   string
		ctx    context.Context
		layers []Layer
		want   string
	}{
		{"open fails", context.Background(), []Layer{func() (io.ReadCloser, error) { return nil, errOpen }}, "blob gone"},
		{"nil opener", context.Background(), []Layer{nil}, "nil opener"},
		{"corrupt gzip", context.Background(), []Layer{bytesLayer([]byte{0x1f, 0x8b, 0, 0, 0, 0})}, "gzip"},
		{"corrupt zstd", context.Background(), []Layer{bytesLayer(append([]byte{0x28, 0xb5, 0x2f, 0xfd}, bytes.Repeat([]byte{0xff}, 64)...))}, "layer 0"},
		{"not a tar", context.Background(), []Layer{bytesLayer(bytes.Repeat([]byte("x"), 1024))}, "tar"},
		{"oversize status", context.Background(), []Layer{bytesLayer(oversize)}, "limit"},
		{"canceled", canceled, []Layer{layer(t, file("a", "b"))}, "canceled"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			inv, err := Scan(tc.ctx, "linux/amd64", tc.layers)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Scan = %+v, %v; want error containing %q", inv, err, tc.want)
			}
		})
	}
}

func TestScanEmpty(t *testing.T) {
	inv, err := Scan(context.Background(), "linux/arm64", []Layer{bytesLayer(nil), layer(t)})
	if err != nil {
		t.Fatal(err)
	}
	if len(inv.Packages) != 0 || inv.OS != (scan.OSRelease{}) || inv.Platform != "linux/arm64" {
		t.Fatalf("got %+v", inv)
	}
}

func TestCleanPath(t *testing.T) {
	for in, want := range map[string]string{
		"./etc/os-release": "etc/os-release", "/etc/": "etc", "../../etc/passwd": "etc/passwd",
		"a/../b": "b", "./": "", "": "",
	} {
		if got := cleanPath(in); got != want {
			t.Errorf("cleanPath(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSymlinkLoop(t *testing.T) {
	inv, err := Scan(context.Background(), "linux/amd64", []Layer{layer(t,
		symlink("etc/os-release", "loop"), symlink("etc/loop", "os-release"),
		symlink("a", "b"), symlink("b", "a"), file("a/x", "y"))})
	if err != nil {
		t.Fatal(err)
	}
	if inv.OS != (scan.OSRelease{}) {
		t.Fatalf("OS = %+v from a symlink loop", inv.OS)
	}
}
