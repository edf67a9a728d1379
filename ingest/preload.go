package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
	"golang.org/x/sync/errgroup"

	"github.com/shoal-dev/shoal/adminapi"
	"github.com/shoal-dev/shoal/archive"
	"github.com/shoal-dev/shoal/oci"
	"github.com/shoal-dev/shoal/repository"
)

const (
	maxPreloadRequestBytes = 1 << 20
	maxPreloadRefs         = 1000
	// preloadConcurrency is how many blobs of one image are fetched at
	// once. It was 3, as docker's and containerd's pulls: in a fleet
	// that preloads an image everywhere at once, every node then began
	// the fourth layer together, after the first three, its origin was
	// asked for it only then, and the whole fleet waited on that one
	// blob coming in (links 11-37% used for the last 55 s of a 20-node
	// docker rollout of 64 MiB in 4 layers at 8 Mbit/s: 1.95x of no
	// sharing; with 8, 1.63x, bench/RESULTS.md). Each fetch holds at
	// most a window of pieces; the node's piece requests in flight are
	// bounded across fetches (swarm.NewIntake).
	preloadConcurrency = 8
)

// HandlePreload is POST /shoal/v1/preload: it fetches each ref's manifests and blobs through the node's
// own registry, as a client's pull would, so that caching, coalescing and
// peers apply. A ref that fails does not stop the others; the last line
// says how many failed.
func (in *Service) HandlePreload(w http.ResponseWriter, r *http.Request) {
	var req adminapi.PreloadRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxPreloadRequestBytes))
	if err := dec.Decode(&req); err != nil {
		oci.WriteError(w, &oci.Error{Status: http.StatusBadRequest, Code: "UNSUPPORTED", Message: "the body must be JSON: {\"refs\":[\"docker.io/library/alpine:3.20\", …]}", Detail: err.Error()})
		return
	}
	switch {
	case len(req.Refs) == 0:
		oci.WriteError(w, &oci.Error{Status: http.StatusBadRequest, Code: "UNSUPPORTED", Message: "refs is empty: name at least one image to preload"})
		return
	case len(req.Refs) > maxPreloadRefs:
		oci.WriteError(w, &oci.Error{Status: http.StatusBadRequest, Code: "UNSUPPORTED", Message: fmt.Sprintf("at most %d refs per request", maxPreloadRefs)})
		return
	}

	ctx := r.Context()
	start := time.Now()
	s := startImageStream(w)
	done := []adminapi.PreloadedImage{}
	failed := 0
	for _, ref := range req.Refs {
		img, err := in.preload(ctx, s, ref)
		if err != nil {
			failed++
			in.log.Warn("preload failed", "ref", ref, "err", err)
			s.send(refLine{Ref: ref, Error: describeImageError(err)})
			continue
		}
		done = append(done, img)
		s.send(refLine{Ref: ref, Digest: img.Digest})
	}
	final := preloadedLine{Preloaded: done}
	if failed > 0 {
		final.Error = fmt.Sprintf("%d of %d images could not be preloaded", failed, len(req.Refs))
	}
	in.log.Info("preloaded images", "images", len(done), "failed", failed, "duration", time.Since(start))
	s.send(final)
}

// describeImageError is err as a person reads it: an OCI error's message
// and detail without its code.
func describeImageError(err error) string {
	var oe *oci.Error
	if errors.As(err, &oe) {
		if oe.Detail != nil {
			return fmt.Sprintf("%s (%v)", oe.Message, oe.Detail)
		}
		return oe.Message
	}
	return err.Error()
}

