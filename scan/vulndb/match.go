package vulndb

import (
	"cmp"
	"errors"
	"slices"
	"strings"

	"github.com/shoal-dev/shoal/scan"
	"github.com/shoal-dev/shoal/scan/version"
)

// reindex rebuilds the (ecosystem, package) index from the records.
func (db *DB) reindex() {
	idx := make(map[indexKey][]ref)
	ecosystems := make(map[string]bool)
	for _, r := range db.sortedRecords() {
		for i, a := range r.Affected {
			eco := normaliseEcosystem(a.Ecosystem)
			k := indexKey{eco, packageKey(eco, a.Name)}
			idx[k] = append(idx[k], ref{r, i})
			ecosystems[eco] = true
		}
	}
	db.index = idx
	db.ecosystems = ecosystems
}

// normaliseEcosystem maps record ecosystem spellings onto the inventory's:
// OSV's Ubuntu records say "Ubuntu:22.04:LTS" where an image's os-release
// gives "Ubuntu:22.04". ("Ubuntu:Pro:…" stays distinct: Pro fixes do not
// apply to ordinary images.) Red Hat and SUSE records name products, which
// redHatRelease and suseRelease map onto releases.
func normaliseEcosystem(e string) string {
	switch {
	case strings.HasPrefix(e, "Ubuntu:"):
		return strings.TrimSuffix(e, ":LTS")
	case strings.HasPrefix(e, "Red Hat:"):
		return redHatRelease(e)
	case strings.HasPrefix(e, "SUSE:"):
		return suseRelease(e)
	}
	return e
}

// candidateEcosystems are the record ecosystems that apply to a package of
// ecosystem e: the release itself and the bare ecosystem, whose records
// apply to every release.
func candidateEcosystems(e string) []string {
	e = normaliseEcosystem(e)
	base, _, ok := strings.Cut(e, ":")
	if ok && base != "" {
		return []string{e, base}
	}
	return []string{e}
}

// recordName is the name records use for p: distribution advisories (Debian,
// Ubuntu, Alpine secdb) name the source package; everything else the package.
func recordName(p scan.Package) string {
	base, _, _ := strings.Cut(p.Ecosystem, ":")
	switch base {
	case "Debian", "Ubuntu", "Alpine":
		if p.Source != "" {
			return p.Source
		}
	}
	return p.Name
}

// installedVersion normalises the Go toolchain spelling ("go1.21.3") that
// inventories may carry for stdlib to the semver form the records compare.
func installedVersion(p scan.Package) string {
	v := p.Version
	if p.Ecosystem == "Go" && (p.Name == "stdlib" || p.Name == "toolchain") {
		if rest, ok := strings.CutPrefix(v, "go"); ok {
			v = "v" + rest
		}
	}
	return v
}

// comparer orders versions for a range: the ecosystem's own order, or, for
// SEMVER ranges in ecosystems scan/version does not know, semantic
// versioning (which version.Go implements, with or without "v").
func comparer(ecosystem, rangeType string) func(a, b string) (int, error) {
	if _, err := version.Compare(ecosystem, "0", "0"); !errors.Is(err, version.ErrUnknownEcosystem) {
		return func(a, b string) (int, error) { return version.Compare(ecosystem, a, b) }
	}
	if rangeType == "SEMVER" {
		return version.Go
	}
	return nil
}

