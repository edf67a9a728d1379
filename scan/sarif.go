package scan

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
)

// SARIF 2.1.0 is an export format only: reports travel and are trusted
// as signed in-toto statements (see SignReport). Code-scanning UIs read
// SARIF, so `shoal scan --format sarif` renders a report for them.

const sarifSchema = "https://json.schemastore.org/sarif-2.1.0.json"

type sarifLog struct {
	Version string     `json:"version"`
	Schema  string     `json:"$schema"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool       sarifTool         `json:"tool"`
	Results    []sarifResult     `json:"results"`
	Properties map[string]string `json:"properties,omitempty"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name           string      `json:"name"`
	InformationURI string      `json:"informationUri"`
	Version        string      `json:"version,omitempty"`
	Rules          []sarifRule `json:"rules"`
}

type sarifRule struct {
	ID               string            `json:"id"`
	ShortDescription sarifText         `json:"shortDescription"`
	HelpURI          string            `json:"helpUri,omitempty"`
	Properties       map[string]string `json:"properties,omitempty"`
}

type sarifText struct {
	Text string `json:"text"`
}

type sarifResult struct {
	RuleID    string            `json:"ruleId"`
	Level     string            `json:"level"`
	Message   sarifText         `json:"message"`
	Locations []sarifLocation   `json:"locations"`
	Props     map[string]string `json:"properties,omitempty"`
}

type sarifLocation struct {
	PhysicalLocation *sarifPhysical `json:"physicalLocation,omitempty"`
	LogicalLocations []sarifLogical `json:"logicalLocations,omitempty"`
}

type sarifPhysical struct {
	ArtifactLocation struct {
		URI string `json:"uri"`
	} `json:"artifactLocation"`
}

type sarifLogical struct {
	Name               string `json:"name"`
	FullyQualifiedName string `json:"fullyQualifiedName,omitempty"`
	Kind               string `json:"kind"`
}

// sarifLevel maps a severity onto SARIF's levels.
func sarifLevel(s Severity) string {
	switch s {
	case SeverityCritical, SeverityHigh:
		return "error"
	case SeverityMedium:
		return "warning"
	}
	return "note"
}

