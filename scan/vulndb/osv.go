package vulndb

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/shoal-dev/shoal/scan"
)

// osvRecord is the subset of the OSV schema (1.x) that Import reads.
type osvRecord struct {
	ID               string          `json:"id"`
	Aliases          []string        `json:"aliases"`
	Modified         string          `json:"modified"`
	Published        string          `json:"published"`
	Withdrawn        string          `json:"withdrawn"`
	Summary          string          `json:"summary"`
	Details          string          `json:"details"`
	Severity         []osvSeverity   `json:"severity"`
	Affected         []osvAffected   `json:"affected"`
	DatabaseSpecific json.RawMessage `json:"database_specific"`
}

type osvSeverity struct {
	Type  string          `json:"type"`
	Score json.RawMessage `json:"score"` // a vector string; some producers put a number
}

type osvAffected struct {
	Package struct {
		Ecosystem string `json:"ecosystem"`
		Name      string `json:"name"`
		PURL      string `json:"purl"`
	} `json:"package"`
	Severity []osvSeverity `json:"severity"`
	Ranges   []struct {
		Type   string `json:"type"`
		Events []struct {
			Introduced   string `json:"introduced"`
			Fixed        string `json:"fixed"`
			LastAffected string `json:"last_affected"`
			Limit        string `json:"limit"`
		} `json:"events"`
	} `json:"ranges"`
	Versions          []string        `json:"versions"`
	EcosystemSpecific json.RawMessage `json:"ecosystem_specific"`
	DatabaseSpecific  json.RawMessage `json:"database_specific"`
}

// errNotOSV marks JSON that is well-formed but is not an OSV record (an index
// file, a schema, a manifest): Import skips it with a warning.
var errNotOSV = errors.New("not an OSV record")

// errWithdrawn marks a withdrawn OSV record, which Import leaves out.
var errWithdrawn = errors.New("withdrawn")

const maxSummary = 300

// parseOSV parses one OSV JSON record into a canonical Record.
func parseOSV(data []byte) (*Record, error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 || data[0] != '{' {
		return nil, errNotOSV
	}
	var o osvRecord
	if err := json.Unmarshal(data, &o); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return nil, fmt.Errorf("%w: %v", errNotOSV, err)
		}
		return nil, err
	}
	if o.ID == "" || (o.Modified == "" && o.Affected == nil) {
		return nil, errNotOSV
	}
	if o.Withdrawn != "" {
		return nil, errWithdrawn
	}
	r := &Record{ID: o.ID, Aliases: slices.Clone(o.Aliases)}
	r.Modified = parseTime(o.Modified)
	r.Published = parseTime(o.Published)
	r.Summary = summarise(o.Summary, o.Details)
	r.Severity = severityOf(o.Severity)
	if r.Severity == "" {
		r.Severity = severityString(o.DatabaseSpecific)
	}
	for _, oa := range o.Affected {
		a := Affected{
			Ecosystem: oa.Package.Ecosystem,
			Name:      oa.Package.Name,
			Versions:  slices.Clone(oa.Versions),
		}
		if a.Ecosystem == "" || a.Name == "" {
			continue // a PURL-only or GIT-only entry names nothing an inventory has
		}
		a.Severity = severityOf(oa.Severity)
		if a.Severity == "" {
			a.Severity = severityString(oa.EcosystemSpecific)
		}
		if a.Severity == "" {
			a.Severity = severityString(oa.DatabaseSpecific)
		}
		for _, or := range oa.Ranges {
			rg := Range{Type: or.Type}
			for _, e := range or.Events {
				ev := Event{Introduced: e.Introduced, Fixed: e.Fixed, LastAffected: e.LastAffected, Limit: e.Limit}
				if n := countSet(ev); n != 1 {
					continue // the schema requires exactly one; skip what cannot be evaluated
				}
				rg.Events = append(rg.Events, ev)
			}
			if len(rg.Events) == 0 {
				continue
			}
			sortEvents(a.Ecosystem, rg.Type, rg.Events)
			a.Ranges = append(a.Ranges, rg)
		}
		if len(a.Ranges) == 0 && len(a.Versions) == 0 {
			continue
		}
		r.Affected = append(r.Affected, a)
	}
	canonical(r)
	return r, nil
}

