package inventory

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	cdx "github.com/CycloneDX/cyclonedx-go"
	"github.com/opencontainers/go-digest"

	"github.com/shoal-dev/shoal/scan"
)

func TestCycloneDX(t *testing.T) {
	jinjaDeb := scan.Package{Ecosystem: "Debian:12", Name: "python3-jinja2", Source: "jinja2", Version: "2.10-2", PURL: jinjaDebPURL}
	ownedJinja := scan.Package{Ecosystem: "PyPI", Name: "Jinja2", Version: "2.10", PURL: "pkg:pypi/jinja2@2.10",
		Location: jinjaDistInfo, Owner: jinjaDebPURL}
	img := digest.FromString("image manifest")
	goPkg := func(name, version, loc string) scan.Package {
		p := goPackage(name, version)
		p.Location = loc
		return p
	}
	inv := &scan.Inventory{
		Platform: "linux/amd64",
		OS:       debian12,
		Packages: sortPackages([]scan.Package{
			libc6, libssl3,
			goPkg("golang.org/x/text", "v0.3.5", "usr/bin/a"),
			goPkg("golang.org/x/text", "v0.3.5", "usr/bin/b"),
			goPkg("stdlib", "v1.21.3", "usr/bin/a"),
			at(maven("org.apache.commons", "commons-text", "1.9", ""), "app/shop.war:WEB-INF/lib/commons-text-1.9.jar", 2),
			jinjaDeb, ownedJinja,
		}),
	}
	out, err := CycloneDX(inv, img)
	if err != nil {
		t.Fatal(err)
	}
	again, err := CycloneDX(inv, img)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, again) {
		t.Fatal("two renderings of one inventory differ")
	}

	var bom cdx.BOM
	if err := cdx.NewBOMDecoder(bytes.NewReader(out), cdx.BOMFileFormatJSON).Decode(&bom); err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := json.Unmarshal(out, &raw); err != nil {
		t.Fatal(err)
	}
	if raw["specVersion"] != "1.5" || raw["bomFormat"] != "CycloneDX" || !strings.Contains(raw["$schema"].(string), "1.5") {
		t.Errorf("header: specVersion %v bomFormat %v $schema %v", raw["specVersion"], raw["bomFormat"], raw["$schema"])
	}
	if _, ok := raw["serialNumber"]; ok {
		t.Error("serialNumber makes the output differ run to run")
	}
	mc := bom.Metadata.Component
	if mc == nil || mc.Type != cdx.ComponentTypeContainer || mc.Name != img.String() || mc.BOMRef != img.String() {
		t.Fatalf("metadata.component = %+v", mc)
	}
	if bom.Metadata.Timestamp != "" {
		t.Error("timestamp makes the output differ run to run")
	}

	byRef := map[string]cdx.Component{}
	var libs, apps, oses int
	for _, c := range *bom.Components {
		if _, dup := byRef[c.BOMRef]; dup || c.BOMRef == "" {
			t.Errorf("bom-ref %q empty or repeated", c.BOMRef)
		}
		byRef[c.BOMRef] = c
		switch c.Type {
		case cdx.ComponentTypeLibrary:
			libs++
		case cdx.ComponentTypeApplication:
			apps++
		case cdx.ComponentTypeOS:
			oses++
		}
	}
	if libs != len(inv.Packages) || apps != 4 || oses != 1 {
		t.Errorf("%d libraries, %d applications, %d OS; want %d, 4, 1", libs, apps, oses, len(inv.Packages))
	}
	c, ok := byRef[libc6.PURL]
	if !ok || c.PackageURL != libc6.PURL || c.Version != libc6.Version || c.Name != "libc6" {
		t.Fatalf("libc6 component = %+v", c)
	}
	if props := propMap(c); props[propSource] != "glibc" || props[propEcosystem] != "Debian:12" || props[propLocation] != "" || props[propLayer] != "0" {
		t.Errorf("libc6 properties = %v", props)
	}
	c, ok = byRef["file:usr/bin/b:pkg:golang/golang.org/x/text@v0.3.5"]
	if !ok || propMap(c)[propLocation] != "usr/bin/b" || c.PackageURL != "pkg:golang/golang.org/x/text@v0.3.5" {
		t.Errorf("x/text in usr/bin/b = %+v", c)
	}

	c, ok = byRef["file:app/shop.war:WEB-INF/lib/commons-text-1.9.jar:pkg:maven/org.apache.commons/commons-text@1.9"]
	if props := propMap(c); !ok || props[propEcosystem] != "Maven" || props[propLayer] != "2" || props[propLocation] != "app/shop.war:WEB-INF/lib/commons-text-1.9.jar" {
		t.Errorf("commons-text in a war = %+v", c)
	}

	deps := map[string][]string{}
	for _, d := range *bom.Dependencies {
		deps[d.Ref] = *d.Dependencies
	}
	if got := deps["file:usr/bin/a"]; len(got) != 2 {
		t.Errorf("usr/bin/a depends on %v, want x/text and stdlib", got)
	}
	jinjaRef := "file:" + jinjaDistInfo + ":pkg:pypi/jinja2@2.10"
	if props := propMap(byRef[jinjaRef]); props[propOwner] != jinjaDebPURL {
		t.Errorf("owned Jinja2 properties = %v", props)
	}
	if props := propMap(byRef[jinjaDebPURL]); props[propOwner] != "" {
		t.Errorf("python3-jinja2 properties = %v", props)
	}
	if got := deps[jinjaDebPURL]; len(got) != 1 || got[0] != jinjaRef {
		t.Errorf("python3-jinja2 depends on %v, want the Jinja2 it installed", got)
	}
	if got := deps[img.String()]; len(got) != 1+4+3 { // OS, two binaries, a jar and a METADATA, three dpkg packages
		t.Errorf("image depends on %v", got)
	}
	for ref, ds := range deps {
		for _, d := range ds {
			if _, ok := byRef[d]; !ok {
				t.Errorf("%s depends on unknown %q", ref, d)
			}
		}
	}
}

func TestCycloneDXErrors(t *testing.T) {
	if _, err := CycloneDX(nil, digest.FromString("x")); err == nil {
		t.Error("nil inventory accepted")
	}
	if _, err := CycloneDX(&scan.Inventory{}, digest.Digest("sha256:nothex")); err == nil {
		t.Error("bad digest accepted")
	}
	out, err := CycloneDX(&scan.Inventory{}, digest.FromString("empty"))
	if err != nil {
		t.Fatal(err)
	}
	var bom cdx.BOM
	if err := json.Unmarshal(out, &bom); err != nil {
		t.Fatal(err)
	}
}

func propMap(c cdx.Component) map[string]string {
	m := map[string]string{}
	if c.Properties != nil {
		for _, p := range *c.Properties {
			m[p.Name] = p.Value
		}
	}
	return m
}
