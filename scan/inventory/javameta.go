package inventory

import (
	"bytes"
	"strings"

	"github.com/shoal-dev/shoal/scan"
)

// parseJavaProperties reads a java.util.Properties file the simple way
// pom.properties needs: "key=value" or "key: value" lines, "#" and "!"
// comments. Escapes and continued lines, which Maven does not write there,
// are kept as they are.
func parseJavaProperties(data []byte) map[string]string {
	out := make(map[string]string)
	for line := range bytes.Lines(data) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] == '#' || line[0] == '!' {
			continue
		}
		i := bytes.IndexAny(line, "=:")
		if i <= 0 {
			continue
		}
		out[string(bytes.TrimSpace(line[:i]))] = string(bytes.TrimSpace(line[i+1:]))
	}
	return out
}

// javaPomPackage is the artifact a pom.properties names, if it names all of
// groupId, artifactId and version.
func javaPomPackage(props map[string]string) (scan.Package, bool) {
	if strings.TrimSpace(props["groupId"]) == "" {
		return scan.Package{}, false
	}
	return javaPackage(props["groupId"], props["artifactId"], props["version"])
}

// javaPackage names a Maven artifact as OSV's Maven records do,
// "groupId:artifactId", with purl pkg:maven/<group>/<artifact>@<version>.
// Without a group (an archive known only by its manifest or file name) the
// name is the artifactId alone and the purl has no namespace.
func javaPackage(group, artifact, version string) (scan.Package, bool) {
	group, artifact, version = strings.TrimSpace(group), strings.TrimSpace(artifact), strings.TrimSpace(version)
	if artifact == "" || version == "" || strings.ContainsAny(group+artifact+version, " \t\r\n:") {
		return scan.Package{}, false
	}
	name := artifact
	if group != "" {
		name = group + ":" + artifact
	}
	return scan.Package{Ecosystem: "Maven", Name: name, Version: version, PURL: purl("maven", group, artifact, version, nil)}, true
}

// parseJavaManifest reads the main section of a MANIFEST.MF: "Name: value"
// headers up to the first blank line, a line starting with one space
// continuing the one before (the format wraps at 72 bytes).
func parseJavaManifest(data []byte) map[string]string {
	out := make(map[string]string)
	var last string
	for line := range bytes.Lines(data) {
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			break
		}
		if line[0] == ' ' {
			if last != "" {
				out[last] += string(line[1:])
			}
			continue
		}
		key, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			last = ""
			continue
		}
		last = string(bytes.TrimSpace(key))
		out[last] = string(bytes.TrimSpace(value))
	}
	return out
}

// javaManifestPackage says what an archive without its own pom.properties
// is. The name comes from the file name when it has one (as syft does:
// manifests' titles are prose as often as ids), else Bundle-SymbolicName
// (an OSGi id, without its ";singleton:=true" directives),
// Implementation-Title or Specification-Title. The version too comes from the
// file name first, as Maven wrote it (Bundle-Version is OSGi's rewrite:
// "1.0" becomes "1.0.0"), else Implementation-Version, Bundle-Version or
// Specification-Version. The group stays unknown: Implementation-Vendor-Id is often an
// organisation ("org.apache" on commons-io, whose group is "commons-io"),
// and a wrong group would match another artifact's advisories.
func javaManifestPackage(m map[string]string, fileName, fileVersion string) (scan.Package, bool) {
	name := fileName
	if name == "" {
		name = firstOf(m, "Bundle-SymbolicName", "Implementation-Title", "Specification-Title")
		name, _, _ = strings.Cut(name, ";")
	}
	version := fileVersion
	if version == "" {
		version = firstOf(m, "Implementation-Version", "Bundle-Version", "Specification-Version")
	}
	return javaPackage("", name, version)
}

func firstOf(m map[string]string, keys ...string) string {
	for _, k := range keys {
		if v := strings.TrimSpace(m[k]); v != "" {
			return v
		}
	}
	return ""
}

// javaNameFromFile splits an archive's file name as Maven writes it,
// "<artifactId>-<version>.jar", at the first "-" followed by a digit:
// "guava-31.1-jre.jar" is guava 31.1-jre; "gettext.jar" is gettext with no
// version.
func javaNameFromFile(base string) (name, version string) {
	stem := base
	if i := strings.LastIndexByte(stem, '.'); i > 0 {
		stem = stem[:i]
	}
	for i := 0; i+1 < len(stem); i++ {
		if stem[i] == '-' && '0' <= stem[i+1] && stem[i+1] <= '9' {
			return stem[:i], stem[i+1:]
		}
	}
	return stem, ""
}
