package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// clearScreen moves the cursor home and clears the terminal, so that a
// --watch snapshot replaces the one before.
const clearScreen = "\x1b[H\x1b[2J"

// statusOptions are the flags of `shoal status`.
type statusOptions struct {
	watch    bool
	interval time.Duration
	count    int
	format   string
	// terminal says stdout is a terminal: --watch redraws in place.
	terminal bool
}

func newStatusCommand() *cobra.Command {
	var nodeURL string
	opts := statusOptions{}
	cmd := &cobra.Command{
		Use:   "status [--node URL] [--watch [--interval D] [--count N]] [--format table|json]",
		Short: "Show a node's state, its fleet, its images and its policy",
		Long: `Status shows what a node reports about itself: its version, uptime,
store size against its limit, store state, where the blob bytes it
handled came from (store, peers, upstream) and the upstream traffic it
saved; the peers it knows (connected now or seen in the last day: when
last seen, and the store size, blob count and version each told); the
images it lists to this caller, with their scan results and the node's
last signature check (the node verifies signatures, this command does
not); and the policy in force: version, network, expiry, signers,
membership.

It reads GET /shoal/v1/status and GET /metrics, which are open to every
caller, and lists images through the registry API (/v2/_catalog, tag
lists, manifests) with the docker credentials stored for the node's host
(docker login), so under a policy it shows the images this caller may
list. Scan results come from GET /shoal/v1/scans/<digest>, signature
checks from GET /shoal/v1/signatures/<digest>, and the peers from the
status document, which lists them to admins only. A fact the
node does not report shows as "-". docs/status.md says how each figure
is worked out.

With --watch it refreshes every --interval until interrupted: on a
terminal it redraws in place; otherwise it prints one snapshot after
another, separated by a blank line.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			switch opts.format {
			case "table", "json":
			default:
				return fmt.Errorf("--format %q: want table or json", opts.format)
			}
			if opts.interval <= 0 {
				return fmt.Errorf("--interval %s: want a positive duration", opts.interval)
			}
			if opts.count < 0 {
				return fmt.Errorf("--count %d: want 0 (no limit) or more", opts.count)
			}
			if opts.count > 0 && !opts.watch {
				return errors.New("--count needs --watch")
			}
			api, err := nodeClient(nodeURL)
			if err != nil {
				return err
			}
			defer api.CloseIdleConnections()
			out := cmd.OutOrStdout()
			if f, ok := out.(*os.File); ok {
				opts.terminal = term.IsTerminal(int(f.Fd()))
			}
			ctx, stop := interruptible(cmd.Context())
			defer stop()
			src := statusSource{api: api, images: newRegistryImages(api.BaseURL(), api), now: time.Now}
			return runStatus(ctx, src, opts, out)
		},
	}
	cmd.Flags().StringVar(&nodeURL, "node", defaultNodeURL, "base URL of the node")
	cmd.Flags().BoolVarP(&opts.watch, "watch", "w", false, "refresh until interrupted")
	cmd.Flags().DurationVar(&opts.interval, "interval", 2*time.Second, "time between refreshes with --watch")
	cmd.Flags().IntVar(&opts.count, "count", 0, "with --watch, stop after this many refreshes (0: no limit)")
	cmd.Flags().StringVar(&opts.format, "format", "table", "output format: table, or json (the facts gathered, one document a snapshot)")
	return cmd
}

// runStatus prints one snapshot, or with opts.watch one every
// opts.interval until ctx ends or opts.count snapshots are printed.
// While watching, a snapshot that fails is shown and the next is tried;
// the command fails when the last one did.
func runStatus(ctx context.Context, src statusSource, opts statusOptions, w io.Writer) error {
	if !opts.watch {
		f, err := src.gather(ctx)
		if err != nil {
			return err
		}
		return writeStatus(w, f, opts.format)
	}
	tick := time.NewTicker(opts.interval)
	defer tick.Stop()
	for n := 1; ; n++ {
		f, err := src.gather(ctx)
		if ctx.Err() != nil {
			return nil
		}
		switch {
		case opts.terminal:
			io.WriteString(w, clearScreen)
		case n > 1:
			fmt.Fprintln(w)
		}
		if err == nil {
			err = writeStatus(w, f, opts.format)
		} else {
			fmt.Fprintf(w, "%s: %v\n", time.Now().UTC().Format(time.RFC3339), err)
		}
		if opts.count > 0 && n >= opts.count {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

func writeStatus(w io.Writer, f *nodeFacts, format string) error {
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(f)
	}
	return writeStatusTables(w, f)
}
