package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/shoal-dev/shoal/adminapi"
	"github.com/shoal-dev/shoal/node"
)

func TestScanCommands(t *testing.T) {
	base := testNode(t, node.Config{})
	api := testClient(t, base)
	ctx := context.Background()

	// Before any database: the node's refusal is passed on.
	img, err := random.Image(512, 1)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(base.Host+"/team/app:1", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	if _, err := requestScan(ctx, api, "team/app:1", false); err == nil || !strings.Contains(err.Error(), "no vulnerability database") {
		t.Fatalf("scan without a database: %v", err)
	}

	var stdout, stderr bytes.Buffer
	secdb := filepath.Join("..", "..", "node", "testdata", "vulndata", "alpine-secdb")
	if err := runDBImport(ctx, api, []string{secdb}, &stdout, &stderr); err != nil {
		t.Fatalf("db import: %v\n%s", err, stderr.String())
	}
	if !strings.Contains(stdout.String(), "database sha256:") || !strings.Contains(stdout.String(), "records ") {
		t.Errorf("db import printed %q", stdout.String())
	}
	if err := runDBImport(ctx, api, []string{t.TempDir()}, &stdout, &stderr); err == nil {
		t.Error("importing an empty directory succeeded")
	}

	res, err := requestScan(ctx, api, "team/app:1", false)
	if err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	if res.Digest != d.String() || len(res.Reports) != 1 || res.Reports[0].Image.String() != d.String() {
		t.Fatalf("scan result = %+v", res)
	}
	for _, format := range []string{"table", "json", "sarif"} {
		var out bytes.Buffer
		if err := printScan(&out, res, format); err != nil {
			t.Fatal(err)
		}
		switch format {
		case "table":
			if !strings.Contains(out.String(), "image:    "+d.String()) {
				t.Errorf("table:\n%s", out.String())
			}
		case "json":
			var v adminapi.ReportView
			if err := json.Unmarshal(out.Bytes(), &v); err != nil || v.Image.String() != d.String() {
				t.Errorf("json: %v\n%s", err, out.String())
			}
		case "sarif":
			var v struct {
				Version string `json:"version"`
				Runs    []any  `json:"runs"`
			}
			if err := json.Unmarshal(out.Bytes(), &v); err != nil || v.Version != "2.1.0" || len(v.Runs) != 1 {
				t.Errorf("sarif: %v\n%s", err, out.String())
			}
		}
	}

	cmd := newRootCommand()
	cmd.SetArgs([]string{"scan", "--node", base.String(), "--format", "xml", "team/app:1"})
	cmd.SetOut(&stdout)
	cmd.SetErr(&stderr)
	if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), "--format") {
		t.Errorf("--format xml: %v", err)
	}
}
