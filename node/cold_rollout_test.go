package node

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// slowWriter sends a response at about rate bytes a second, counting
// what it sent: an upstream whose blob bodies take a while, so that a
// node designated for two layers is still reading the first when it is
// asked for the second.
type slowWriter struct {
	http.ResponseWriter
	n    *atomic.Int64
	rate int
}

func (w slowWriter) Write(b []byte) (int, error) {
	sent := 0
	for len(b) > 0 {
		k := min(len(b), w.rate/20)
		n, err := w.ResponseWriter.Write(b[:k])
		sent += n
		w.n.Add(int64(n))
		if err != nil {
			return sent, err
		}
		b = b[k:]
		if f, ok := w.ResponseWriter.(http.Flusher); ok {
			f.Flush()
		}
		time.Sleep(50 * time.Millisecond)
	}
	return sent, nil
}

// A cold rollout: every node of a fleet pulls every layer of an image at
// once, from an upstream that sends each blob body at 4 MB/s. The fleet
// reads each blob from upstream once, whichever node brings it in (a
// node designated for two layers hands one on), and every pull gets the
// right content.
func TestColdRolloutReadsEachBlobOnce(t *testing.T) {
	var blobBytes atomic.Int64
	var mu sync.Mutex
	gets := map[string]int{} // blob body GETs by path
	reg := quietRegistry()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/") {
			mu.Lock()
			gets[r.URL.Path]++
			mu.Unlock()
			w = slowWriter{w, &blobBytes, 4 << 20}
		}
		reg.ServeHTTP(w, r)
	}))
	t.Cleanup(up.Close)
	pushRandomImage(t, up.URL, "app/img", 3<<20, 4)
	blobBytes.Store(0)
	mu.Lock()
	clear(gets)
	mu.Unlock()
	logged := func(i int) func(c *Config) {
		return func(c *Config) {
			if os.Getenv("SHOAL_TEST_LOG") != "" {
				c.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("node", i)
			}
		}
	}
	const n = 6
	var nodes []*Node
	var srvs []*httptest.Server
	for i := range n {
		var boot []string
		if i > 0 {
			boot = nodes[0].p2p.Addrs()
		}
		nd, srv := startFleetNode(t, up.URL, boot, logged(i))
		nodes, srvs = append(nodes, nd), append(srvs, srv)
	}
	deadline := time.Now().Add(20 * time.Second)
	for _, nd := range nodes {
		for nd.p2p.Peers() < n-1 {
			if time.Now().After(deadline) {
				t.Fatalf("the fleet did not mesh: a node has %d peers of %d", nd.p2p.Peers(), n-1)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	var size int64 // the layers' bytes
	var wg sync.WaitGroup
	for k, srv := range srvs {
		ls, err := imageThrough(t, srv, "up/app/img:v1").Layers()
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range ls {
			if k == 0 {
				s, err := l.Size()
				if err != nil {
					t.Fatal(err)
				}
				size += s
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := readLayer(l); err != nil {
					t.Error(err)
				}
			}()
		}
	}
	wg.Wait()
	mu.Lock()
	for path, n := range gets {
		if n > 1 {
			t.Errorf("upstream was asked for %s %d times, want once", path, n)
		}
	}
	mu.Unlock()
	if got := blobBytes.Load(); float64(got) > 1.05*float64(size)+64<<10 {
		t.Fatalf("upstream sent %d blob bytes for an image of %d in layers: %.2f copies, want 1", got, size, float64(got)/float64(size))
	}
}
