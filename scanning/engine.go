package scanning

import (
	"context"
	"io"

	"github.com/opencontainers/go-digest"

	"github.com/shoal-dev/shoal/scan"
	"github.com/shoal-dev/shoal/scan/inventory"
	"github.com/shoal-dev/shoal/scan/vulndb"
)

// defaultScanEngine wires scan/inventory and scan/vulndb into the node.
func defaultScanEngine() scanEngine {
	return scanEngine{
		decode: func(r io.Reader) (vulnDatabase, error) {
			db, err := vulndb.Decode(r)
			if err != nil {
				return nil, err
			}
			return db, nil
		},
		inventory: func(ctx context.Context, platform string, layers []func() (io.ReadCloser, error)) (*scan.Inventory, error) {
			ls := make([]inventory.Layer, len(layers))
			for i, l := range layers {
				ls[i] = l
			}
			return inventory.Scan(ctx, platform, ls)
		},
		sbom: func(inv *scan.Inventory, image digest.Digest) ([]byte, error) {
			return inventory.CycloneDX(inv, image)
		},
	}
}
