package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/adminapi"
	"github.com/shoal-dev/shoal/scan"
	"github.com/shoal-dev/shoal/scan/vulndb"
)

func newScanCommand() *cobra.Command {
	var nodeURL, format string
	var force bool
	cmd := &cobra.Command{
		Use:   "scan [--node URL] [--format table|json|sarif] REF",
		Short: "Scan an image for known vulnerabilities, or import a vulnerability database",
		Long: `Scan an image the node can serve against the node's vulnerability database
and print the signed report's contents. REF names a repository as the node
serves it, with a tag or digest: docker.io/library/alpine:3.20,
myteam/app@sha256:…. An index is scanned per platform manifest.

A trusted report the node already holds (its own, or a fleet peer's) is
printed without scanning again while it is fresh and was made against the
database in use; --force scans anyway.

The node needs a database first: see "shoal scan db import". Formats:
table (default), json (the report as the node returns it; for an index, an
object whose "reports" lists one per platform) and sarif (SARIF 2.1.0, for
code-scanning tools). See
docs/scanning.md.`,
		Example: `  shoal scan docker.io/library/alpine:3.10
  shoal scan --format sarif myteam/app:1.4 > app.sarif`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := nodeClient(nodeURL)
			if err != nil {
				return err
			}
			switch format {
			case "table", "json", "sarif":
			default:
				return fmt.Errorf("--format %q: want table, json or sarif", format)
			}
			ctx, stop := interruptible(cmd.Context())
			defer stop()
			res, err := requestScan(ctx, api, args[0], force)
			if err != nil {
				return err
			}
			return printScan(cmd.OutOrStdout(), res, format)
		},
	}
	cmd.Flags().StringVar(&nodeURL, "node", defaultNodeURL, "base URL of the node")
	cmd.Flags().StringVar(&format, "format", "table", "output format: table, json or sarif")
	cmd.Flags().BoolVar(&force, "force", false, "scan again even when a fresh trusted report is held")
	cmd.AddCommand(newScanDBCommand())
	return cmd
}

// requestScan asks the node to scan ref (POST /shoal/v1/scans).
func requestScan(ctx context.Context, api *adminapi.Client, ref string, force bool) (*adminapi.ScanResult, error) {
	res, err := api.Scan(ctx, ref, force)
	switch {
	case notSent(err):
		return nil, fmt.Errorf("asking %s to scan %s: %w", api.BaseURL().Redacted(), ref, err)
	case err != nil:
		return nil, fmt.Errorf("scan: %w", err)
	}
	return res, nil
}

func printScan(w io.Writer, res *adminapi.ScanResult, format string) error {
	reports := make([]*scan.Report, 0, len(res.Reports))
	for _, r := range res.Reports {
		reports = append(reports, r.Report)
	}
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if len(res.Reports) == 1 {
			return enc.Encode(res.Reports[0])
		}
		return enc.Encode(res)
	case "sarif":
		return scan.WriteSARIF(w, reports...)
	}
	for i, r := range res.Reports {
		if i > 0 {
			fmt.Fprintln(w)
		}
		if err := scan.WriteTable(w, r.Report); err != nil {
			return err
		}
		if r.DBAge != "" {
			fmt.Fprintf(w, "(database age %s)\n", r.DBAge)
		}
	}
	return nil
}

func newScanDBCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "db",
		Short: "Manage the node's vulnerability database",
	}
	cmd.AddCommand(newScanDBImportCommand())
	return cmd
}

func newScanDBImportCommand() *cobra.Command {
	var nodeURL string
	cmd := &cobra.Command{
		Use:   "import [--node URL] PATH…",
		Short: "Import OSV records or Alpine secdb files into a node",
		Long: `Read vulnerability records here, build the node's portable database from
them and send it to the node, which checks it, stores it as an OCI artifact
(shoal/vulndb:latest) signed with its key, loads it, and passes it on to its
fleet peers that trust it.

PATH is a directory of OSV records in JSON or YAML (walked; the PyPA
advisory database's vulns/ is YAML), an osv.dev per-ecosystem all.zip, a
.tar.gz of OSV records, a single record, or Alpine secdb YAML
(v3.10/main.yaml form); YAML is told apart by content. Every import replaces
the node's database: give all the sources at once. Nothing is fetched from
the network.`,
		Example: `  shoal scan db import ./alpine-secdb ./go-osv ./pypa-advisory-database/vulns
  shoal scan db import --node http://10.0.0.5:5000 Debian-all.zip`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := nodeClient(nodeURL)
			if err != nil {
				return err
			}
			ctx, stop := interruptible(cmd.Context())
			defer stop()
			return runDBImport(ctx, api, args, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	cmd.Flags().StringVar(&nodeURL, "node", defaultNodeURL, "base URL of the node")
	return cmd
}

func runDBImport(ctx context.Context, api *adminapi.Client, paths []string, stdout, stderr io.Writer) error {
	start := time.Now()
	db, err := vulndb.Import(paths...)
	if err != nil {
		return err
	}
	if db.Records() == 0 {
		return fmt.Errorf("no vulnerability records found in %v", paths)
	}
	for _, w := range db.Warnings() {
		fmt.Fprintln(stderr, "warning:", w)
	}
	fmt.Fprintf(stderr, "read %d records (newest modified %s) in %s\n", db.Records(), db.Updated().UTC().Format(time.RFC3339), time.Since(start).Round(10*time.Millisecond))
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(db.Encode(pw)) }()
	st, err := api.ImportDB(ctx, pr)
	pr.Close()
	switch {
	case notSent(err):
		return fmt.Errorf("sending the database to %s: %w", api.BaseURL().Redacted(), err)
	case err != nil:
		return fmt.Errorf("scan db import: %w", err)
	}
	fmt.Fprintf(stdout, "records %d\ndatabase %s\nupdated %s\nsigner %s\n", st.Records, st.Digest, st.Updated.Format(time.RFC3339), st.Signer)
	return nil
}
