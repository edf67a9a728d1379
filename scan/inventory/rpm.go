package inventory

import (
	"fmt"
	"os"
	"path"
	"strconv"
	"strings"

	"github.com/knqyf263/go-rpmdb/pkg/bdb"

	"github.com/shoal-dev/shoal/scan"
)

// The rpm databases, newest format first: an image converted from one
// format to another can keep the old file beside the new one, and rpm
// itself reads only the configured (newest) one. usr/lib/sysimage/rpm is
// where SUSE keeps them, with var/lib/rpm a symlink to it.
var rpmDatabases = []struct {
	path string
	read func([]byte) ([]rpmEntry, error)
}{
	{"var/lib/rpm/rpmdb.sqlite", readRPMSQLite},
	{"usr/lib/sysimage/rpm/rpmdb.sqlite", readRPMSQLite},
	{"var/lib/rpm/Packages.db", readRPMNDB},
	{"usr/lib/sysimage/rpm/Packages.db", readRPMNDB},
	{rpmBDBPath, readRPMBDB},
	{"usr/lib/sysimage/rpm/Packages", readRPMBDB},
}

// rpmBDBPath is the Berkeley DB rpm database of RHEL/CentOS ≤ 8, Amazon
// Linux 2, SUSE ≤ 15 and friends.
const rpmBDBPath = "var/lib/rpm/Packages"

// maxRPMDB caps a kept rpm database, of any format. BDB files are mostly
// empty pages: a minimal image's is ~5–20 MB, a full install's ~100 MB.
const maxRPMDB = 256 << 20

// rpmEntry is what the scan needs of one installed rpm header.
type rpmEntry struct {
	Name, Version, Release, Arch, SourceRPM string
	Epoch                                   int
	Files                                   []string // absolute paths of the files it installed
}

// readRPMBDB lists the packages of a Berkeley DB rpm database. go-rpmdb's
// bdb package walks the pages and hands over the header blobs, which
// parseRPMHeader reads. It opens a path, so the bytes go to a temp file
// that is unlinked once open. The file is checked first (see checkBDB):
// bdb's reader goroutine indexes pages without bounds checks. That
// goroutine sends every blob on an unbuffered channel and ends only when
// the last one is taken, so the channel is always drained, even after an
// error (go-rpmdb's own ListPackages returns early and leaves it blocked
// for good); its file is closed by the runtime once unreachable.
func readRPMBDB(data []byte) (entries []rpmEntry, err error) {
	if err := checkBDB(data); err != nil {
		return nil, fmt.Errorf("rpm database: %w", err)
	}
	f, err := os.CreateTemp("", "shoal-rpmdb-*")
	if err != nil {
		return nil, err
	}
	name := f.Name()
	defer func() {
		_ = f.Close()
		_ = os.Remove(name)
	}()
	if _, err := f.Write(data); err != nil {
		return nil, err
	}
	db, err := bdb.Open(name)
	_ = os.Remove(name)
	if err != nil {
		return nil, fmt.Errorf("rpm database: %w", err)
	}
	var firstErr error
	for v := range db.Read() {
		if firstErr != nil {
			continue // drain: see above
		}
		if v.Err != nil {
			firstErr = v.Err
			continue
		}
		e, err := parseRPMHeader(v.Value)
		if err != nil {
			firstErr = err
			continue
		}
		entries = append(entries, e)
	}
	if firstErr != nil {
		return nil, fmt.Errorf("rpm database: %w", firstErr)
	}
	return entries, nil
}

// rpmFiles joins a header's file names: BASENAMES[i] lies in
// DIRNAMES[DIRINDEXES[i]] (each dir name ends in "/" as rpm writes it). go-rpmdb's own
// InstalledFiles indexes without a bounds check; a header whose arrays
// disagree lists no files here rather than panicking.
func rpmFiles(dirs []string, dirIndexes []int, bases []string) []string {
	if len(dirIndexes) != len(bases) {
		return nil
	}
	files := make([]string, 0, len(bases))
	for i, b := range bases {
		d := dirIndexes[i]
		if d < 0 || d >= len(dirs) {
			return nil
		}
		files = append(files, path.Join(dirs[d], b))
	}
	return files
}

