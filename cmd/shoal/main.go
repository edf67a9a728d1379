// Command shoal is a peer-to-peer, pull-through caching OCI registry.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

func main() {
	if err := newRootCommand().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "shoal:", err)
		os.Exit(1)
	}
}

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "shoal",
		Short:         "A peer-to-peer, pull-through caching OCI registry",
		Long:          "Shoal runs one registry node per machine. Each node answers pulls from its own store, then from its peers, then from upstream registries, and checks everything it takes in against its digest.",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newNodeCommand(), newVersionCommand(), newContainerdConfigCommand(), newImportCommand(), newExportCommand(), newPreloadCommand(), newPolicyCommand(), newScanCommand(), newStatusCommand())
	return root
}
