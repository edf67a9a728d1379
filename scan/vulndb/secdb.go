package vulndb

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"sigs.k8s.io/yaml"
)

// secdbFile is Alpine's security database of backported fixes, one file per
// release and repository (alpinelinux/alpine-secdb, v3.10/main.yaml).
type secdbFile struct {
	DistroVersion string `json:"distroversion"`
	RepoName      string `json:"reponame"`
	Packages      []struct {
		Pkg struct {
			Name     string                     `json:"name"`
			Secfixes map[string]json.RawMessage `json:"secfixes"`
		} `json:"pkg"`
	} `json:"packages"`
}

// errNotSecdb marks YAML that is not an Alpine secdb file.
var errNotSecdb = errors.New("not an Alpine secdb file")

var (
	cveID   = regexp.MustCompile(`CVE[-_][0-9]{4}-[0-9]{4,}`)
	otherID = regexp.MustCompile(`^[A-Z][A-Z0-9]*-[0-9A-Za-z][0-9A-Za-z.-]*$`)
)

// parseSecdb turns a secdb file into records, one per advisory ID, with one
// affected entry per package in ecosystem "Alpine:<distroversion>". Each
// secfixes entry "V: [IDs]" says V fixes those IDs, so every earlier version
// in that release is affected: a range introduced "0", fixed V. An ID fixed
// in several versions (backports on several branches) gets one range per
// fixing version. The key "0" lists IDs the package was never affected by
// (secdb's convention for whitelisting): those are skipped.
func parseSecdb(data []byte) ([]*Record, error) {
	// Recognise the file by its keys first: "packages:" may be empty (v3.3
	// community has none) but must be there.
	var keys map[string]json.RawMessage
	if err := yaml.Unmarshal(data, &keys); err != nil {
		return nil, fmt.Errorf("%w: %v", errNotSecdb, err)
	}
	if _, ok := keys["packages"]; !ok {
		return nil, errNotSecdb
	}
	var f secdbFile
	if err := json.Unmarshal(keys["distroversion"], &f.DistroVersion); err != nil || f.DistroVersion == "" {
		return nil, errNotSecdb
	}
	if string(keys["packages"]) != "null" {
		if err := json.Unmarshal(keys["packages"], &f.Packages); err != nil {
			return nil, fmt.Errorf("%w: packages: %v", errNotSecdb, err)
		}
	}
	ecosystem := "Alpine:" + f.DistroVersion
	if !strings.HasPrefix(f.DistroVersion, "v") && f.DistroVersion != "edge" {
		ecosystem = "Alpine:v" + f.DistroVersion
	}
	type key struct{ id, pkg string }
	byKey := make(map[key]*Record)
	for _, p := range f.Packages {
		name := strings.TrimSpace(p.Pkg.Name)
		if name == "" {
			continue
		}
		for fixedIn, raw := range p.Pkg.Secfixes {
			fixedIn = strings.TrimSpace(fixedIn)
			if fixedIn == "" || fixedIn == "0" {
				continue
			}
			for _, entry := range secfixEntries(raw) {
				id, aliases := secfixIDs(entry)
				if id == "" {
					continue
				}
				k := key{id, name}
				r := byKey[k]
				if r == nil {
					r = &Record{ID: id, Affected: []Affected{{Ecosystem: ecosystem, Name: name}}}
					byKey[k] = r
				}
				r.Aliases = append(r.Aliases, aliases...)
				a := &r.Affected[0]
				a.Ranges = append(a.Ranges, Range{Type: "ECOSYSTEM", Events: []Event{{Introduced: "0"}, {Fixed: fixedIn}}})
			}
		}
	}
	// Several packages may fix one ID: fold them into one record per ID.
	byID := make(map[string]*Record)
	for _, r := range byKey {
		slices.SortFunc(r.Affected[0].Ranges, func(a, b Range) int {
			return strings.Compare(a.Events[1].Fixed, b.Events[1].Fixed)
		})
		if o := byID[r.ID]; o != nil {
			o.Aliases = append(o.Aliases, r.Aliases...)
			o.Affected = append(o.Affected, r.Affected...)
			continue
		}
		byID[r.ID] = r
	}
	out := make([]*Record, 0, len(byID))
	for _, r := range byID {
		canonical(r)
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b *Record) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// secfixEntries reads a secfixes value: normally a list of strings; a single
// string or scalars of other types are tolerated.
func secfixEntries(raw json.RawMessage) []string {
	var list []any
	if err := json.Unmarshal(raw, &list); err != nil {
		var one any
		if json.Unmarshal(raw, &one) != nil || one == nil {
			return nil
		}
		list = []any{one}
	}
	out := make([]string, 0, len(list))
	for _, v := range list {
		switch v := v.(type) {
		case string:
			out = append(out, v)
		case float64, bool:
			out = append(out, fmt.Sprint(v))
		}
	}
	return out
}

// secfixIDs picks the advisory ID from a secfixes entry, which is usually a
// CVE but may carry more text: "CVE-2017-8904 XSA-214", "CVE_2019-2426"
// (typo), "CVE-2017-17434-1" (a sub-issue), "CVE-????-????? XSA-295" (no CVE
// yet), "XSA-207". The first CVE wins; otherwise the first ID-shaped word.
// The other ID-shaped words become aliases.
func secfixIDs(entry string) (id string, aliases []string) {
	var words []string
	for _, w := range strings.Fields(entry) {
		w = strings.Trim(w, "(),;[]")
		if m := cveID.FindString(w); m != "" {
			w = "CVE-" + m[4:]
		} else if !otherID.MatchString(w) {
			continue
		}
		words = append(words, w)
	}
	for i, w := range words {
		if strings.HasPrefix(w, "CVE-") {
			id = w
			words = slices.Delete(words, i, i+1)
			return id, words
		}
	}
	if len(words) == 0 {
		return "", nil
	}
	return words[0], words[1:]
}
