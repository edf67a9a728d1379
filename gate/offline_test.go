package gate

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/shoal-dev/shoal/oci"
	"github.com/shoal-dev/shoal/oci/ocitest"
	"github.com/shoal-dev/shoal/pull"
	"github.com/shoal-dev/shoal/pull/pulltest"
	"github.com/shoal-dev/shoal/repository"
)

var (
	// offMirrored is a mirrored repository this node has content of.
	offMirrored = repository.Mirror("docker.io", "library/alpine")
	// offBare is a mirrored repository this node holds nothing of.
	offBare = repository.Mirror("docker.io", "library/busybox")
	// offLocal was pushed here.
	offLocal = repository.Local("team/app")
	// offFleet is a local repository another node of the fleet holds:
	// reads of it leave the node.
	offFleet = repository.Local("other/app")
)

// testManifest is a valid OCI image manifest, distinct for each n.
func testManifest(n int) []byte {
	cfg := digest.FromString(fmt.Sprint("config ", n))
	return fmt.Appendf(nil, `{"schemaVersion":2,"mediaType":%q,"config":{"mediaType":%q,"digest":%q,"size":9},"layers":[]}`,
		ocispec.MediaTypeImageManifest, ocispec.MediaTypeImageConfig, cfg)
}

// offlineEnv is an Offline over a real Puller over the in-memory store,
// peers and upstream, with what reached the puller recorded.
type offlineEnv struct {
	store   *pulltest.Store
	up      *pulltest.Upstream
	peers   *pulltest.Peers
	next    *recorder
	expired bool
	src     Offline

	cached, dangling, fresh, bareLatest, fleetStored, fleetPeer digest.Digest
	cachedBlob, localBlob, upBlob                               digest.Digest
	storedRef, upRef                                            ocispec.Descriptor
}

func newOfflineEnv(t *testing.T, expired bool) *offlineEnv {
	t.Helper()
	e := &offlineEnv{store: pulltest.NewStore(), up: pulltest.NewUpstream(), peers: pulltest.NewPeers(), expired: expired}
	p, err := pull.New(pull.Config{Store: e.store, Peers: e.peers, Upstream: e.up, TagTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	e.next = &recorder{Next: p}
	e.src = Offline{Next: e.next, Store: e.store, Remote: p.Remote, Expired: func() bool { return e.expired }}

	// What the node fetched while its policy was in force. The tag was
	// checked long ago: a puller would revalidate it.
	cached := &oci.Manifest{Digest: digest.FromBytes(testManifest(1)), MediaType: ocispec.MediaTypeImageManifest, Bytes: testManifest(1)}
	if err := e.store.PutManifest(offMirrored.Key(), cached, nil); err != nil {
		t.Fatal(err)
	}
	e.cached = cached.Digest
	e.store.SetTagAt(offMirrored.Key(), "3.20", e.cached, time.Time{})
	e.dangling = digest.FromString("a manifest the store lost")
	e.store.SetTagAt(offMirrored.Key(), "dangling", e.dangling, time.Now())
	e.cachedBlob = e.store.AddBlob([]byte("cached blob"))
	e.storedRef = ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("stored referrer"), Size: 1}
	if err := e.store.PutReferrers(offMirrored.Key(), e.cached, []ocispec.Descriptor{e.storedRef}); err != nil {
		t.Fatal(err)
	}

	// A local repository pushed here.
	e.localBlob = e.store.AddBlob([]byte("local blob"))
	e.store.Push(offLocal.Key(), ocispec.MediaTypeImageManifest, testManifest(2), []digest.Digest{e.localBlob}, "v1")

	// A fleet repository this node read once.
	fleet := &oci.Manifest{Digest: digest.FromBytes(testManifest(3)), MediaType: ocispec.MediaTypeImageManifest, Bytes: testManifest(3)}
	if err := e.store.PutManifest(offFleet.Key(), fleet, nil); err != nil {
		t.Fatal(err)
	}
	e.fleetStored = fleet.Digest
	e.store.SetTagAt(offFleet.Key(), "v1", e.fleetStored, time.Now())

	// What upstream and the peers have.
	e.up.Put(offMirrored, ocispec.MediaTypeImageManifest, testManifest(1), "3.20")
	e.fresh = e.up.Put(offMirrored, ocispec.MediaTypeImageManifest, testManifest(4), "edge")
	e.bareLatest = e.up.Put(offBare, ocispec.MediaTypeImageManifest, testManifest(5), "latest")
	e.upBlob = e.up.PutBlob([]byte("upstream blob"))
	e.upRef = ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("upstream referrer"), Size: 2}
	e.up.PutReferrers(offMirrored, e.cached, []ocispec.Descriptor{e.upRef})
	e.fleetPeer = digest.FromBytes(testManifest(6))
	e.peers.Hold(e.fleetPeer, ocispec.MediaTypeImageManifest, testManifest(6))
	e.peers.HoldTag(offFleet, "v2", e.fleetPeer)
	return e
}

