// Command pushfixture pushes a small pseudo-random OCI image to a registry
// and prints its digests as shell assignments, for scripts that need known
// content upstream (the conformance read-only recipe):
//
//	MANIFEST=sha256:… CONFIG=sha256:… LAYERS='sha256:… sha256:…'
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/shoal-dev/shoal/integration/harness"
)

func main() {
	ref := flag.String("ref", "", "where to push, e.g. 127.0.0.1:5000/conf/repo1:ro1 (plain HTTP)")
	layers := flag.Int("layers", 2, "number of layers")
	size := flag.Int64("size", 64<<10, "bytes of file data per layer")
	seed := flag.Uint64("seed", 1, "content seed")
	flag.Parse()
	if *ref == "" {
		fmt.Fprintln(os.Stderr, "usage: pushfixture --ref HOST:PORT/REPO:TAG [--layers N] [--size BYTES] [--seed N]")
		os.Exit(2)
	}
	if err := run(*ref, *layers, *size, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "pushfixture:", err)
		os.Exit(1)
	}
}

func run(ref string, layers int, size int64, seed uint64) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sizes := make([]int64, layers)
	for i := range sizes {
		sizes[i] = size
	}
	img, err := harness.TarImage(v1.Platform{OS: "linux", Architecture: "amd64"}, seed, sizes...)
	if err != nil {
		return err
	}
	if err := harness.PushImage(ctx, ref, img); err != nil {
		return err
	}
	md, err := img.Digest()
	if err != nil {
		return err
	}
	blobs, err := harness.ImageBlobs(img)
	if err != nil {
		return err
	}
	var ls []string
	for _, b := range blobs[1:] {
		ls = append(ls, b.Digest.String())
	}
	fmt.Printf("MANIFEST=%s\nCONFIG=%s\nLAYERS='%s'\n", md, blobs[0].Digest, strings.Join(ls, " "))
	return nil
}
