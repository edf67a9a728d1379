// Command catalogcost runs Shoal's inventory (scan/inventory.Scan) alone on
// an image given as layer blobs or directories, so that its wall time and
// peak RSS can be taken with /usr/bin/time -v beside syft's and
// osv-scalibr's on the same inputs (issue 12, bench/RESULTS.md). It prints
// the packages found per ecosystem.
//
//	catalogcost LAYER...
//
// A LAYER that is a file is a layer blob (tar, gzip or zstd, as Scan
// detects); a directory is streamed as one uncompressed tar layer, its
// symlinks kept as symlinks, so that the same unpacked tree syft and
// scalibr read can be given to Shoal.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/shoal-dev/shoal/internal/hosttar"
	"github.com/shoal-dev/shoal/scan/inventory"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: catalogcost LAYER...")
		os.Exit(2)
	}
	var layers []inventory.Layer
	for _, arg := range os.Args[1:] {
		info, err := os.Stat(arg)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		if info.IsDir() {
			layers = append(layers, dirLayer(arg))
		} else {
			path := arg
			layers = append(layers, func() (io.ReadCloser, error) { return os.Open(path) })
		}
	}
	inv, err := inventory.Scan(context.Background(), "linux/amd64", layers)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	per := make(map[string]int)
	for _, p := range inv.Packages {
		per[strings.SplitN(p.Ecosystem, ":", 2)[0]]++
	}
	keys := make([]string, 0, len(per))
	for k := range per {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fmt.Printf("total %d", len(inv.Packages))
	for _, k := range keys {
		fmt.Printf(" %s=%d", k, per[k])
	}
	fmt.Println()
}

// dirLayer streams the tree at root as a tar (hosttar.Reader).
func dirLayer(root string) inventory.Layer {
	return func() (io.ReadCloser, error) { return hosttar.Reader(hosttar.Path{Host: root}), nil }
}
