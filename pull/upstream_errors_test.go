package pull_test

import (
	"context"
	"testing"

	"github.com/shoal-dev/shoal/oci/upstream"
	"github.com/shoal-dev/shoal/pull/pulltest"
)

// TestUpstreamErrorsCounted: a failing upstream is counted in
// shoal_upstream_errors_total by operation; an answer that the content
// does not exist and a caller gone away are not the upstream's fault.
func TestUpstreamErrorsCounted(t *testing.T) {
	for _, tt := range []struct {
		name string
		err  error
		want float64
	}{
		{name: "unreachable", err: pulltest.Down, want: 1},
		{name: "refused", err: &upstream.StatusError{Status: 401}, want: 1},
		{name: "not found", err: upstream.ErrNotFound, want: 0},
		{name: "caller gone", err: context.Canceled, want: 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv()
			e.alone()
			e.up.Err = tt.err
			if _, err := e.puller(t).Tags(context.Background(), mirrored); err == nil {
				t.Fatal("Tags succeeded against a failing upstream")
			}
			got := e.gather(t)
			if g := got[`shoal_upstream_errors_total{op="tags"}`]; g != tt.want {
				t.Errorf(`shoal_upstream_errors_total{op="tags"} = %v, want %v`, g, tt.want)
			}
			for _, op := range []string{"resolve", "manifest", "stat", "blob", "referrers"} {
				series := `shoal_upstream_errors_total{op="` + op + `"}`
				if g, ok := got[series]; !ok || g != 0 {
					t.Errorf("%s = %v (present: %v), want 0", series, g, ok)
				}
			}
		})
	}
}
