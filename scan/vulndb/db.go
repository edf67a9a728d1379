// Package vulndb imports vulnerability records (OSV JSON and Alpine secdb
// YAML) into an in-memory database indexed by (ecosystem, package), encodes
// it in a deterministic portable form, and matches image inventories
// against it.
package vulndb

import (
	"cmp"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/shoal-dev/shoal/scan"
)

// Record is one advisory in the database's own compact form: the parts of an
// OSV record that matching and reporting use. It is also the unit of the
// encoded form, so its JSON field names are part of the format.
type Record struct {
	ID        string        `json:"id"`
	Aliases   []string      `json:"aliases,omitempty"`
	Modified  time.Time     `json:"modified"`
	Published time.Time     `json:"published"`
	Summary   string        `json:"summary,omitempty"`
	Severity  scan.Severity `json:"severity,omitempty"` // from CVSS vectors or database_specific.severity; "" when neither gave one
	Affected  []Affected    `json:"affected"`
}

// Affected is one package the record affects, in one ecosystem.
type Affected struct {
	Ecosystem string        `json:"ecosystem"` // as the record names it ("Debian:12", "Go", "Alpine:v3.10")
	Name      string        `json:"name"`
	Ranges    []Range       `json:"ranges,omitempty"`
	Versions  []string      `json:"versions,omitempty"`
	Severity  scan.Severity `json:"severity,omitempty"` // ecosystem_specific/database_specific.severity of this entry
}

// Range is an OSV ECOSYSTEM or SEMVER range; its events are kept sorted in
// the ecosystem's version order, as the OSV evaluation algorithm requires.
type Range struct {
	Type   string  `json:"type"`
	Events []Event `json:"events"`
}

// Event is one OSV range event; exactly one field is set.
type Event struct {
	Introduced   string `json:"introduced,omitempty"`
	Fixed        string `json:"fixed,omitempty"`
	LastAffected string `json:"last_affected,omitempty"`
	Limit        string `json:"limit,omitempty"`
}

func (e Event) version() string {
	return e.Introduced + e.Fixed + e.LastAffected + e.Limit
}

// DB is an imported vulnerability database, in memory, indexed by
// (ecosystem, package). Match may run concurrently; Merge must not run
// concurrently with anything else on the same DB.
type DB struct {
	records map[string]*Record // by ID
	index   map[indexKey][]ref // rebuilt by Import, Merge and Decode
	// ecosystems holds every (normalised) ecosystem some record names,
	// rebuilt with index.
	ecosystems map[string]bool
	warns      warnings
}

type indexKey struct{ ecosystem, name string }

type ref struct {
	rec *Record
	aff int
}

func newDB() *DB { return &DB{records: make(map[string]*Record)} }

// Records returns the number of distinct advisories (by ID) in the database.
func (db *DB) Records() int { return len(db.records) }

// Updated returns the newest record "modified" time. Records whose modified
// time is unset (the Go vulnerability database publishes
// "0001-01-01T00:00:00Z" in its OSV export) count with their published time
// instead, so the DB's age is still meaningful. Alpine secdb carries no
// dates and does not move Updated.
func (db *DB) Updated() time.Time {
	var newest time.Time
	for _, r := range db.records {
		t := r.Modified
		if t.IsZero() || r.Published.After(t) {
			t = r.Published
		}
		if t.After(newest) {
			newest = t
		}
	}
	return newest.UTC()
}

// Warnings describes what Import skipped (non-OSV JSON, oversized or
// malformed records, unrecognised YAML), at most maxWarnings messages.
func (db *DB) Warnings() []string { return slices.Clone(db.warns.msgs) }

// Skipped is the number of inputs Import skipped with a warning (it counts
// all of them, even beyond the messages Warnings keeps).
func (db *DB) Skipped() int { return db.warns.n }

// Withdrawn is the number of withdrawn OSV records Import left out.
func (db *DB) Withdrawn() int { return db.warns.withdrawn }

const maxWarnings = 100

type warnings struct {
	msgs      []string
	n         int
	withdrawn int
}

func (w *warnings) add(msg string) {
	w.n++
	if len(w.msgs) < maxWarnings {
		w.msgs = append(w.msgs, msg)
	}
}

