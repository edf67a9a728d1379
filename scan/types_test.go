package scan

import "testing"

func TestParseSeverity(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Severity
	}{
		{"CRITICAL", SeverityCritical},
		{"critical", SeverityCritical},
		{" High ", SeverityHigh},
		{"IMPORTANT", SeverityHigh},
		{"medium", SeverityMedium},
		{"Moderate", SeverityMedium},
		{"LOW", SeverityLow},
		{"UNKNOWN", SeverityUnknown},
		{"", SeverityUnknown},
		{"negligible", SeverityUnknown},
		{"9.8", SeverityUnknown},
	} {
		if got := ParseSeverity(tc.in); got != tc.want {
			t.Errorf("ParseSeverity(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestSeverityRank(t *testing.T) {
	for _, tc := range []struct {
		s    Severity
		want int
	}{
		{SeverityUnknown, 0},
		{SeverityLow, 1},
		{SeverityMedium, 2},
		{SeverityHigh, 3},
		{SeverityCritical, 4},
		{"", 0},
		{"high", 0}, // not normalised: use ParseSeverity first
	} {
		if got := tc.s.Rank(); got != tc.want {
			t.Errorf("%q.Rank() = %d, want %d", tc.s, got, tc.want)
		}
	}
	order := []Severity{SeverityUnknown, SeverityLow, SeverityMedium, SeverityHigh, SeverityCritical}
	for i := 1; i < len(order); i++ {
		if order[i-1].Rank() >= order[i].Rank() {
			t.Errorf("%s does not rank below %s", order[i-1], order[i])
		}
	}
}