// left says whether anything asked upstream or the peers.
func (e *offlineEnv) left() bool {
	n := 0
	for _, c := range e.up.Calls {
		n += c
	}
	return n > 0 || len(e.peers.Fetched) > 0 || len(e.peers.TagsAsked) > 0
}

// offlineOp is one read, its answer summarised as a string.
type offlineOp func(ctx context.Context, s pull.Source) (string, error)

func getManifest(repo repository.Name, ref func(*offlineEnv) string) func(*offlineEnv) offlineOp {
	return func(e *offlineEnv) offlineOp {
		return func(ctx context.Context, s pull.Source) (string, error) {
			m, err := s.Manifest(ctx, repo, ref(e))
			if err != nil {
				return "", err
			}
			return m.Digest.String(), nil
		}
	}
}

func statBlob(repo repository.Name, d func(*offlineEnv) digest.Digest) func(*offlineEnv) offlineOp {
	return func(e *offlineEnv) offlineOp {
		return func(ctx context.Context, s pull.Source) (string, error) {
			size, err := s.StatBlob(ctx, repo, d(e))
			return fmt.Sprint(size), err
		}
	}
}

func getBlob(repo repository.Name, d func(*offlineEnv) digest.Digest) func(*offlineEnv) offlineOp {
	return func(e *offlineEnv) offlineOp {
		return func(ctx context.Context, s pull.Source) (string, error) {
			b, err := s.Blob(ctx, repo, d(e))
			if err != nil {
				return "", err
			}
			defer b.Close()
			content, err := io.ReadAll(b.Content)
			return string(content), err
		}
	}
}

func listTags(repo repository.Name) func(*offlineEnv) offlineOp {
	return func(e *offlineEnv) offlineOp {
		return func(ctx context.Context, s pull.Source) (string, error) {
			tags, err := s.Tags(ctx, repo)
			return strings.Join(tags, ","), err
		}
	}
}

func listReferrers(repo repository.Name, d func(*offlineEnv) digest.Digest) func(*offlineEnv) offlineOp {
	return func(e *offlineEnv) offlineOp {
		return func(ctx context.Context, s pull.Source) (string, error) {
			descs, err := s.Referrers(ctx, repo, d(e))
			var out []string
			for _, desc := range descs {
				out = append(out, desc.Digest.String())
			}
			return strings.Join(out, ","), err
		}
	}
}

func ref(s string) func(*offlineEnv) string { return func(*offlineEnv) string { return s } }