// Merge adds other's records to db (for incremental imports). For an ID in
// both, the record with the later modified time wins; with equal times
// (including unset ones, as in Alpine secdb, which spreads one CVE across
// many files) the two are combined: aliases and affected entries are
// unioned. The result does not depend on the order of merges.
func (db *DB) Merge(other *DB) {
	if other == nil || other == db {
		return
	}
	if db.records == nil {
		db.records = make(map[string]*Record)
	}
	for _, r := range other.records {
		db.add(cloneRecord(r))
	}
	db.warns.n += other.warns.n
	db.warns.withdrawn += other.warns.withdrawn
	for _, m := range other.warns.msgs {
		if len(db.warns.msgs) < maxWarnings {
			db.warns.msgs = append(db.warns.msgs, m)
		}
	}
	db.reindex()
}

// add puts r (owned by db from now on, already canonical) into db.
func (db *DB) add(r *Record) {
	if db.records == nil {
		db.records = make(map[string]*Record)
	}
	old, ok := db.records[r.ID]
	if !ok {
		db.records[r.ID] = r
		return
	}
	switch c := old.Modified.Compare(r.Modified); {
	case c > 0:
		return
	case c < 0:
		db.records[r.ID] = r
		return
	}
	m := &Record{
		ID:        r.ID,
		Aliases:   append(slices.Clone(old.Aliases), r.Aliases...),
		Modified:  r.Modified,
		Published: minTime(old.Published, r.Published),
		Summary:   firstNonEmptyMin(old.Summary, r.Summary),
		Severity:  maxSeverity(old.Severity, r.Severity),
		Affected:  append(slices.Clone(old.Affected), r.Affected...),
	}
	canonical(m)
	db.records[r.ID] = m
}

func minTime(a, b time.Time) time.Time {
	switch {
	case a.IsZero():
		return b
	case b.IsZero() || a.Before(b):
		return a
	}
	return b
}

// firstNonEmptyMin picks a non-empty string, the smaller if both are, so that
// merging is order-independent.
func firstNonEmptyMin(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return min(a, b)
}

func maxSeverity(a, b scan.Severity) scan.Severity {
	if b.Rank() > a.Rank() {
		return b
	}
	if a == "" {
		return b
	}
	return a
}

// canonical sorts and deduplicates a record's lists so equal content has one
// representation (and one encoding).
func canonical(r *Record) {
	slices.Sort(r.Aliases)
	r.Aliases = slices.Compact(r.Aliases)
	r.Aliases = slices.DeleteFunc(r.Aliases, func(a string) bool { return a == "" || a == r.ID })
	if len(r.Aliases) == 0 {
		r.Aliases = nil
	}
	for i := range r.Affected {
		a := &r.Affected[i]
		slices.Sort(a.Versions)
		a.Versions = slices.Compact(a.Versions)
	}
	slices.SortFunc(r.Affected, compareAffected)
	r.Affected = slices.CompactFunc(r.Affected, func(a, b Affected) bool { return compareAffected(a, b) == 0 })
}

func compareAffected(a, b Affected) int {
	if c := cmp.Compare(a.Ecosystem, b.Ecosystem); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Name, b.Name); c != 0 {
		return c
	}
	// Same package twice (several fixing branches, or merged sources): order by
	// content so the encoding is deterministic.
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return strings.Compare(string(ja), string(jb))
}

func cloneRecord(r *Record) *Record {
	c := *r
	c.Aliases = slices.Clone(r.Aliases)
	c.Affected = make([]Affected, len(r.Affected))
	for i, a := range r.Affected {
		a.Versions = slices.Clone(a.Versions)
		a.Ranges = slices.Clone(a.Ranges)
		for j := range a.Ranges {
			a.Ranges[j].Events = slices.Clone(a.Ranges[j].Events)
		}
		c.Affected[i] = a
	}
	return &c
}

// sortedRecords returns the records in ID order.
func (db *DB) sortedRecords() []*Record {
	rs := make([]*Record, 0, len(db.records))
	for _, r := range db.records {
		rs = append(rs, r)
	}
	slices.SortFunc(rs, func(a, b *Record) int { return strings.Compare(a.ID, b.ID) })
	return rs
}
