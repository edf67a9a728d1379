package vulndb

import (
	"strconv"
	"strings"
)

// redHatRelease maps Red Hat's OSV product ecosystems
// ("Red Hat:enterprise_linux:9::baseos", "…::appstream", or without the
// stream) onto the release an image's os-release names ("Red Hat:9"). Other
// products (rhel_eus, rhel_e4s, openshift, …) ship their own builds to
// their own subscribers and stay as they are, never matched.
func redHatRelease(e string) string {
	rest, ok := strings.CutPrefix(e, "Red Hat:enterprise_linux:")
	if !ok {
		return e
	}
	major, _, _ := strings.Cut(rest, ":")
	if !isDigits(major) {
		return e
	}
	return "Red Hat:" + major
}

// suseRelease maps SUSE's OSV product ecosystems of one code base onto
// the release an image's os-release names: "SUSE:Linux Enterprise Server 15
// SP5", "…Module for Basesystem 15 SP5" (where SLE 15 files its base
// packages), "…Server for SAP Applications 15 SP5", "…Server 15 SP5-LTSS"
// all become "SUSE:Linux Enterprise 15 SP5", and "…Server 16.0" becomes
// "SUSE:Linux Enterprise 16.0": every product of a service pack ships the
// same builds. Linux Enterprise Micro, which has its own os-release ID and
// versions, stays as it is, and so does anything else.
func suseRelease(e string) string {
	product, ok := strings.CutPrefix(e, "SUSE:Linux Enterprise ")
	if !ok || strings.HasPrefix(product, "Micro") {
		return e
	}
	words := strings.Fields(product)
	if len(words) < 2 {
		return e
	}
	last, _, _ := strings.Cut(words[len(words)-1], "-") // "SP5-LTSS", "SP7-ESPOS"
	prev := words[len(words)-2]
	if sp, ok := strings.CutPrefix(last, "SP"); ok && isDigits(sp) && isDigits(prev) {
		if n, _ := strconv.Atoi(sp); n == 0 {
			return "SUSE:Linux Enterprise " + prev
		}
		return "SUSE:Linux Enterprise " + prev + " SP" + sp
	}
	major, minor, dotted := strings.Cut(last, ".")
	if isDigits(major) && (!dotted || isDigits(minor)) {
		return "SUSE:Linux Enterprise " + last
	}
	return e
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