// WriteSARIF renders reports as a SARIF 2.1.0 log, one run per report
// (per image): one rule per vulnerability ID, one result per finding,
// located at the package (and, for Go binaries, the file in the image).
func WriteSARIF(w io.Writer, reports ...*Report) error {
	log := sarifLog{Version: "2.1.0", Schema: sarifSchema, Runs: []sarifRun{}}
	for _, r := range reports {
		log.Runs = append(log.Runs, sarifRunOf(r))
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(log)
}

func sarifRunOf(r *Report) sarifRun {
	run := sarifRun{
		Tool:    sarifTool{Driver: sarifDriver{Name: "shoal", InformationURI: ScannerURI, Version: r.ScannerVersion, Rules: []sarifRule{}}},
		Results: []sarifResult{},
		Properties: map[string]string{
			"image": r.Image.String(), "platform": r.Platform, "db": r.DB.String(), "scanner": r.Scanner,
		},
	}
	rules := map[string]bool{}
	for _, f := range r.Findings {
		if !rules[f.ID] {
			rules[f.ID] = true
			desc := f.Summary
			if desc == "" {
				desc = f.ID
			}
			run.Tool.Driver.Rules = append(run.Tool.Driver.Rules, sarifRule{
				ID: f.ID, ShortDescription: sarifText{desc}, HelpURI: "https://osv.dev/vulnerability/" + f.ID,
				Properties: map[string]string{"severity": string(f.Severity.Normal())},
			})
		}
		msg := fmt.Sprintf("%s %s is installed in %s; %s affects it", f.Package, f.Installed, r.Image, f.ID)
		if f.Fixed != "" {
			msg += "; fixed in " + f.Fixed
		}
		loc := sarifLocation{LogicalLocations: []sarifLogical{{Name: f.Package, FullyQualifiedName: f.Ecosystem + "/" + f.Package, Kind: "package"}}}
		if f.Location != "" {
			loc.PhysicalLocation = &sarifPhysical{}
			loc.PhysicalLocation.ArtifactLocation.URI = strings.TrimPrefix(f.Location, "/")
		}
		run.Results = append(run.Results, sarifResult{
			RuleID: f.ID, Level: sarifLevel(f.Severity), Message: sarifText{msg}, Locations: []sarifLocation{loc},
			Props: map[string]string{"severity": string(f.Severity.Normal()), "installed": f.Installed, "fixed": f.Fixed},
		})
	}
	return run
}

// WriteTable renders r for a terminal: a header, then the findings
// grouped by ecosystem ("Debian:12", "PyPI", "npm", "Maven", "Go"), the
// group with the most severe finding first, each group most severe
// first: an application image's language packages and its OS packages
// are usually fixed by different people.
func WriteTable(w io.Writer, r *Report) error {
	fmt.Fprintf(w, "image:    %s", r.Image)
	if r.Platform != "" {
		fmt.Fprintf(w, " (%s)", r.Platform)
	}
	fmt.Fprintln(w)
	if os := r.OS.PrettyName; os != "" {
		fmt.Fprintf(w, "os:       %s\n", os)
	} else if r.OS.ID != "" {
		fmt.Fprintf(w, "os:       %s %s\n", r.OS.ID, r.OS.VersionID)
	}
	fmt.Fprintf(w, "db:       %s (updated %s)\n", r.DB, r.DBUpdated.UTC().Format("2006-01-02"))
	fmt.Fprintf(w, "scanner:  %s at %s\n", r.Scanner, r.Finished.UTC().Format("2006-01-02T15:04:05Z"))
	counts := r.Counts()
	fmt.Fprintf(w, "packages: %d, findings: %d (critical %d, high %d, medium %d, low %d, unknown %d)\n",
		r.Packages, len(r.Findings), counts[SeverityCritical], counts[SeverityHigh], counts[SeverityMedium], counts[SeverityLow], counts[SeverityUnknown])
	for _, g := range groupByEcosystem(r.Findings) {
		noun := "findings"
		if len(g.findings) == 1 {
			noun = "finding"
		}
		fmt.Fprintf(w, "\n%s: %d %s\n", g.ecosystem, len(g.findings), noun)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "SEVERITY\tID\tPACKAGE\tINSTALLED\tFIXED\tSUMMARY")
		for _, f := range g.findings {
			pkg := f.Package
			if f.Location != "" {
				pkg += " (" + f.Location + ")"
			}
			fixed := f.Fixed
			if fixed == "" {
				fixed = "-"
			}
			summary := f.Summary
			if len(summary) > 60 {
				summary = summary[:57] + "..."
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", f.Severity.Normal(), f.ID, pkg, f.Installed, fixed, summary)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}

// findingGroup is one ecosystem's findings, most severe first.
type findingGroup struct {
	ecosystem string
	findings  []Finding
}

func groupByEcosystem(all []Finding) []findingGroup {
	byEco := map[string][]Finding{}
	for _, f := range all {
		byEco[f.Ecosystem] = append(byEco[f.Ecosystem], f)
	}
	groups := make([]findingGroup, 0, len(byEco))
	for eco, fs := range byEco {
		sort.SliceStable(fs, func(i, j int) bool {
			if a, b := fs[i].Severity.Rank(), fs[j].Severity.Rank(); a != b {
				return a > b
			}
			if fs[i].ID != fs[j].ID {
				return fs[i].ID < fs[j].ID
			}
			return fs[i].Package < fs[j].Package
		})
		groups = append(groups, findingGroup{eco, fs})
	}
	sort.Slice(groups, func(i, j int) bool {
		if a, b := groups[i].findings[0].Severity.Rank(), groups[j].findings[0].Severity.Rank(); a != b {
			return a > b
		}
		return groups[i].ecosystem < groups[j].ecosystem
	})
	return groups
}
