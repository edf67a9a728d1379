package vulndb

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/shoal-dev/shoal/scan"
)

// CVSS3BaseScore computes the base score of a CVSS v3.0 or v3.1 vector
// ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H") with the specification's
// formula (CVSS v3.1 specification, section 7.1, and Appendix A's Roundup).
// Temporal and environmental metrics are accepted and ignored; every base
// metric must appear exactly once.
func CVSS3BaseScore(vector string) (float64, error) {
	parts := strings.Split(strings.TrimSpace(vector), "/")
	var v31 bool
	switch parts[0] {
	case "CVSS:3.1":
		v31 = true
	case "CVSS:3.0":
	default:
		return 0, fmt.Errorf("cvss: not a CVSS v3 vector: %q", vector)
	}
	m := make(map[string]string, 8)
	for _, p := range parts[1:] {
		k, v, ok := strings.Cut(p, ":")
		if !ok || k == "" || v == "" {
			return 0, fmt.Errorf("cvss: malformed metric %q", p)
		}
		if _, dup := m[k]; dup {
			return 0, fmt.Errorf("cvss: metric %s given twice", k)
		}
		m[k] = v
	}
	weight := func(metric string, table map[string]float64) (float64, error) {
		w, ok := table[m[metric]]
		if !ok {
			return 0, fmt.Errorf("cvss: missing or invalid %s in %q", metric, vector)
		}
		return w, nil
	}
	var errs []error
	get := func(metric string, table map[string]float64) float64 {
		w, err := weight(metric, table)
		errs = append(errs, err)
		return w
	}
	scope := m["S"]
	if scope != "U" && scope != "C" {
		return 0, fmt.Errorf("cvss: missing or invalid S in %q", vector)
	}
	changed := scope == "C"
	prTable := map[string]float64{"N": 0.85, "L": 0.62, "H": 0.27}
	if changed {
		prTable = map[string]float64{"N": 0.85, "L": 0.68, "H": 0.5}
	}
	av := get("AV", map[string]float64{"N": 0.85, "A": 0.62, "L": 0.55, "P": 0.2})
	ac := get("AC", map[string]float64{"L": 0.77, "H": 0.44})
	pr := get("PR", prTable)
	ui := get("UI", map[string]float64{"N": 0.85, "R": 0.62})
	cia := map[string]float64{"H": 0.56, "L": 0.22, "N": 0}
	c, i, a := get("C", cia), get("I", cia), get("A", cia)
	if err := errors.Join(errs...); err != nil {
		return 0, err
	}

	iss := 1 - (1-c)*(1-i)*(1-a)
	var impact float64
	if changed {
		impact = 7.52*(iss-0.029) - 3.25*math.Pow(iss-0.02, 15)
	} else {
		impact = 6.42 * iss
	}
	exploitability := 8.22 * av * ac * pr * ui
	if impact <= 0 {
		return 0, nil
	}
	roundup := roundup30
	if v31 {
		roundup = roundup31
	}
	if changed {
		return roundup(math.Min(1.08*(impact+exploitability), 10)), nil
	}
	return roundup(math.Min(impact+exploitability, 10)), nil
}

// roundup31 is CVSS v3.1 Appendix A's Roundup: the smallest number with one
// decimal place at or above x, computed in integers to avoid float noise.
func roundup31(x float64) float64 {
	n := int64(math.Round(x * 100000))
	if n%10000 == 0 {
		return float64(n) / 100000
	}
	return float64(n/10000+1) / 10
}

// roundup30 is CVSS v3.0's Roundup (a plain ceiling to one decimal).
func roundup30(x float64) float64 { return math.Ceil(x*10) / 10 }

// Rating maps a CVSS score to its qualitative rating (CVSS v3.1 section 5):
// 0.1-3.9 LOW, 4.0-6.9 MEDIUM, 7.0-8.9 HIGH, 9.0-10.0 CRITICAL. A score of
// 0.0 (CVSS "None") or one outside 0-10 is UNKNOWN.
func Rating(score float64) scan.Severity {
	switch {
	case math.IsNaN(score) || score <= 0 || score > 10:
		return scan.SeverityUnknown
	case score < 4:
		return scan.SeverityLow
	case score < 7:
		return scan.SeverityMedium
	case score < 9:
		return scan.SeverityHigh
	}
	return scan.SeverityCritical
}
