package main

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"strings"
)

const osReleaseDebian12 = `PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
SUPPORT_URL="https://www.debian.org/support"
BUG_REPORT_URL="https://bugs.debian.org/"
`

// realPackages are Debian 12 packages as a bookworm image lists them:
// name, version, source ("" when the source is the package itself), arch.
var realPackages = [][4]string{
	{"libc6", "2.36-9+deb12u2", "glibc", "amd64"},
	{"libc-bin", "2.36-9+deb12u2", "glibc", "amd64"},
	{"base-files", "12.4+deb12u2", "", "amd64"},
	{"bash", "5.2.15-2+b2", "", "amd64"},
	{"coreutils", "9.1-1", "", "amd64"},
	{"dpkg", "1.21.22", "", "amd64"},
	{"libssl3", "3.0.11-1~deb12u2", "openssl", "amd64"},
	{"openssl", "3.0.11-1~deb12u2", "", "amd64"},
	{"zlib1g", "1:1.2.13.dfsg-1", "zlib", "amd64"},
	{"libsystemd0", "252.19-1~deb12u1", "systemd", "amd64"},
	{"libudev1", "252.19-1~deb12u1", "systemd", "amd64"},
	{"libgnutls30", "3.7.9-2+deb12u1", "gnutls28", "amd64"},
	{"libzstd1", "1.5.4+dfsg2-5", "libzstd", "amd64"},
	{"liblzma5", "5.4.1-0.2", "xz-utils", "amd64"},
	{"tar", "1.34+dfsg-1.2+deb12u1", "", "amd64"},
	{"gzip", "1.12-1", "", "amd64"},
	{"perl-base", "5.36.0-7+deb12u1", "perl", "amd64"},
	{"libpam0g", "1.5.2-6+deb12u1", "pam", "amd64"},
	{"login", "1:4.13+dfsg1-1+b1", "shadow", "amd64"},
	{"passwd", "1:4.13+dfsg1-1+b1", "shadow", "amd64"},
	{"util-linux", "2.38.1-5+b1", "util-linux (2.38.1-5)", "amd64"},
	{"libblkid1", "2.38.1-5+b1", "util-linux (2.38.1-5)", "amd64"},
	{"libmount1", "2.38.1-5+b1", "util-linux (2.38.1-5)", "amd64"},
	{"ncurses-base", "6.4-4", "ncurses", "all"},
	{"libtinfo6", "6.4-4", "ncurses", "amd64"},
	{"debian-archive-keyring", "2023.3+deb12u1", "", "all"},
	{"apt", "2.6.1", "", "amd64"},
	{"libapt-pkg6.0", "2.6.1", "apt", "amd64"},
	{"ca-certificates", "20230311", "", "all"},
	{"curl", "7.88.1-10+deb12u5", "", "amd64"},
	{"libcurl4", "7.88.1-10+deb12u5", "curl", "amd64"},
	{"libexpat1", "2.5.0-1", "expat", "amd64"},
	{"libsqlite3-0", "3.40.1-2", "sqlite3", "amd64"},
	{"libxml2", "2.9.14+dfsg-1.3~deb12u1", "", "amd64"},
	{"python3.11-minimal", "3.11.2-6", "python3.11", "amd64"},
}

var syllables = strings.Fields("lib ac cel dat ex fo gra hy io jo ka lu mo nu ox py qu ri sy te ux vo wa xy ze bit net zip gl kr")

