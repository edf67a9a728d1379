package inventory

import (
	"context"
	"slices"
	"testing"

	"github.com/shoal-dev/shoal/scan"
)

func nugetPkg(name, version string) scan.Package {
	return scan.Package{Ecosystem: "NuGet", Name: name, Version: version, PURL: "pkg:nuget/" + name + "@" + version}
}

func TestDotnetPackages(t *testing.T) {
	tests := []struct {
		name string
		data string
		want []scan.Package
	}{
		{"app with projects and a reference", testdataFile(t, "dotnet", "MyApp.deps.json"), []scan.Package{
			nugetPkg("Newtonsoft.Json", "13.0.1"),
			nugetPkg("Serilog.AspNetCore", "6.1.0"),
		}},
		{"pre-release", `{"libraries":{"Polly/8.0.0-beta.1":{"type":"package"}}}`, []scan.Package{nugetPkg("Polly", "8.0.0-beta.1")}},
		{"runtime pack left out", `{"libraries":{"runtimepack.Microsoft.NETCore.App.Runtime.linux-x64/6.0.25":{"type":"runtimepack"}}}`, nil},
		{"no version", `{"libraries":{"Newtonsoft.Json":{"type":"package"}}}`, nil},
		{"empty version", `{"libraries":{"Newtonsoft.Json/":{"type":"package"}}}`, nil},
		{"empty name", `{"libraries":{"/1.0":{"type":"package"}}}`, nil},
		{"two slashes", `{"libraries":{"a/b/1.0":{"type":"package"}}}`, nil},
		{"space", `{"libraries":{"a b/1.0":{"type":"package"}}}`, nil},
		{"type missing", `{"libraries":{"a/1.0":{}}}`, nil},
		{"libraries not a map", `{"libraries":["a/1.0"]}`, nil},
		{"not JSON", `libraries:`, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := dotnetPackages([]byte(tc.data)); !slices.Equal(got, tc.want) {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// TestScanDotnetImage: two apps' deps.json in one layer; a later layer
// updates one and whites out the other's folder.
func TestScanDotnetImage(t *testing.T) {
	const app, worker = "app/MyApp.deps.json", "opt/worker/Worker.deps.json"
	layers := []Layer{
		layer(t,
			file(app, `{"libraries":{"MyApp/1.0.0":{"type":"project"},"Newtonsoft.Json/12.0.3":{"type":"package"}}}`),
			file(worker, `{"libraries":{"Serilog/2.12.0":{"type":"package"}}}`),
			file("app/MyApp.runtimeconfig.json", `{"runtimeOptions":{"tfm":"net6.0"}}`),
			file("app/.deps.json", `{"libraries":{"Hidden/1.0":{"type":"package"}}}`),
		),
		layer(t,
			file(app, `{"libraries":{"MyApp/1.0.0":{"type":"project"},"Newtonsoft.Json/13.0.1":{"type":"package"}}}`),
			whiteout("opt/.wh.worker"),
		),
	}
	inv, err := Scan(context.Background(), "linux/amd64", layers)
	if err != nil {
		t.Fatal(err)
	}
	want := []scan.Package{at(nugetPkg("Newtonsoft.Json", "13.0.1"), app, 1)}
	if !slices.Equal(inv.Packages, want) {
		t.Errorf("Packages:\n got %s\nwant %s", packageLines(inv.Packages), packageLines(want))
	}
}
