package vulndb

import (
	"testing"

	"github.com/shoal-dev/shoal/scan"
)

func TestCVSS3BaseScore(t *testing.T) {
	for _, tc := range []struct {
		vector string
		score  float64
		rating scan.Severity
	}{
		// Published NVD scores.
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8, scan.SeverityCritical},
		{"CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H", 7.8, scan.SeverityHigh},
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N", 6.1, scan.SeverityMedium}, // scope changed (reflected XSS)
		{"CVSS:3.1/AV:N/AC:L/PR:L/UI:R/S:C/C:L/I:L/A:N", 5.4, scan.SeverityMedium}, // scope changed, PR:L weight 0.68
		{"CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:C/C:H/I:H/A:H", 9.9, scan.SeverityCritical},
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", 10.0, scan.SeverityCritical},
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H", 7.5, scan.SeverityHigh},
		{"CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:N/A:N", 5.9, scan.SeverityMedium},
		{"CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:N/A:N", 5.5, scan.SeverityMedium},
		{"CVSS:3.1/AV:P/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:L", 2.4, scan.SeverityLow},
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N", 0, scan.SeverityUnknown}, // CVSS "None"
		{"CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8, scan.SeverityCritical},
		// Temporal metrics are ignored; metric order does not matter.
		{"CVSS:3.1/C:H/I:H/A:H/AV:N/AC:L/PR:N/UI:N/S:U/E:U/RL:O", 9.8, scan.SeverityCritical},
	} {
		got, err := CVSS3BaseScore(tc.vector)
		if err != nil {
			t.Errorf("%s: %v", tc.vector, err)
			continue
		}
		if got != tc.score {
			t.Errorf("%s: score %.1f, want %.1f", tc.vector, got, tc.score)
		}
		if r := Rating(got); r != tc.rating {
			t.Errorf("%s: rating %s, want %s", tc.vector, r, tc.rating)
		}
	}
}

func TestCVSS3Invalid(t *testing.T) {
	for _, v := range []string{
		"",
		"CVSS:2.0/AV:N/AC:L/Au:N/C:P/I:P/A:P",
		"AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", // no prefix
		"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H",          // A missing
		"CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",      // bad value
		"CVSS:3.1/AV:N/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", // twice
		"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:X/C:H/I:H/A:H",      // bad scope
		"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/",     // empty metric
		"CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
	} {
		if s, err := CVSS3BaseScore(v); err == nil {
			t.Errorf("%q: score %.1f, want an error", v, s)
		}
	}
}

func TestRoundup(t *testing.T) {
	for _, tc := range []struct{ in, want float64 }{
		{4.0, 4.0},
		{4.02, 4.1},
		{4.000000000000001, 4.0}, // CVSS 3.1 Appendix A: float noise must not round up
		{9.71, 9.8},
		{0.01, 0.1},
	} {
		if got := roundup31(tc.in); got != tc.want {
			t.Errorf("roundup31(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestRating(t *testing.T) {
	for _, tc := range []struct {
		score float64
		want  scan.Severity
	}{
		{-1, scan.SeverityUnknown}, {0, scan.SeverityUnknown}, {0.1, scan.SeverityLow}, {3.9, scan.SeverityLow},
		{4.0, scan.SeverityMedium}, {6.9, scan.SeverityMedium}, {7.0, scan.SeverityHigh}, {8.9, scan.SeverityHigh},
		{9.0, scan.SeverityCritical}, {10, scan.SeverityCritical}, {10.1, scan.SeverityUnknown},
	} {
		if got := Rating(tc.score); got != tc.want {
			t.Errorf("Rating(%v) = %s, want %s", tc.score, got, tc.want)
		}
	}
}

func TestSeverityOf(t *testing.T) {
	for _, tc := range []struct {
		name   string
		record string
		want   scan.Severity
	}{
		{"cvss3 vector", `{"id":"X-1","modified":"2024-01-01T00:00:00Z","severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],"affected":[]}`, scan.SeverityCritical},
		{"cvss4 vector only, database_specific fallback", `{"id":"X-2","modified":"2024-01-01T00:00:00Z","severity":[{"type":"CVSS_V4","score":"CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"}],"database_specific":{"severity":"MODERATE"},"affected":[]}`, scan.SeverityMedium},
		{"cvss4 with numeric score", `{"id":"X-3","modified":"2024-01-01T00:00:00Z","severity":[{"type":"CVSS_V4","score":"8.7"}],"affected":[]}`, scan.SeverityHigh},
		{"cvss3 beats cvss4", `{"id":"X-4","modified":"2024-01-01T00:00:00Z","severity":[{"type":"CVSS_V4","score":"CVSS:4.0/AV:N"},{"type":"CVSS_V3","score":"CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H"}],"affected":[]}`, scan.SeverityHigh},
		{"ubuntu word", `{"id":"X-5","modified":"2024-01-01T00:00:00Z","severity":[{"type":"Ubuntu","score":"low"}],"affected":[]}`, scan.SeverityLow},
		{"nothing", `{"id":"X-6","modified":"2024-01-01T00:00:00Z","affected":[]}`, ""},
		{"garbage vector", `{"id":"X-7","modified":"2024-01-01T00:00:00Z","severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:Q"}],"affected":[]}`, ""},
	} {
		r, err := parseOSV([]byte(tc.record))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if r.Severity != tc.want {
			t.Errorf("%s: severity %q, want %q", tc.name, r.Severity, tc.want)
		}
	}
}
