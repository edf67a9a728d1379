// Package scan holds the types shared by Shoal's image scanning packages
// (scan/inventory, scan/version, scan/vulndb) and the scan reports.
package scan

import "strings"

// OSRelease is read from etc/os-release (or usr/lib/os-release).
type OSRelease struct{ ID, VersionID, VersionCodename, PrettyName string }

// Package is one installed package found in an image.
type Package struct {
	Ecosystem string // OSV ecosystem name with release: "Debian:12", "Ubuntu:22.04", "Alpine:v3.10", "Go", "PyPI", "npm", "Maven"
	Name      string // binary package name (dpkg/apk), module path (Go), "stdlib" for the Go standard library, Python distribution name as written, npm name with its @scope, Maven "groupId:artifactId"
	Source    string // source package (dpkg "Source:" field, apk origin "o:", rpm SOURCERPM's name), "" if same as Name
	Version   string // as installed: dpkg version, apk version, Go module version ("v1.2.3", pseudo-versions; stdlib as "v1.21.3" from go1.21.3), the language package's own version string
	Location  string // path in the image of the file read (Go binary, METADATA, package.json, jar; "outer.jar:inner.jar" for a nested jar), "" for OS packages
	PURL      string // package URL
	// Owner is the purl of the OS package (dpkg, apk, rpm) whose file list
	// names the file at Location: a language package the distribution
	// installed. "" for OS packages and for files no OS package lists.
	Owner string
	// Layer is the index (0 = base) of the layer that wrote the file the
	// package was read from: for OS packages the layer holding the package
	// database as finally seen, which is not always the one that installed it.
	Layer int
}

// Inventory is the set of packages installed in one image (platform manifest).
type Inventory struct {
	Platform string // "linux/amd64"
	OS       OSRelease
	Packages []Package // sorted by Ecosystem, Name, Version, Location
}

// Severity is a vulnerability rating: "CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN".
type Severity string

// The severities, lowest to highest.
const (
	SeverityUnknown  Severity = "UNKNOWN"
	SeverityLow      Severity = "LOW"
	SeverityMedium   Severity = "MEDIUM"
	SeverityHigh     Severity = "HIGH"
	SeverityCritical Severity = "CRITICAL"
)

// ParseSeverity maps a severity string, case-insensitively and ignoring
// surrounding space, to a Severity. "MODERATE" (GitHub, some distros) is
// MEDIUM and "IMPORTANT" (Red Hat) is HIGH; anything else is UNKNOWN.
func ParseSeverity(s string) Severity {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "CRITICAL":
		return SeverityCritical
	case "HIGH", "IMPORTANT":
		return SeverityHigh
	case "MEDIUM", "MODERATE":
		return SeverityMedium
	case "LOW":
		return SeverityLow
	default:
		return SeverityUnknown
	}
}

// Rank orders severities: UNKNOWN 0 < LOW 1 < MEDIUM 2 < HIGH 3 < CRITICAL 4.
// A value that is not one of the five constants ranks 0.
func (s Severity) Rank() int {
	switch s {
	case SeverityLow:
		return 1
	case SeverityMedium:
		return 2
	case SeverityHigh:
		return 3
	case SeverityCritical:
		return 4
	default:
		return 0
	}
}

// Finding is one vulnerability affecting one package.
type Finding struct {
	ID        string // OSV id or CVE
	Aliases   []string
	Package   string // Package.Name
	Ecosystem string
	Installed string
	Fixed     string // "" when no fix is known
	Severity  Severity
	Summary   string
	Location  string
}

// Normal is s, or UNKNOWN for a severity this package does not rank
// (empty, or a word no database should use).
func (s Severity) Normal() Severity {
	if s.Rank() == 0 {
		return SeverityUnknown
	}
	return s
}

// IsImageConfig says whether a config media type (or a manifest's
// artifactType) is a container image's: what scanning reads and the
// gates apply to.
func IsImageConfig(mediaType string) bool {
	return mediaType == "application/vnd.oci.image.config.v1+json" || mediaType == "application/vnd.docker.container.image.v1+json"
}