// Match finds the inventory's vulnerabilities, sorted by severity (highest
// first), ID, package, location and installed version. Findings are
// deduplicated per (ID, package, location). A language package an OS
// package installed is left to the distribution's records when the
// database has them (see ownerGoverns).
func (db *DB) Match(inv *scan.Inventory) []scan.Finding {
	if inv == nil || db == nil {
		return nil
	}
	type key struct{ id, pkg, loc string }
	seen := make(map[key]int)
	var out []scan.Finding
	governed := db.ownerGoverns(inv)
	for _, p := range inv.Packages {
		if governed(p) {
			continue
		}
		name := recordName(p)
		installed := installedVersion(p)
		for _, eco := range candidateEcosystems(p.Ecosystem) {
			for _, rf := range db.index[indexKey{eco, packageKey(eco, name)}] {
				a := &rf.rec.Affected[rf.aff]
				hit, fixed := affects(a, p.Ecosystem, installed)
				if !hit {
					continue
				}
				if fixed != "" && p.Ecosystem == "Go" && strings.HasPrefix(p.Version, "v") && !strings.HasPrefix(fixed, "v") {
					fixed = "v" + fixed // Go modules are spelled with "v" in go.mod and build info
				}
				sev := rf.rec.Severity
				if sev == "" || sev == scan.SeverityUnknown {
					sev = a.Severity
				}
				if sev == "" {
					sev = scan.SeverityUnknown
				}
				k := key{rf.rec.ID, p.Name, p.Location}
				if i, ok := seen[k]; ok {
					// The same advisory through a second affected entry (release
					// and bare ecosystem, or two fixing branches): keep one
					// finding, with the nearest fix and the highest severity.
					f := &out[i]
					if f.Fixed == "" || (fixed != "" && less(p.Ecosystem, fixed, f.Fixed)) {
						f.Fixed = fixed
					}
					if sev.Rank() > f.Severity.Rank() {
						f.Severity = sev
					}
					continue
				}
				seen[k] = len(out)
				out = append(out, scan.Finding{
					ID:        rf.rec.ID,
					Aliases:   slices.Clone(rf.rec.Aliases),
					Package:   p.Name,
					Ecosystem: p.Ecosystem,
					Installed: p.Version,
					Fixed:     fixed,
					Severity:  sev,
					Summary:   rf.rec.Summary,
					Location:  p.Location,
				})
			}
		}
	}
	slices.SortFunc(out, func(a, b scan.Finding) int {
		if c := cmp.Compare(b.Severity.Rank(), a.Severity.Rank()); c != 0 {
			return c
		}
		if c := cmp.Compare(a.ID, b.ID); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Package, b.Package); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Location, b.Location); c != 0 {
			return c
		}
		return cmp.Compare(a.Installed, b.Installed)
	})
	return out
}

func less(ecosystem, a, b string) bool {
	c, err := version.Compare(ecosystem, a, b)
	if err != nil {
		return a < b
	}
	return c < 0
}

// affects reports whether installed is affected according to a, and the
// nearest fix: the lowest "fixed" event above installed in a range that
// matched. It follows the OSV evaluation algorithm: per range, walk the
// events in version order; introduced turns "affected" on, fixed (at or
// below installed) and last_affected (below installed) turn it off; a range
// with limit events applies only below a limit. An installed version that
// cannot be parsed matches only explicit versions lists.
func affects(a *Affected, ecosystem, installed string) (bool, string) {
	hit := false
	for _, v := range a.Versions {
		if v == installed || equalVersion(a.Ecosystem, v, installed) {
			hit = true
			break
		}
	}
	fixed := ""
	for _, r := range a.Ranges {
		if r.Type != "ECOSYSTEM" && r.Type != "SEMVER" {
			continue // GIT ranges need commit data an image does not have
		}
		compare := comparer(a.Ecosystem, r.Type)
		if compare == nil {
			continue
		}
		in, fix, ok := inRange(r.Events, installed, compare)
		if !ok || !in {
			continue
		}
		hit = true
		if fix != "" {
			if fixed == "" {
				fixed = fix
			} else if c, err := compare(fix, fixed); err == nil && c < 0 {
				fixed = fix
			}
		}
	}
	return hit, fixed
}

func equalVersion(ecosystem, a, b string) bool {
	c, err := version.Compare(ecosystem, a, b)
	return err == nil && c == 0
}

// inRange evaluates one range whose events are sorted. ok is false when
// installed cannot be compared.
func inRange(events []Event, installed string, compare func(a, b string) (int, error)) (in bool, fixed string, ok bool) {
	limited, belowLimit := false, false
	for _, e := range events {
		switch {
		case e.Introduced != "":
			if e.Introduced == "0" {
				in = true
				continue
			}
			c, err := compare(installed, e.Introduced)
			if err != nil {
				return false, "", false
			}
			if c >= 0 {
				in = true
			}
		case e.Fixed != "":
			c, err := compare(installed, e.Fixed)
			if err != nil {
				return false, "", false
			}
			if c >= 0 {
				in = false
			} else if fixed == "" && in {
				fixed = e.Fixed // the first fix above installed, in this affected span
			}
		case e.LastAffected != "":
			c, err := compare(installed, e.LastAffected)
			if err != nil {
				return false, "", false
			}
			if c > 0 {
				in = false
			}
		case e.Limit != "":
			limited = true
			if e.Limit == "*" {
				belowLimit = true
				continue
			}
			c, err := compare(installed, e.Limit)
			if err != nil {
				return false, "", false
			}
			if c < 0 {
				belowLimit = true
			}
		}
	}
	if limited && !belowLimit {
		in = false
	}
	if !in {
		fixed = ""
	}
	return in, fixed, true
}
