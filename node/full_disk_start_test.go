package node

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/adminapi"
	"github.com/shoal-dev/shoal/internal/testfs"
	"github.com/shoal-dev/shoal/oci/upstream/upstreamtest"
)

// A node started while another writer has filled its data dir's
// filesystem to the last block (issue 11: badger died of SIGBUS opening
// its logs): it starts, says it is degraded in its status and /readyz,
// serves the image it holds without asking upstream, passes new content
// through, and stores again by itself once the space is freed.
func TestStartOnFullDisk(t *testing.T) {
	fsDir := testfs.Small(t, 96<<20)
	up := newCountingUpstream(t)
	push := func(repo string) {
		t.Helper()
		pushRandomImage(t, up.URL, repo, 1<<20, 2)
	}
	cfg := Config{
		DataDir:   fsDir + "/data",
		Upstreams: upstreamtest.Rules(t, "up="+up.URL),
		TagTTL:    time.Hour,
	}
	pull := func(srv *httptest.Server, repo string) {
		t.Helper()
		pullImage(t, srv, "up/"+repo+":v1") // each layer checked against its digest
	}

	push("held")
	n, err := New(cfg, "test")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(n.Handler())
	pull(srv, "held")
	// The store commits what it fetched just after the client has its
	// bytes: wait for the blob count to settle before closing, or a close
	// that cuts a commit short leaves a layer to fetch again (seen in CI).
	settled, last, stableSince := time.Now().Add(10*time.Second), -1, time.Now()
	for time.Now().Before(settled) {
		if b := n.Status().Cache.Blobs; b != last {
			last, stableSince = b, time.Now()
		} else if time.Since(stableSince) > 500*time.Millisecond {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	srv.Close()
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}

	filler := testfs.FillAll(t, fsDir)
	n, err = New(cfg, "test")
	if err != nil {
		t.Fatalf("start on a full filesystem: %v", err)
	}
	srv = httptest.NewServer(n.Handler())
	t.Cleanup(func() { srv.Close(); n.Close() })
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
	if st := n.Status(); st.Cache.State != adminapi.CacheDegraded || !strings.Contains(st.Cache.Reason, "free") {
		t.Fatalf("status on a full filesystem: state %q, reason %q", st.Cache.State, st.Cache.Reason)
	}
	if code, body := readyz(); code != http.StatusOK || !strings.Contains(body, "degraded") {
		t.Fatalf("/readyz on a full filesystem: %d %q", code, body)
	}
	before := up.blobBytes.Load()
	pull(srv, "held")
	if got := up.blobBytes.Load() - before; got != 0 {
		t.Errorf("the held image took %d blob bytes from upstream: not served from the store", got)
	}
	push("new")
	pull(srv, "new") // passed through

	// Space freed: the space watcher (every 10 s) finds it and the node
	// stores again.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for n.Status().Cache.State != adminapi.CacheOK && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if st := n.Status(); st.Cache.State != adminapi.CacheOK {
		t.Fatalf("status after space was freed: state %q, reason %q", st.Cache.State, st.Cache.Reason)
	}
	if code, body := readyz(); code != http.StatusOK || body != "ok\n" {
		t.Fatalf("/readyz after space was freed: %d %q", code, body)
	}
	push("later")
	pull(srv, "later")
	before = up.blobBytes.Load()
	pull(srv, "later")
	if got := up.blobBytes.Load() - before; got != 0 {
		t.Errorf("an image pulled after recovery was not stored: %d blob bytes from upstream again", got)
	}
}
