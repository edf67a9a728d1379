package inventory

import (
	"context"
	"slices"
	"testing"

	"github.com/shoal-dev/shoal/scan"
)

func composerPkg(name, version, purlVersion string) scan.Package {
	return scan.Package{Ecosystem: "Packagist", Name: name, Version: version, PURL: "pkg:composer/" + name + "@" + purlVersion}
}

func TestComposerPackages(t *testing.T) {
	tests := []struct {
		name string
		data string
		want []scan.Package
	}{
		{"Composer 2 (branch checkouts kept)", testdataFile(t, "composer", "installed-v2.json"), []scan.Package{
			composerPkg("monolog/monolog", "2.9.1", "2.9.1"),
			composerPkg("psr/log", "3.0.0", "3.0.0"),
			composerPkg("symfony/http-kernel", "v5.4.19", "v5.4.19"),
			composerPkg("acme/tools", "dev-master", "dev-master"),
			composerPkg("phpunit/phpunit", "9.6.x-dev", "9.6.x-dev"),
		}},
		{"Composer 1 array", `[{"name":"guzzlehttp/guzzle","version":"6.5.5"},{"name":"psr/http-message","version":"1.0.1"}]`, []scan.Package{
			composerPkg("guzzlehttp/guzzle", "6.5.5", "6.5.5"),
			composerPkg("psr/http-message", "1.0.1", "1.0.1"),
		}},
		{"mixed case name as written, purl lower case", `{"packages":[{"name":"Acme/Lib","version":"1.0"}]}`, []scan.Package{
			{Ecosystem: "Packagist", Name: "Acme/Lib", Version: "1.0", PURL: "pkg:composer/acme/lib@1.0"}}},
		{"no vendor", `[{"name":"monolog","version":"1.0"}]`, nil},
		{"empty vendor", `[{"name":"/monolog","version":"1.0"}]`, nil},
		{"two slashes", `[{"name":"a/b/c","version":"1.0"}]`, nil},
		{"no version", `[{"name":"a/b"}]`, nil},
		{"space in version", `[{"name":"a/b","version":"1.0 beta"}]`, nil},
		{"version not a string", `[{"name":"a/b","version":1}]`, nil},
		{"object without packages", `{"dev":true}`, nil},
		{"not JSON", `packages: []`, nil},
		{"truncated", `{"packages":[{"name":"a/b","vers`, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := composerPackages([]byte(tc.data)); !slices.Equal(got, tc.want) {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestIsComposerInstalled(t *testing.T) {
	for p, want := range map[string]bool{
		"var/www/html/vendor/composer/installed.json": true,
		"vendor/composer/installed.json":              true,
		"app/vendor/composer/installed.php":           false,
		"app/myvendor/composer/installed.json":        false,
		"app/vendor/composer/installed.json.bak":      false,
	} {
		if got := isComposerInstalled(p); got != want {
			t.Errorf("isComposerInstalled(%q) = %v", p, got)
		}
	}
}

// TestScanComposerImage: a PHP app's vendor folder in one layer, a later
// layer that updates one package and whites out another project's vendor
// folder.
func TestScanComposerImage(t *testing.T) {
	const app = "var/www/html/vendor/composer/installed.json"
	const tool = "opt/tool/vendor/composer/installed.json"
	layers := []Layer{
		layer(t,
			file(app, `{"packages":[{"name":"monolog/monolog","version":"2.9.1"},{"name":"symfony/http-kernel","version":"v5.4.19"}]}`),
			file(tool, `[{"name":"psr/log","version":"1.1.4"}]`),
			file("var/www/html/vendor/composer/installed.php", `<?php return array();`),
		),
		layer(t,
			file(app, `{"packages":[{"name":"monolog/monolog","version":"2.9.1"},{"name":"symfony/http-kernel","version":"v5.4.20"}]}`),
			whiteout("opt/.wh.tool"),
		),
	}
	inv, err := Scan(context.Background(), "linux/amd64", layers)
	if err != nil {
		t.Fatal(err)
	}
	want := sortPackages([]scan.Package{
		at(composerPkg("monolog/monolog", "2.9.1", "2.9.1"), app, 1),
		at(composerPkg("symfony/http-kernel", "v5.4.20", "v5.4.20"), app, 1),
	})
	if !slices.Equal(inv.Packages, want) {
		t.Errorf("Packages:\n got %s\nwant %s", packageLines(inv.Packages), packageLines(want))
	}
}