// preload pulls one ref through the node's registry: its manifest, every
// child of an index, and every config and layer, read to the end.
func (in *Service) preload(ctx context.Context, s *imageStream, raw string) (adminapi.PreloadedImage, error) {
	ref, err := repository.ParseReference(raw)
	if err != nil {
		return adminapi.PreloadedImage{}, err
	}
	repo, err := in.cfg.Names.ForPull(ref.Name)
	if err != nil {
		return adminapi.PreloadedImage{}, err
	}
	reference := ref.Tag
	switch {
	case ref.Digest != "":
		reference = ref.Digest.String()
	case reference == "":
		reference = "latest"
	}
	reg := in.cfg.Source
	m, err := reg.GetManifest(ctx, repo, reference)
	if err != nil {
		return adminapi.PreloadedImage{}, err
	}
	if ref.Digest != "" && m.Digest != ref.Digest {
		return adminapi.PreloadedImage{}, fmt.Errorf("asked for %s, got manifest %s", ref.Digest, m.Digest)
	}
	p := &preloadWalk{in: in, reg: reg, repo: repo, s: s, seen: map[digest.Digest]bool{}}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(preloadConcurrency)
	if err := p.manifest(gctx, g, m, 0); err != nil {
		_ = g.Wait()
		return adminapi.PreloadedImage{}, err
	}
	if err := g.Wait(); err != nil {
		return adminapi.PreloadedImage{}, err
	}
	key := repo.Name
	if r, err := in.cfg.Names.Resolve(repo, false); err == nil {
		key = r.Key()
	}
	return adminapi.PreloadedImage{Ref: raw, Repo: key, Digest: m.Digest.String()}, nil
}

// preloadWalk fetches the content of one image.
type preloadWalk struct {
	in   *Service
	reg  Source
	repo oci.Repo
	s    *imageStream
	mu   sync.Mutex
	seen map[digest.Digest]bool
}

func (p *preloadWalk) first(d digest.Digest) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.seen[d] {
		return false
	}
	p.seen[d] = true
	return true
}

// manifest walks m: children one after the other (they are small), blobs
// on g.
func (p *preloadWalk) manifest(ctx context.Context, g *errgroup.Group, m *oci.Manifest, depth int) error {
	if depth > maxIndexDepth {
		return fmt.Errorf("indexes nested more than %d deep", maxIndexDepth)
	}
	info, err := oci.ParseManifest(m.MediaType, m.Bytes)
	if err != nil {
		return fmt.Errorf("manifest %s: %w", m.Digest, err)
	}
	for _, c := range info.Manifests {
		if !p.first(c.Digest) {
			continue
		}
		cm, err := p.reg.GetManifest(ctx, p.repo, c.Digest.String())
		if err != nil {
			return fmt.Errorf("manifest %s%s: %w", c.Digest, archive.PlatformSuffix(c.Platform), err)
		}
		if err := p.manifest(ctx, g, cm, depth+1); err != nil {
			return err
		}
	}
	for _, b := range info.Blobs {
		if oci.IsNonDistributable(b.MediaType) || !p.first(b.Digest) {
			continue
		}
		p.s.grow(b.Size)
		g.Go(func() error { return p.blob(ctx, b.Digest, b.Size) })
	}
	return nil
}

// blob fetches blob d through the registry and reads it to the end,
// which is what makes the node store a blob it streams from elsewhere.
// A blob already stored is opened (refreshing its last use) but not read.
func (p *preloadWalk) blob(ctx context.Context, d digest.Digest, size int64) error {
	_, statErr := p.in.store.StatBlob(d)
	b, err := p.reg.GetBlob(ctx, p.repo, d)
	if err != nil {
		return fmt.Errorf("blob %s: %w", d, err)
	}
	defer b.Close()
	if statErr == nil {
		p.s.advance(d.String(), size, true)
		return nil
	}
	read, err := io.Copy(io.Discard, blobProgress(ctx, p.s, d.String(), b.Content))
	if err != nil {
		return fmt.Errorf("blob %s: %w", d, err)
	}
	if read != b.Size {
		return fmt.Errorf("blob %s: got %d bytes, want %d", d, read, b.Size)
	}
	p.s.advance(d.String(), 0, true)
	return nil
}