func TestOffline(t *testing.T) {
	var (
		cached     = func(e *offlineEnv) digest.Digest { return e.cached }
		fresh      = func(e *offlineEnv) digest.Digest { return e.fresh }
		cachedBlob = func(e *offlineEnv) digest.Digest { return e.cachedBlob }
		localBlob  = func(e *offlineEnv) digest.Digest { return e.localBlob }
		upBlob     = func(e *offlineEnv) digest.Digest { return e.upBlob }
		digestOf   = func(d func(*offlineEnv) digest.Digest) func(*offlineEnv) string {
			return func(e *offlineEnv) string { return d(e).String() }
		}
		localV1     = func(e *offlineEnv) string { return digest.FromBytes(testManifest(2)).String() }
		fleetStored = func(e *offlineEnv) string { return e.fleetStored.String() }
	)
	tests := []struct {
		name    string
		expired bool
		op      func(*offlineEnv) offlineOp
		// want is the answer, or err the refusal.
		want func(*offlineEnv) string
		err  *oci.Error
		// next says whether the call reaches the puller.
		next bool
	}{
		// Policy in force: everything is the puller's.
		{name: "in force: mirrored tag revalidated upstream", op: getManifest(offMirrored, ref("3.20")), want: digestOf(cached), next: true},
		{name: "in force: mirrored tag fetched", op: getManifest(offMirrored, ref("edge")), want: digestOf(fresh), next: true},
		{name: "in force: mirrored digest fetched", op: getManifest(offMirrored, digestOf(fresh)), want: digestOf(fresh), next: true},
		{name: "in force: repository never read", op: getManifest(offBare, ref("latest")), want: func(e *offlineEnv) string { return e.bareLatest.String() }, next: true},
		{name: "in force: blob stat from upstream", op: statBlob(offMirrored, upBlob), want: ref("13"), next: true},
		{name: "in force: blob from upstream", op: getBlob(offMirrored, upBlob), want: ref("upstream blob"), next: true},
		{name: "in force: tags from upstream", op: listTags(offMirrored), want: ref("3.20,edge"), next: true},
		{name: "in force: referrers from upstream", op: listReferrers(offMirrored, cached), want: func(e *offlineEnv) string { return e.upRef.Digest.String() }, next: true},
		{name: "in force: fleet tag from peers", op: getManifest(offFleet, ref("v2")), want: func(e *offlineEnv) string { return e.fleetPeer.String() }, next: true},

		// Expired, mirrored: the store only, and the puller never asked.
		{name: "expired: mirrored tag stored", expired: true, op: getManifest(offMirrored, ref("3.20")), want: digestOf(cached)},
		{name: "expired: mirrored digest stored", expired: true, op: getManifest(offMirrored, digestOf(cached)), want: digestOf(cached)},
		{name: "expired: mirrored tag not stored", expired: true, op: getManifest(offMirrored, ref("edge")), err: ErrPolicyExpired},
		{name: "expired: mirrored digest not stored", expired: true, op: getManifest(offMirrored, digestOf(fresh)), err: ErrPolicyExpired},
		{name: "expired: stored tag whose manifest is gone", expired: true, op: getManifest(offMirrored, ref("dangling")), err: ErrPolicyExpired},
		{name: "expired: repository never read", expired: true, op: getManifest(offBare, ref("latest")), err: ErrPolicyExpired},
		{name: "expired: stored manifest is per repository", expired: true, op: getManifest(offBare, digestOf(cached)), err: ErrPolicyExpired},
		{name: "expired: blob stat stored", expired: true, op: statBlob(offMirrored, cachedBlob), want: ref("11")},
		{name: "expired: blob stat of any repository's blob", expired: true, op: statBlob(offBare, localBlob), want: ref("10")},
		{name: "expired: blob stat not stored", expired: true, op: statBlob(offMirrored, upBlob), err: ErrPolicyExpired},
		{name: "expired: blob stored", expired: true, op: getBlob(offMirrored, cachedBlob), want: ref("cached blob")},
		{name: "expired: blob not stored", expired: true, op: getBlob(offMirrored, upBlob), err: ErrPolicyExpired},
		{name: "expired: mirrored tags from the store", expired: true, op: listTags(offMirrored), want: ref("3.20,dangling")},
		{name: "expired: mirrored tags of a repository never read", expired: true, op: listTags(offBare), err: ErrPolicyExpired},
		{name: "expired: mirrored referrers from the store", expired: true, op: listReferrers(offMirrored, cached), want: func(e *offlineEnv) string { return e.storedRef.Digest.String() }},
		{name: "expired: mirrored referrers the store lacks", expired: true, op: listReferrers(offMirrored, fresh), want: ref("")},

		// Expired, a fleet repository: its content leaves the node too.
		{name: "expired: fleet tag stored", expired: true, op: getManifest(offFleet, ref("v1")), want: fleetStored},
		{name: "expired: fleet tag only peers know", expired: true, op: getManifest(offFleet, ref("v2")), err: ErrPolicyExpired},
		{name: "expired: fleet blob stored", expired: true, op: getBlob(offFleet, cachedBlob), want: ref("cached blob")},
		{name: "expired: fleet blob not stored", expired: true, op: statBlob(offFleet, upBlob), err: ErrPolicyExpired},
		// Tags and referrers of a local repository are the store's anyway.
		{name: "expired: fleet tags pass through", expired: true, op: listTags(offFleet), want: ref("v1"), next: true},
		{name: "expired: fleet referrers pass through", expired: true, op: listReferrers(offFleet, cached), want: ref(""), next: true},

		// Expired, local: always the puller's.
		{name: "expired: local tag", expired: true, op: getManifest(offLocal, ref("v1")), want: localV1, next: true},
		{name: "expired: local digest", expired: true, op: getManifest(offLocal, localV1), want: localV1, next: true},
		{name: "expired: local blob", expired: true, op: getBlob(offLocal, localBlob), want: ref("local blob"), next: true},
		{name: "expired: local blob stat", expired: true, op: statBlob(offLocal, localBlob), want: ref("10"), next: true},
		{name: "expired: local tags", expired: true, op: listTags(offLocal), want: ref("v1"), next: true},
		{name: "expired: local referrers", expired: true, op: listReferrers(offLocal, cached), want: ref(""), next: true},
		// A stored blob not linked into the local repository is still
		// refused: the puller answers, not the offline store.
		{name: "expired: local blob not linked", expired: true, op: statBlob(offLocal, cachedBlob), err: oci.ErrBlobUnknown, next: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newOfflineEnv(t, tt.expired)
			got, err := tt.op(e)(context.Background(), e.src)
			if tt.err == nil {
				if err != nil {
					t.Fatalf("err = %v, want %q", err, tt.want(e))
				}
				if got != tt.want(e) {
					t.Errorf("got %q, want %q", got, tt.want(e))
				}
			} else if oe := ocitest.WantError(t, err, tt.err.Status, tt.err.Code); oe.Message != tt.err.Message {
				t.Errorf("message %q, want %q", oe.Message, tt.err.Message)
			}
			calls := e.next.Calls()
			if tt.next != (len(calls) == 1) || len(calls) > 1 {
				t.Errorf("calls reaching the puller: %q; want one: %v", calls, tt.next)
			}
			if tt.expired && e.left() {
				t.Errorf("the node left while expired: upstream %v, peers fetched %q, tags asked %q", e.up.Calls, e.peers.Fetched, e.peers.TagsAsked)
			}
		})
	}
}

