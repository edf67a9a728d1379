package node

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// The status document carries the node's traffic per interval: a pull
// from upstream shows in the samples as bytes served to the client and
// fetched from upstream, and the figures add up to the counters (the
// 60 samples of 0.2 s keep 12 s, longer than the pull takes).
func TestStatusTraffic(t *testing.T) {
	up := newCountingUpstream(t)
	img, err := random.Image(1<<16, 2)
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := name.ParseReference(strings.TrimPrefix(up.URL, "http://") + "/app/web:v1")
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	n, srv := startFleetNode(t, up.URL, nil, func(c *Config) { c.trafficEvery = 200 * time.Millisecond })
	pullImage(t, srv, "up/app/web:v1")
	want := n.trafficTotals()
	if want.Client == 0 || want.Upstream == 0 {
		t.Fatalf("counters after a pull: %+v", want)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := n.Status()
		if st.Traffic == nil || st.Traffic.IntervalSeconds != 0.2 {
			t.Fatalf("traffic = %+v, want 0.2 s intervals", st.Traffic)
		}
		var client, upstream int64
		for _, s := range st.Traffic.Samples {
			client += s.ClientBytes
			upstream += s.UpstreamBytes
		}
		if client == want.Client && upstream == want.Upstream {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("samples add up to client %d, upstream %d; the counters say %+v", client, upstream, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