// dpkgPackages returns the status stanzas of installed packages (the
// real ones first, then generated ones) and of a few removed packages
// whose configuration files remain, which a scanner must not count.
func dpkgPackages(installed int) (status string, names []string) {
	rng := rand.New(rand.NewPCG(12, 2036))
	var b strings.Builder
	seen := map[string]bool{}
	stanza := func(name, version, source, arch, state string) {
		fmt.Fprintf(&b, "Package: %s\nStatus: %s\nPriority: optional\nSection: libs\nInstalled-Size: %d\n", name, state, 16+rng.IntN(8000))
		fmt.Fprintf(&b, "Maintainer: Debian Developers <debian-devel@lists.debian.org>\nArchitecture: %s\n", arch)
		if arch != "all" {
			b.WriteString("Multi-Arch: same\n")
		}
		if source != "" {
			fmt.Fprintf(&b, "Source: %s\n", source)
		}
		fmt.Fprintf(&b, "Version: %s\n", version)
		if len(names) > 0 {
			fmt.Fprintf(&b, "Depends: libc6 (>= 2.34), %s (>= 1.0)\n", names[rng.IntN(len(names))])
		}
		fmt.Fprintf(&b, "Description: %s support library\n This package provides the %s runtime files.\n .\n It is part of a generated Debian 12 image for benchmarks.\n", name, name)
		if state == "install ok installed" {
			b.WriteString("Conffiles:\n /etc/" + name + "/" + name + ".conf 0123456789abcdef0123456789abcdef\n")
		}
		b.WriteString("\n")
	}
	for _, p := range realPackages {
		if len(names) == installed {
			break
		}
		stanza(p[0], p[1], p[2], p[3], "install ok installed")
		names = append(names, p[0])
		seen[p[0]] = true
	}
	for len(names) < installed {
		name := ""
		for k := 2 + rng.IntN(3); k > 0; k-- {
			name += syllables[rng.IntN(len(syllables))]
		}
		name += fmt.Sprint(rng.IntN(20))
		if seen[name] {
			continue
		}
		seen[name] = true
		version := fmt.Sprintf("%d.%d.%d-%d", rng.IntN(5), rng.IntN(30), rng.IntN(20), 1+rng.IntN(4))
		if rng.IntN(4) == 0 {
			version += fmt.Sprintf("+deb12u%d", 1+rng.IntN(3))
		}
		source := ""
		if rng.IntN(3) == 0 {
			source = strings.TrimRight(name, "0123456789") + "-src"
		}
		arch := "amd64"
		if rng.IntN(6) == 0 {
			arch = "all"
		}
		stanza(name, version, source, arch, "install ok installed")
		names = append(names, name)
	}
	for i := 0; i < 5; i++ {
		stanza(fmt.Sprintf("removed-pkg%d", i), "1.0-1", "", "amd64", "deinstall ok config-files")
	}
	return b.String(), names
}

// debianLayer is the base layer: os-release, the dpkg database, and per
// package the files dpkg and Debian policy put there.
func debianLayer(installed int) []tarFile {
	status, names := dpkgPackages(installed)
	files := []tarFile{
		text("etc/os-release", osReleaseDebian12),
		text("etc/debian_version", "12.4\n"),
		text("var/lib/dpkg/status", status),
	}
	for _, n := range names {
		copyright := fmt.Sprintf("Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\nUpstream-Name: %s\n\nFiles: *\nCopyright: 2001-2023 The %s authors\nLicense: LGPL-2.1+\n", n, n)
		list := fmt.Sprintf("/.\n/usr\n/usr/lib\n/usr/lib/x86_64-linux-gnu/%s.so.1\n/usr/share/doc/%s\n/usr/share/doc/%s/copyright\n", n, n, n)
		sum := md5.Sum([]byte(copyright))
		md5sums := fmt.Sprintf("%s  usr/share/doc/%s/copyright\n", hex.EncodeToString(sum[:]), n)
		files = append(files,
			text("usr/share/doc/"+n+"/copyright", copyright),
			text("var/lib/dpkg/info/"+n+".list", list),
			text("var/lib/dpkg/info/"+n+".md5sums", md5sums),
		)
	}
	return files
}

func text(name, body string) tarFile {
	return tarFile{name: name, mode: 0o644, size: int64(len(body)), body: bytesBody([]byte(body))}
}
