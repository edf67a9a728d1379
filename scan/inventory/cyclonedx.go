package inventory

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strconv"

	cdx "github.com/CycloneDX/cyclonedx-go"
	"github.com/opencontainers/go-digest"

	"github.com/shoal-dev/shoal/scan"
)

// Property names carried by SBOM components, so the SBOM round-trips to an
// Inventory.
const (
	propEcosystem = "shoal:ecosystem"
	propSource    = "shoal:source"
	propLocation  = "shoal:location"
	propPlatform  = "shoal:platform"
	propLayer     = "shoal:layer" // index of the layer whose file listed the package
	propOwner     = "shoal:owner" // purl of the OS package that installed the package's file
)

// CycloneDX renders the inventory as a CycloneDX 1.5 JSON SBOM about the image digest.
//
// metadata.component is the image (type container, named by its digest);
// the OS, when known, is an operating-system component; each file that
// listed packages with a Location (a Go binary, a Python metadata file, a
// package.json or lock file, a jar) is an application component (named by
// its path) that depends on them; every package is a library component with
// its purl and properties for ecosystem, source, layer and location. A
// language package an OS package installed has a property naming the
// owner's purl, and the owner's dependency entry lists it (CycloneDX 1.5
// has no "installs" relation). There is no timestamp or serial number:
// the same inventory and digest always give the same bytes.
func CycloneDX(inv *scan.Inventory, image digest.Digest) ([]byte, error) {
	if inv == nil {
		return nil, errors.New("inventory: CycloneDX of a nil inventory")
	}
	if err := image.Validate(); err != nil {
		return nil, fmt.Errorf("inventory: image digest: %w", err)
	}
	imageRef := image.String()
	meta := &cdx.Metadata{
		Tools: &cdx.ToolsChoice{Components: &[]cdx.Component{{Type: cdx.ComponentTypeApplication, Name: "shoal"}}},
		Component: &cdx.Component{
			BOMRef: imageRef,
			Type:   cdx.ComponentTypeContainer,
			Name:   imageRef,
		},
	}
	if inv.Platform != "" {
		meta.Component.Properties = &[]cdx.Property{{Name: propPlatform, Value: inv.Platform}}
	}

	var components []cdx.Component
	var topDeps []string
	if inv.OS.ID != "" {
		ref := "os:" + inv.OS.ID + "@" + inv.OS.VersionID
		components = append(components, cdx.Component{
			BOMRef:      ref,
			Type:        cdx.ComponentTypeOS,
			Name:        inv.OS.ID,
			Version:     inv.OS.VersionID,
			Description: inv.OS.PrettyName,
		})
		topDeps = append(topDeps, ref)
	}

	// Files with packages of their own become applications, in path order.
	appDeps := map[string][]string{}
	var apps []string
	for _, p := range inv.Packages {
		if p.Location != "" {
			if _, ok := appDeps[p.Location]; !ok {
				apps = append(apps, p.Location)
				appDeps[p.Location] = nil
			}
		}
	}
	slices.Sort(apps)
	for _, loc := range apps {
		ref := "file:" + loc
		components = append(components, cdx.Component{
			BOMRef:     ref,
			Type:       cdx.ComponentTypeApplication,
			Name:       loc,
			Properties: &[]cdx.Property{{Name: propLocation, Value: loc}},
		})
		topDeps = append(topDeps, ref)
	}

	used := map[string]int{}
	osRefs := map[string]string{}      // an OS package's purl → its bom-ref
	ownedRefs := map[string][]string{} // an owner's purl → the bom-refs of what it installed
	var owners []string                // in order of first use
	for _, p := range inv.Packages {
		ref := p.PURL
		if ref == "" {
			ref = "pkg:" + p.Ecosystem + "/" + p.Name + "@" + p.Version
		}
		if p.Location != "" {
			ref = "file:" + p.Location + ":" + ref
		}
		if n := used[ref]; n > 0 {
			used[ref]++
			ref = fmt.Sprintf("%s#%d", ref, n)
		} else {
			used[ref] = 1
		}
		props := []cdx.Property{{Name: propEcosystem, Value: p.Ecosystem}}
		if p.Source != "" {
			props = append(props, cdx.Property{Name: propSource, Value: p.Source})
		}
		props = append(props, cdx.Property{Name: propLayer, Value: strconv.Itoa(p.Layer)})
		if p.Owner != "" {
			props = append(props, cdx.Property{Name: propOwner, Value: p.Owner})
			if _, ok := ownedRefs[p.Owner]; !ok {
				owners = append(owners, p.Owner)
			}
			ownedRefs[p.Owner] = append(ownedRefs[p.Owner], ref)
		}
		if p.Location == "" && p.PURL != "" {
			if _, ok := osRefs[p.PURL]; !ok {
				osRefs[p.PURL] = ref
			}
		}
		if p.Location != "" {
			props = append(props, cdx.Property{Name: propLocation, Value: p.Location})
			appDeps[p.Location] = append(appDeps[p.Location], ref)
		} else {
			topDeps = append(topDeps, ref)
		}
		components = append(components, cdx.Component{
			BOMRef:     ref,
			Type:       cdx.ComponentTypeLibrary,
			Name:       p.Name,
			Version:    p.Version,
			PackageURL: p.PURL,
			Properties: &props,
		})
	}

	deps := []cdx.Dependency{{Ref: imageRef, Dependencies: &topDeps}}
	for _, loc := range apps {
		d := appDeps[loc]
		deps = append(deps, cdx.Dependency{Ref: "file:" + loc, Dependencies: &d})
	}
	for _, owner := range owners {
		if ref, ok := osRefs[owner]; ok {
			d := ownedRefs[owner]
			deps = append(deps, cdx.Dependency{Ref: ref, Dependencies: &d})
		}
	}

	bom := cdx.NewBOM()
	bom.Metadata = meta
	bom.Components = &components
	bom.Dependencies = &deps
	var buf bytes.Buffer
	enc := cdx.NewBOMEncoder(&buf, cdx.BOMFileFormatJSON)
	enc.SetPretty(true).SetEscapeHTML(false)
	if err := enc.EncodeVersion(bom, cdx.SpecVersion1_5); err != nil {
		return nil, fmt.Errorf("inventory: encode CycloneDX: %w", err)
	}
	return buf.Bytes(), nil
}
