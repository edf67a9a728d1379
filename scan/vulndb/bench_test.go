package vulndb

import (
	"bytes"
	"fmt"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"

	"github.com/shoal-dev/shoal/scan"
)

// BenchmarkImportShared imports all of ../shared/vulndata (4,291 Go OSV
// records and 18 Alpine secdb files).
func BenchmarkImportShared(b *testing.B) {
	needShared(b)
	b.ReportAllocs()
	var db *DB
	for b.Loop() {
		var err error
		if db, err = Import(sharedVulndata); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(db.Records()), "records")
	b.StopTimer()
	// Retained heap: what the imported DB keeps once garbage is collected.
	var before, after runtime.MemStats
	db = nil
	runtime.GC()
	runtime.ReadMemStats(&before)
	db, _ = Import(sharedVulndata)
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), "retained-MiB")
	runtime.KeepAlive(db)
}

// benchInventory builds a 2,000-package inventory from the shared data's
// own package names, so a realistic share of lookups hit records: Alpine
// packages at an old version (every secfix applies), Go modules at an early
// version, stdlib, and Debian packages that no record names.
func benchInventory(b *testing.B, db *DB) *scan.Inventory {
	var pkgs []scan.Package
	keys := make([]indexKey, 0, len(db.index))
	for k := range db.index {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].ecosystem != keys[j].ecosystem {
			return keys[i].ecosystem < keys[j].ecosystem
		}
		return keys[i].name < keys[j].name
	})
	alpine, gomod := 0, 0
	for _, k := range keys {
		switch {
		case k.ecosystem == "Alpine:v3.10" && alpine < 300:
			pkgs = append(pkgs, scan.Package{Ecosystem: k.ecosystem, Name: k.name, Version: "0.1-r0"})
			alpine++
		case k.ecosystem == "Go" && k.name != "toolchain" && gomod < 1000:
			pkgs = append(pkgs, scan.Package{Ecosystem: "Go", Name: k.name, Version: "v0.1.0", Location: "usr/bin/app"})
			gomod++
		}
	}
	pkgs = append(pkgs, scan.Package{Ecosystem: "Go", Name: "stdlib", Version: "v1.20.1", Location: "usr/bin/app"})
	for i := len(pkgs); i < 2000; i++ {
		pkgs = append(pkgs, scan.Package{Ecosystem: "Debian:12", Name: fmt.Sprintf("lib%04d", i), Source: fmt.Sprintf("src%04d", i), Version: "1.0-1"})
	}
	sort.Slice(pkgs, func(i, j int) bool {
		return strings.Compare(pkgs[i].Ecosystem+"\x00"+pkgs[i].Name, pkgs[j].Ecosystem+"\x00"+pkgs[j].Name) < 0
	})
	return &scan.Inventory{Platform: "linux/amd64", Packages: pkgs}
}

// BenchmarkMatch2000 matches a 2,000-package inventory against the whole
// shared vulndata.
func BenchmarkMatch2000(b *testing.B) {
	needShared(b)
	db, err := Import(sharedVulndata)
	if err != nil {
		b.Fatal(err)
	}
	inv := benchInventory(b, db)
	if len(inv.Packages) != 2000 {
		b.Fatalf("%d packages", len(inv.Packages))
	}
	b.ReportAllocs()
	var n int
	for b.Loop() {
		n = len(db.Match(inv))
	}
	b.ReportMetric(float64(n), "findings")
}

// BenchmarkEncodeDecodeShared measures the portable form of the whole
// shared vulndata.
func BenchmarkEncodeDecodeShared(b *testing.B) {
	needShared(b)
	db, err := Import(filepath.Join(sharedVulndata))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	var size int
	for b.Loop() {
		var buf bytes.Buffer
		if err := db.Encode(&buf); err != nil {
			b.Fatal(err)
		}
		size = buf.Len()
		if _, err := Decode(&buf); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(size), "encoded-bytes")
}