func countSet(e Event) int {
	n := 0
	for _, s := range []string{e.Introduced, e.Fixed, e.LastAffected, e.Limit} {
		if s != "" {
			n++
		}
	}
	return n
}

// sortEvents puts a range's events in version order, "0" first. Versions the
// ecosystem cannot compare keep their relative place after comparable ones'
// order is settled (a stable sort with a string fallback keeps it total and
// deterministic).
func sortEvents(ecosystem, rangeType string, ev []Event) {
	compare := comparer(ecosystem, rangeType)
	slices.SortStableFunc(ev, func(a, b Event) int {
		va, vb := a.version(), b.version()
		za, zb := a.Introduced == "0", b.Introduced == "0"
		switch {
		case za && zb:
			return 0
		case za:
			return -1
		case zb:
			return 1
		}
		if compare != nil {
			if c, err := compare(va, vb); err == nil {
				if c != 0 {
					return c
				}
				return eventKind(a) - eventKind(b)
			}
		}
		if c := strings.Compare(va, vb); c != 0 {
			return c
		}
		return eventKind(a) - eventKind(b)
	})
}

// eventKind orders events at the same version: an introduced at v and a fixed
// at v leave v fixed, whichever the record lists first.
func eventKind(e Event) int {
	switch {
	case e.Introduced != "":
		return 0
	case e.LastAffected != "":
		return 1
	case e.Fixed != "":
		return 2
	}
	return 3
}

func parseTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return t.UTC()
}

// summarise returns the summary, or the first line of details, cut short.
func summarise(summary, details string) string {
	s := strings.TrimSpace(summary)
	if s == "" {
		s, _, _ = strings.Cut(strings.TrimSpace(details), "\n")
	}
	if len(s) > maxSummary {
		cut := maxSummary
		for cut > 0 && !utf8RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }

// severityOf rates a record's severity[] entries: a CVSS v3 vector gives its
// computed base score; a CVSS v4 entry is rated only from a numeric score
// (computing v4 scores needs the spec's macro-vector tables, which this
// package does not carry); "Ubuntu" entries carry a rating word. The highest
// rating found wins; "" when none could be rated.
func severityOf(entries []osvSeverity) scan.Severity {
	var best scan.Severity
	for _, e := range entries {
		var s scan.Severity
		var str string
		var num float64
		isNum := false
		if err := json.Unmarshal(e.Score, &str); err != nil {
			if err := json.Unmarshal(e.Score, &num); err != nil {
				continue
			}
			isNum = true
		} else if f, err := strconv.ParseFloat(strings.TrimSpace(str), 64); err == nil {
			num, isNum = f, true
		}
		switch {
		case isNum:
			if e.Type == "CVSS_V2" || e.Type == "CVSS_V3" || e.Type == "CVSS_V4" {
				s = Rating(num)
			}
		case e.Type == "CVSS_V3":
			if score, err := CVSS3BaseScore(str); err == nil {
				s = Rating(score)
			}
		case e.Type == "CVSS_V4":
			// Not scored here: see above.
		default:
			if p := scan.ParseSeverity(str); p != scan.SeverityUnknown {
				s = p
			}
		}
		if s != "" && (best == "" || s.Rank() > best.Rank()) {
			best = s
		}
	}
	return best
}

// severityString reads {"severity": "HIGH"} from a database_specific or
// ecosystem_specific object; "" when absent or not a known rating.
func severityString(raw json.RawMessage) scan.Severity {
	if len(raw) == 0 {
		return ""
	}
	var v struct {
		Severity any `json:"severity"`
	}
	if json.Unmarshal(raw, &v) != nil {
		return ""
	}
	str, ok := v.Severity.(string)
	if !ok {
		return ""
	}
	if s := scan.ParseSeverity(str); s != scan.SeverityUnknown {
		return s
	}
	return ""
}
