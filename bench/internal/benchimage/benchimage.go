// Package benchimage makes the images the benchmarks pull: random
// uncompressed tar layers, pushed to a registry.
package benchimage

import (
	"context"
	"fmt"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/shoal-dev/shoal/integration/harness"
)

// Layer is one layer of a pushed image.
type Layer struct {
	Digest string
	Size   int64
}

// Pushed is an image written to a registry.
type Pushed struct {
	Digest string
	Bytes  int64 // config + layers
	Layers []Layer
}

// Push makes an image of random uncompressed tar layers of sizes from
// seed and writes it to ref.
func Push(ctx context.Context, ref string, seed uint64, sizes ...int64) (Pushed, error) {
	img, err := harness.TarImage(v1.Platform{OS: "linux", Architecture: "amd64"}, seed, sizes...)
	if err != nil {
		return Pushed{}, err
	}
	d, err := img.Digest()
	if err != nil {
		return Pushed{}, err
	}
	m, err := img.Manifest()
	if err != nil {
		return Pushed{}, err
	}
	p := Pushed{Digest: d.String(), Bytes: m.Config.Size}
	for _, l := range m.Layers {
		p.Bytes += l.Size
		p.Layers = append(p.Layers, Layer{Digest: l.Digest.String(), Size: l.Size})
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	if err := harness.PushImage(pctx, ref, img); err != nil {
		return Pushed{}, fmt.Errorf("pushing %s: %w", ref, err)
	}
	return p, nil
}

// SplitSize splits total bytes into parts layer sizes.
func SplitSize(total int64, parts int) []int64 {
	out := make([]int64, parts)
	for i := range out {
		out[i] = total / int64(parts)
	}
	out[parts-1] += total % int64(parts)
	return out
}
