package vulndb

import "github.com/shoal-dev/shoal/scan"

// ownerGoverns says, for each package of inv, whether it is left to its
// owner: a language package an OS package installed (Package.Owner) is not
// matched against its own ecosystem's advisories when the database holds
// records of the owner's distribution release. The distribution's records
// then speak for it, as for any file of that OS package: distributions
// patch what they ship without moving the upstream version, so a PyPI or
// Maven range over that version reports fixed flaws, and a flaw that is
// open is reported once, on the OS package. Without such records (no
// distribution data imported, or a distribution OSV does not cover, such
// as Fedora) the language ecosystem's are all there is, and it is matched.
// docs/scanning.md states the rule and why.
func (db *DB) ownerGoverns(inv *scan.Inventory) func(scan.Package) bool {
	ecosystemOf := make(map[string]string) // an OS package's purl → its ecosystem
	for _, p := range inv.Packages {
		if p.Location == "" && p.PURL != "" {
			ecosystemOf[p.PURL] = p.Ecosystem
		}
	}
	return func(p scan.Package) bool {
		if p.Owner == "" {
			return false
		}
		eco, ok := ecosystemOf[p.Owner]
		return ok && db.covers(eco)
	}
}

// covers says whether the database holds records of ecosystem e's release
// or of its bare distribution (the ecosystems a package of e is matched in).
func (db *DB) covers(e string) bool {
	for _, c := range candidateEcosystems(e) {
		if db.ecosystems[c] {
			return true
		}
	}
	return false
}