// What the node fetched while its policy was in force is served once it
// expires, without the puller; a new policy brings the puller back.
func TestOfflineServesWhatWasFetched(t *testing.T) {
	ctx := context.Background()
	e := newOfflineEnv(t, false)
	m, err := e.src.Manifest(ctx, offMirrored, "edge")
	if err != nil || m.Digest != e.fresh {
		t.Fatalf("in force: %v, %v", m, err)
	}
	b, err := e.src.Blob(ctx, offMirrored, e.upBlob)
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, b)
	before := len(e.next.Calls())

	e.expired = true
	for _, ref := range []string{"edge", e.fresh.String()} {
		m, err := e.src.Manifest(ctx, offMirrored, ref)
		if err != nil || m.Digest != e.fresh || string(m.Bytes) != string(testManifest(4)) {
			t.Fatalf("expired, %s: %v, %v", ref, m, err)
		}
	}
	if size, err := e.src.StatBlob(ctx, offMirrored, e.upBlob); err != nil || size != int64(len("upstream blob")) {
		t.Fatalf("expired, stat: %d, %v", size, err)
	}
	b, err = e.src.Blob(ctx, offMirrored, e.upBlob)
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, b); got != "upstream blob" {
		t.Fatalf("expired, blob: %q", got)
	}
	if tags, err := e.src.Tags(ctx, offMirrored); err != nil || strings.Join(tags, ",") != "3.20,dangling,edge" {
		t.Fatalf("expired, tags: %q, %v", tags, err)
	}
	if calls := e.next.Calls(); len(calls) != before {
		t.Errorf("calls reaching the puller while expired: %q", calls[before:])
	}

	e.expired = false
	if _, err := e.src.Manifest(ctx, offBare, "latest"); err != nil {
		t.Fatalf("in force again: %v", err)
	}
	if n := e.next.count("Manifest"); n != 2 {
		t.Errorf("manifest calls reaching the puller = %d, want 2", n)
	}
}

// Expired is only asked about repositories whose reads would leave the
// node; ErrPolicyExpired is what a client sees.
func TestOfflineAsksExpiredOnlyForRemote(t *testing.T) {
	asked := 0
	next := &recorder{Next: newMemSource()}
	o := Offline{
		Next: next, Store: pulltest.NewStore(),
		Remote:  func(r repository.Name) bool { return r.Mirrored() },
		Expired: func() bool { asked++; return true },
	}
	ctx := context.Background()
	_, _ = o.Manifest(ctx, offLocal, "v1")
	_, _ = o.StatBlob(ctx, offLocal, digest.FromString("x"))
	_, _ = o.Blob(ctx, offLocal, digest.FromString("x"))
	if asked != 0 {
		t.Errorf("Expired asked %d times for a local repository", asked)
	}
	if len(next.Calls()) != 3 {
		t.Errorf("calls reaching Next: %q", next.Calls())
	}
	if _, err := o.Manifest(ctx, offMirrored, "latest"); asked != 1 {
		t.Errorf("Expired asked %d times for a mirrored repository (%v)", asked, err)
	}

	if ErrPolicyExpired.Status != 403 || ErrPolicyExpired.Code != "DENIED" || !strings.Contains(ErrPolicyExpired.Message, "policy expired") {
		t.Errorf("ErrPolicyExpired = %d %s %q", ErrPolicyExpired.Status, ErrPolicyExpired.Code, ErrPolicyExpired.Message)
	}
}
