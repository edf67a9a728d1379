package traffic

import (
	"testing"
	"time"
)

func TestHistory(t *testing.T) {
	t0 := time.Unix(1000, 0)
	tests := []struct {
		name   string
		keep   int
		totals []Totals // recorded a minute apart from t0
		want   []Totals // the samples kept, oldest first
	}{
		{name: "the first call is the baseline", keep: 3, totals: []Totals{{100, 10, 1}}, want: nil},
		{name: "deltas", keep: 3, totals: []Totals{{100, 10, 1}, {150, 30, 1}, {150, 30, 5}}, want: []Totals{{50, 20, 0}, {0, 0, 4}}},
		{name: "the oldest go", keep: 2, totals: []Totals{{0, 0, 0}, {1, 0, 0}, {3, 0, 0}, {6, 0, 0}}, want: []Totals{{2, 0, 0}, {3, 0, 0}}},
		{name: "a counter reset counts from zero", keep: 3, totals: []Totals{{100, 0, 0}, {40, 0, 0}}, want: []Totals{{40, 0, 0}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := NewHistory(tt.keep)
			for i, tot := range tt.totals {
				h.Record(t0.Add(time.Duration(i)*time.Minute), tot)
			}
			got := h.Samples()
			if len(got) != len(tt.want) {
				t.Fatalf("samples %+v, want %+v", got, tt.want)
			}
			for i := range got {
				at := t0.Add(time.Duration(len(tt.totals)-len(got)+i) * time.Minute)
				if got[i].Totals != tt.want[i] || !got[i].At.Equal(at) {
					t.Errorf("sample %d = %+v, want %+v at %v", i, got[i], tt.want[i], at)
				}
			}
		})
	}
}
