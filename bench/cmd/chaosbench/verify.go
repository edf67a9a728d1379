package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/shoal-dev/shoal/bench/internal/benchrun"
	"github.com/shoal-dev/shoal/integration/harness"
)

// finalResult is what the checks after the chaos found.
type finalResult struct {
	notReady     []string
	peersErr     string
	blobFiles    int
	blobBytes    int64
	badBlobs     []string // files whose content is not their name's digest
	pushedOwn    int      // pushed images pulled through the node they were pushed to
	pushedOther  int      // … and through the next node
	lostOwn      []string
	lostOther    []string
	upstreamOK   int
	upstreamFail []string
	retried      int // pulls that failed once or twice before passing
	wrong        []string
}

func finalChecks(ctx context.Context, c *chaosFleet, ups, pushed []image, hc *http.Client) finalResult {
	var r finalResult
	// One bound for the fleet to come back: readiness, then peers.
	wctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	for i, n := range c.f.Nodes {
		// Published ports move when a container starts or reconnects.
		if _, err := c.refreshAddr(wctx, i); err != nil {
			r.notReady = append(r.notReady, fmt.Sprintf("%s: %v", n.Short, err))
			continue
		}
		if err := harness.WaitHTTP(wctx, nil, "http://"+c.view(i).addr+"/readyz", http.StatusOK); err != nil {
			r.notReady = append(r.notReady, fmt.Sprintf("%s: %v", n.Short, err))
		}
	}
	if left := time.Until(deadlineOf(wctx)); left > 0 {
		if err := harness.WaitPeers(wctx, c.f.Nodes, len(c.f.Nodes)-1, left); err != nil {
			r.peersErr = err.Error()
		}
	}
	benchrun.Logf("final: %d nodes not ready; peers: %s", len(r.notReady), orOK(r.peersErr))
	for i, dir := range c.dirs {
		r.rehash(fmt.Sprintf("n%d", i), filepath.Join(dir, "store", "blobs"))
	}
	benchrun.Logf("re-hashed %d blob files (%d MiB): %d bad", r.blobFiles, r.blobBytes/mib, len(r.badBlobs))
	n := len(c.f.Nodes)
	for _, im := range pushed {
		if err := r.pullRetry(ctx, hc, c.view(im.node).addr, im); err != nil {
			r.lostOwn = append(r.lostOwn, fmt.Sprintf("%s through n%d (pushed there): %v", im, im.node, err))
		} else {
			r.pushedOwn++
		}
		other := (im.node + 1) % n
		if err := r.pullRetry(ctx, hc, c.view(other).addr, im); err != nil {
			r.lostOther = append(r.lostOther, fmt.Sprintf("%s through n%d (pushed to n%d): %v", im, other, im.node, err))
		} else {
			r.pushedOther++
		}
	}
	for _, im := range ups {
		for i := range n {
			if err := r.pullRetry(ctx, hc, c.view(i).addr, im); err != nil {
				r.upstreamFail = append(r.upstreamFail, fmt.Sprintf("%s through n%d: %v", im, i, err))
			} else {
				r.upstreamOK++
			}
		}
	}
	benchrun.Logf("final pulls: pushed images %d/%d through their node, %d/%d through another; upstream images %d/%d",
		r.pushedOwn, len(pushed), r.pushedOther, len(pushed), r.upstreamOK, len(ups)*n)
	return r
}

// pullRetry pulls im, up to twice a second apart: a fleet just
// healed may still be finding its peers. Wrong bytes are never retried.
func (r *finalResult) pullRetry(ctx context.Context, hc *http.Client, addr string, im image) error {
	var err error
	for attempt := range 2 {
		pctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		err = pull(pctx, hc, addr, im)
		cancel()
		if err == nil {
			if attempt > 0 {
				r.retried++
			}
			return nil
		}
		if pe, ok := err.(*pullError); ok && pe.wrong {
			r.wrong = append(r.wrong, err.Error())
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Second):
		}
	}
	return err
}

// rehash hashes every file under a node's store/blobs/<alg>/<ab>/<hex>
// and checks it against its name.
func (r *finalResult) rehash(node, root string) {
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		alg := filepath.Dir(filepath.Dir(rel))
		want := alg + ":" + d.Name()
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		h := sha256.New()
		n, err := io.Copy(h, f)
		if err != nil {
			return err
		}
		r.blobFiles++
		r.blobBytes += n
		if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); alg != "sha256" || got != want {
			r.badBlobs = append(r.badBlobs, fmt.Sprintf("%s %s: content hashes to %s", node, rel, got))
		}
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		r.badBlobs = append(r.badBlobs, fmt.Sprintf("%s: walking %s: %v", node, root, err))
	}
}

func deadlineOf(ctx context.Context) time.Time {
	d, _ := ctx.Deadline()
	return d
}

func orOK(s string) string {
	if s == "" {
		return "every node sees every other"
	}
	return s
}
