package node

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/opencontainers/go-digest"

	"github.com/shoal-dev/shoal/adminapi"
	"github.com/shoal-dev/shoal/internal/testfs"
	"github.com/shoal-dev/shoal/oci/upstream/upstreamtest"
)

// A node whose data dir is on a 96 MiB filesystem: images larger than
// what the filesystem has free beside the metadata's headroom
// (docs/storage.md) still pull, by pass-through, checked by digest; the
// node says it is degraded and why; it stores again once a blob fits,
// eviction makes room for new content on a filled filesystem, and the
// default watermark keeps the filesystem below its high mark.
func TestFullDisk(t *testing.T) {
	fsDir := testfs.Small(t, 96<<20)
	up := newCountingUpstream(t)
	push := func(repo string, layerSize int64, layers int64) {
		t.Helper()
		pushRandomImage(t, up.URL, repo, layerSize, layers)
	}
	n, err := New(Config{
		DataDir:            fsDir + "/data",
		Upstreams:          upstreamtest.Rules(t, "up="+up.URL),
		TagTTL:             time.Minute,
		CacheHighWatermark: 0.85,
		CacheLowWatermark:  0.80,
	}, "test")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(n.Handler())
	t.Cleanup(func() { srv.Close(); n.Close() })

	pullImage := func(repo string) []v1.Hash {
		t.Helper()
		r, _ := name.ParseReference(strings.TrimPrefix(srv.URL, "http://")+"/up/"+repo+":v1", name.Insecure)
		img, err := remote.Image(r)
		if err != nil {
			t.Fatalf("pull %s: %v", repo, err)
		}
		layers, err := img.Layers()
		if err != nil {
			t.Fatal(err)
		}
		var ds []v1.Hash
		for _, l := range layers {
			want, _ := l.Digest()
			rc, err := l.Compressed()
			if err != nil {
				t.Fatalf("pull %s layer %s: %v", repo, want, err)
			}
			dg := digest.Canonical.Digester()
			_, err = io.Copy(dg.Hash(), rc)
			rc.Close()
			if err != nil {
				t.Fatalf("pull %s layer %s: %v", repo, want, err)
			}
			if got := dg.Digest().String(); got != want.String() {
				t.Fatalf("pull %s: layer %s arrived as %s", repo, want, got)
			}
			ds = append(ds, want)
		}
		return ds
	}
	stored := func(h v1.Hash) bool {
		_, err := n.store.StatBlob(digest.Digest(h.String()))
		return err == nil
	}
	// A fetch is committed a moment after its reader has read the last
	// byte: wait (boundedly) for that.
	waitStored := func(h v1.Hash) bool {
		for range 500 {
			if stored(h) {
				return true
			}
			time.Sleep(10 * time.Millisecond)
		}
		return false
	}
	readyz := func() (int, string) {
		t.Helper()
		resp, err := http.Get(srv.URL + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	usedRatio := func() float64 {
		fs, _, _, ok := n.store.Space()
		if !ok {
			t.Fatal("the filesystem cannot be measured")
		}
		return fs.UsedRatio()
	}

	// A 64 MiB layer on a 96 MiB filesystem, of which badger's files,
	// the reserve file and the headroom take more than 32: passed
	// through.
	push("big", 64<<20, 1)
	for _, l := range pullImage("big") {
		if stored(l) {
			t.Errorf("layer %s is stored on a filesystem smaller than it", l)
		}
	}
	st := n.Status()
	if st.Cache.State != adminapi.CacheDegraded || !strings.Contains(st.Cache.Reason, "free") {
		t.Fatalf("status after pass-through: state %q, reason %q", st.Cache.State, st.Cache.Reason)
	}
	if st.Cache.Filesystem == nil || st.Cache.Filesystem.HighWatermarkPercent != 85 {
		t.Fatalf("status filesystem: %+v", st.Cache.Filesystem)
	}
	if code, body := readyz(); code != http.StatusOK || !strings.Contains(body, "degraded") {
		t.Fatalf("/readyz while degraded: %d %q", code, body)
	}

	// A small image fits: stored, and the node is no longer degraded.
	push("small-a", 2<<20, 3)
	layersA := pullImage("small-a")
	for _, l := range layersA {
		if !waitStored(l) {
			t.Errorf("layer %s of an image that fits is not stored", l)
		}
	}
	if st := n.Status(); st.Cache.State != adminapi.CacheOK {
		t.Fatalf("status after a stored pull: %q %q", st.Cache.State, st.Cache.Reason)
	}
	if code, body := readyz(); code != http.StatusOK || body != "ok\n" {
		t.Fatalf("/readyz after recovery: %d %q", code, body)
	}

	// Another writer fills the filesystem to 78%: the next image takes it
	// past the high watermark, eviction of the older mirrored layers
	// makes room, and the space is used for the new ones.
	fs, _, _, _ := n.store.Space()
	fill := int64(0.78*float64(fs.Used+fs.Avail)) - fs.Used
	if fill <= 0 {
		t.Fatalf("the filesystem is already %.1f%% used", 100*fs.UsedRatio())
	}
	filler := testfs.Fill(t, fsDir, fill)
	push("small-b", 2<<20, 3)
	for _, l := range pullImage("small-b") {
		if !waitStored(l) {
			st := n.Status()
			t.Errorf("layer %s is not stored though eviction could make room (state %q: %s; filesystem %+v)", l, st.Cache.State, st.Cache.Reason, *st.Cache.Filesystem)
		}
	}
	evicted := 0
	for _, l := range layersA {
		if !stored(l) {
			evicted++
		}
	}
	if evicted == 0 {
		t.Error("no older layer was evicted to make room")
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}

	// The filesystem keeps filling with pulls: the high watermark holds.
	for i := range 6 {
		repo := "fill-" + string(rune('a'+i))
		push(repo, 1<<20, 3)
		for _, l := range pullImage(repo) {
			waitStored(l)
		}
		// Eviction follows each commit: wait (boundedly) for it to
		// settle, then the filesystem must be below the mark.
		r := usedRatio()
		for i := 0; i < 200 && r > 0.85; i++ {
			time.Sleep(10 * time.Millisecond)
			r = usedRatio()
		}
		if r > 0.85 {
			t.Fatalf("after pulling %s the filesystem is %.1f%% used, above the 85%% high watermark", repo, 100*r)
		}
	}
}

// pushRandomImage pushes a random image of layers layers of layerSize
// bytes to the registry at url as repo:v1, and returns its digest.
func pushRandomImage(t *testing.T, url, repo string, layerSize, layers int64) v1.Hash {
	t.Helper()
	d, err := pushedRandomImage(t, url, repo, layerSize, layers).Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// pushedRandomImage is pushRandomImage's image itself.
func pushedRandomImage(t *testing.T, url, repo string, layerSize, layers int64) v1.Image {
	t.Helper()
	img, err := random.Image(layerSize, layers)
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := name.ParseReference(strings.TrimPrefix(url, "http://")+"/"+repo+":v1", name.Insecure)
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	return img
}
