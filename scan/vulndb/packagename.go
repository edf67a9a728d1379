package vulndb

import "strings"

// packageKey is the name a package is indexed and looked up by, as its
// ecosystem compares names. PyPI compares names by PEP 503: lowercase, with
// every run of "-", "_" and "." as one "-", so a record for "jinja2" names the
// "Jinja2" of a METADATA file and "zope.interface" is "zope-interface".
// NuGet package IDs and Packagist "vendor/package" names are
// case-insensitive on nuget.org and packagist.org, so a deps.json's
// "newtonsoft.json" is the advisories' "Newtonsoft.Json".
// npm names (scoped "@scope/name" included) and Maven "groupId:artifactId"
// are exact, as their registries treat them; so is everything else.
func packageKey(ecosystem, name string) string {
	base, _, _ := strings.Cut(ecosystem, ":")
	switch base {
	case "PyPI":
		return pep503Name(name)
	case "NuGet", "Packagist":
		return strings.ToLower(name)
	}
	return name
}

// pep503Name is PEP 503's normalised form of a Python project name:
// re.sub(r"[-_.]+", "-", name).lower().
func pep503Name(name string) string {
	var b strings.Builder
	b.Grow(len(name))
	sep := false
	for _, r := range name {
		if r == '-' || r == '_' || r == '.' {
			sep = true
			continue
		}
		if sep {
			b.WriteByte('-')
			sep = false
		}
		b.WriteString(strings.ToLower(string(r)))
	}
	if sep {
		b.WriteByte('-')
	}
	return b.String()
}