// rpmPackages turns rpm headers into packages of the image's release.
// Version is the EVR as rpm prints it ("1:2.3-4.el8"); the purl carries the
// epoch as a qualifier, as the purl spec's rpm type says.
func rpmPackages(entries []rpmEntry, osr scan.OSRelease) []scan.Package {
	eco := rpmEcosystem(osr)
	var distro string
	if osr.ID != "" && osr.VersionID != "" {
		distro = osr.ID + "-" + osr.VersionID
	}
	out := make([]scan.Package, 0, len(entries))
	for _, e := range entries {
		vr := e.Version
		if e.Release != "" {
			vr += "-" + e.Release
		}
		evr, epoch := vr, ""
		if e.Epoch > 0 {
			epoch = strconv.Itoa(e.Epoch)
			evr = epoch + ":" + vr
		}
		src := sourceRPMName(e.SourceRPM)
		if src == e.Name {
			src = ""
		}
		out = append(out, scan.Package{
			Ecosystem: eco,
			Name:      e.Name,
			Source:    src,
			Version:   evr,
			PURL:      purl("rpm", osr.ID, e.Name, vr, qualifiers("arch", e.Arch, "distro", distro, "epoch", epoch)),
		})
	}
	return out
}

// rpmEcosystem names the OSV ecosystem of an rpm distribution from its
// os-release. Where OSV names products rather than releases (Red Hat's
// "Red Hat:enterprise_linux:9::baseos", SUSE's "SUSE:Linux Enterprise
// Module for Basesystem 15 SP5"), the name is the release's, and the
// matcher (scan/vulndb) maps the records' product names onto it. Fedora,
// CentOS, Amazon Linux and others have no OSV data under a name the matcher
// knows; they get "RPM:<ID>" so they are listed but never matched.
func rpmEcosystem(osr scan.OSRelease) string {
	v := osr.VersionID
	major, minor, _ := strings.Cut(v, ".")
	withVersion := func(name, v string) string {
		if v == "" {
			return name
		}
		return name + ":" + v
	}
	switch osr.ID {
	case "rhel":
		return withVersion("Red Hat", major)
	case "almalinux":
		return withVersion("AlmaLinux", major)
	case "rocky":
		return withVersion("Rocky Linux", major)
	case "opensuse-tumbleweed":
		return "openSUSE:Tumbleweed"
	case "opensuse-leap", "opensuse": // "opensuse" is Leap 42's ID
		return withVersion("openSUSE", strings.TrimSpace("Leap "+v))
	case "opensuse-leap-micro":
		return withVersion("openSUSE", strings.TrimSpace("Leap Micro "+v))
	case "sles", "sled", "sles_sap":
		if major == "" {
			return "SUSE"
		}
		if n, _ := strconv.Atoi(major); n >= 16 || minor == "" || minor == "0" && n < 16 {
			// SLE 16 has no service packs: "16.0" as OSV spells it.
			if n >= 16 {
				return "SUSE:Linux Enterprise " + v
			}
			return "SUSE:Linux Enterprise " + major
		}
		return "SUSE:Linux Enterprise " + major + " SP" + minor
	case "sle-micro":
		return withVersion("SUSE", strings.TrimSpace("Linux Enterprise Micro "+v))
	case "mageia":
		return withVersion("Mageia", v)
	case "":
		return "RPM"
	}
	return "RPM:" + osr.ID
}

// sourceRPMName takes the name out of a SOURCERPM file name,
// "glibc-2.28-151.el8.src.rpm" → "glibc": name-version-release, and
// neither version nor release may hold a '-'.
func sourceRPMName(s string) string {
	s = strings.TrimSuffix(s, ".rpm")
	s = strings.TrimSuffix(strings.TrimSuffix(s, ".src"), ".nosrc")
	for range 2 {
		i := strings.LastIndexByte(s, '-')
		if i <= 0 {
			return ""
		}
		s = s[:i]
	}
	return s
}
