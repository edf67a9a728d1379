package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/shoal-dev/shoal/integration/harness"
)

// newClient is one runtime's HTTP client: its own connection pool, no
// overall timeout (the context bounds each pull).
func newClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		MaxIdleConnsPerHost:   64,
		DisableCompression:    true,
		ResponseHeaderTimeout: 2 * time.Minute,
	}}
}

// pullResult is one image pull as a runtime does it.
type pullResult struct {
	Dur   time.Duration
	Bytes int64 // blob bytes read (manifest excluded)
	Err   error
}

type descriptor struct {
	Digest string `json:"digest"`
	Size   int64  `json:"size"`
}

type manifest struct {
	Config descriptor   `json:"config"`
	Layers []descriptor `json:"layers"`
}

// pullImage GETs base/v2/repo/manifests/tag, checks it is manifest
// wantDigest, then GETs the config and every layer at once, reading each
// to the end and checking its digest and size, as containerd does with
// unlimited concurrency.
func pullImage(ctx context.Context, c *http.Client, base, repo, tag, wantDigest string) pullResult {
	start := time.Now()
	res := pullResult{}
	body, err := get(ctx, c, fmt.Sprintf("%s/v2/%s/manifests/%s", base, repo, tag), harness.ManifestAccept, 4<<20)
	if err != nil {
		res.Err = fmt.Errorf("manifest: %w", err)
		return res
	}
	if got := harness.SHA256(body); wantDigest != "" && got != wantDigest {
		res.Err = fmt.Errorf("manifest is %s, want %s", got, wantDigest)
		return res
	}
	var m manifest
	if err := json.Unmarshal(body, &m); err != nil {
		res.Err = fmt.Errorf("manifest: %w", err)
		return res
	}
	blobs := append([]descriptor{m.Config}, m.Layers...)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, b := range blobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, err := getBlob(ctx, c, fmt.Sprintf("%s/v2/%s/blobs/%s", base, repo, b.Digest), b.Digest, b.Size)
			mu.Lock()
			res.Bytes += n
			if err != nil {
				errs = append(errs, fmt.Errorf("blob %s: %w", b.Digest, err))
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	res.Dur = time.Since(start)
	res.Err = errors.Join(errs...)
	return res
}

func get(ctx context.Context, c *http.Client, url, accept string, limit int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", resp.Status, body)
	}
	return body, nil
}

// getBlob reads url to the end, checking the bytes against digest and,
// when size >= 0, their count.
func getBlob(ctx context.Context, c *http.Client, url, digest string, size int64) (int64, error) {
	n, _, err := getBlobTimed(ctx, c, url, digest, size)
	return n, err
}

// getBlobTimed is getBlob that also says how long the response headers
// took (for a node that must first find the blob, its lookup time).
func getBlobTimed(ctx context.Context, c *http.Client, url, digest string, size int64) (n int64, ttfb time.Duration, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, 0, err
	}
	start := time.Now()
	resp, err := c.Do(req)
	ttfb = time.Since(start)
	if err != nil {
		return 0, ttfb, err
	}
	n, err = readBlob(resp, digest, size)
	return n, ttfb, err
}

func readBlob(resp *http.Response, digest string, size int64) (int64, error) {
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return 0, fmt.Errorf("%s: %s", resp.Status, msg)
	}
	h := sha256.New()
	buf := make([]byte, 256<<10)
	n, err := io.CopyBuffer(h, resp.Body, buf)
	if err != nil {
		return n, fmt.Errorf("after %d bytes: %w", n, err)
	}
	if size >= 0 && n != size {
		return n, fmt.Errorf("got %d bytes, want %d", n, size)
	}
	if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); got != digest {
		return n, fmt.Errorf("content is %s", got)
	}
	return n, nil
}

// pullAll starts one pull per base at the same moment and waits for all.
func pullAll(ctx context.Context, bases []string, repo, tag, wantDigest string) []pullResult {
	out := make([]pullResult, len(bases))
	clients := make([]*http.Client, len(bases))
	for i := range clients {
		clients[i] = newClient()
	}
	gate := make(chan struct{})
	var wg sync.WaitGroup
	for i, base := range bases {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-gate
			out[i] = pullImage(ctx, clients[i], base, repo, tag, wantDigest)
		}()
	}
	close(gate)
	wg.Wait()
	for _, c := range clients {
		c.CloseIdleConnections()
	}
	return out
}
