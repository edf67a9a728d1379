package pull_test

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/shoal-dev/shoal/oci"
	"github.com/shoal-dev/shoal/oci/ocitest"
	"github.com/shoal-dev/shoal/pull"
	"github.com/shoal-dev/shoal/pull/pulltest"
	"github.com/shoal-dev/shoal/repository"
)

const tagTTL = time.Hour

var (
	mirrored = repository.Mirror("docker.io", "library/alpine")
	local    = repository.Local("team/app")
	// errPolicy is what a refusing UpstreamAllowed answers.
	errPolicy = errors.New("the access policy does not allow this upstream")
)

// env is a Puller over the in-memory fakes, with what it told the
// outside world recorded.
type env struct {
	store *pulltest.Store
	peers *pulltest.Peers
	up    *pulltest.Upstream
	reg   *prometheus.Registry
	cfg   pull.Config

	mu     sync.Mutex
	stored []string // ManifestStored calls, "<repo key> <digest>"
}

// newEnv is a node with peers, an upstream and a TagTTL of an hour. Set
// e.cfg fields (Peers: nil for a node alone) before calling e.puller.
func newEnv() *env {
	e := &env{
		store: pulltest.NewStore(),
		peers: pulltest.NewPeers(),
		up:    pulltest.NewUpstream(),
		reg:   prometheus.NewRegistry(),
	}
	e.cfg = pull.Config{
		Store:    e.store,
		Peers:    e.peers,
		Upstream: e.up,
		TagTTL:   tagTTL,
		Metrics:  e.reg,
		ManifestStored: func(repo repository.Name, d digest.Digest, info *oci.ManifestInfo) {
			e.mu.Lock()
			defer e.mu.Unlock()
			e.stored = append(e.stored, repo.Key()+" "+d.String())
		},
	}
	return e
}

// alone drops the peers: the node runs alone.
func (e *env) alone() { e.cfg.Peers = nil }

// deny makes UpstreamAllowed refuse every rule with errPolicy.
func (e *env) deny() { e.cfg.UpstreamAllowed = func(string) error { return errPolicy } }

func (e *env) puller(t *testing.T) *pull.Puller {
	t.Helper()
	p, err := pull.New(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (e *env) storedCalls() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.stored...)
}

// upstreamCalls is how many calls reached upstream, of any method.
func (e *env) upstreamCalls() int {
	n := 0
	for _, c := range e.up.Calls {
		n += c
	}
	return n
}

// counters are the pull path's series.
type counters struct {
	peerBytes, upstreamBytes, staleTags, peerTags int
}

// checkMetrics compares every series of the pull path, gathered from
// the puller's registry, with want.
func (e *env) checkMetrics(t *testing.T, want counters) {
	t.Helper()
	got := e.gather(t)
	for series, v := range map[string]int{
		`shoal_fetched_bytes_total{source="peer"}`:     want.peerBytes,
		`shoal_fetched_bytes_total{source="upstream"}`: want.upstreamBytes,
		`shoal_stale_tags_served_total`:                want.staleTags,
		`shoal_peer_tag_resolutions_total`:             want.peerTags,
	} {
		if g, ok := got[series]; !ok || g != float64(v) {
			t.Errorf("%s = %v (present: %v), want %d", series, g, ok, v)
		}
	}
}

// gather reads the registry's counters as "name{label="value"}" -> value.
// (prometheus/testutil would need github.com/kylelemons/godebug required
// in go.mod.)
func (e *env) gather(t *testing.T) map[string]float64 {
	t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			name := mf.GetName()
			if labels != nil {
				name += "{" + strings.Join(labels, ",") + "}"
			}
			out[name] = m.GetCounter().GetValue()
		}
	}
	return out
}

// manifest is a valid OCI image manifest, distinct for each n.
func manifest(n int) []byte {
	cfg := digest.FromString(fmt.Sprint("config ", n))
	return fmt.Appendf(nil, `{"schemaVersion":2,"mediaType":%q,"config":{"mediaType":%q,"digest":%q,"size":9},"layers":[]}`,
		ocispec.MediaTypeImageManifest, ocispec.MediaTypeImageConfig, cfg)
}

const manifestType = ocispec.MediaTypeImageManifest

// wantNotFound checks that err is a not-found answer: ErrNotFound to the
// node's readers, 404 code to a client.
func wantNotFound(t *testing.T, err error, code string) {
	t.Helper()
	if !errors.Is(err, pull.ErrNotFound) {
		t.Errorf("err = %v, want one matching pull.ErrNotFound", err)
	}
	ocitest.WantError(t, err, 404, code)
}

// readBlob reads and closes b.
func readBlob(t *testing.T, b *oci.Blob) []byte {
	t.Helper()
	defer b.Close()
	got, err := io.ReadAll(b.Content)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(got)) != b.Size {
		t.Errorf("blob is %d bytes, its Size says %d", len(got), b.Size)
	}
	return got
}
