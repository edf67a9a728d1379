package vulndb

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/shoal-dev/shoal/scan"
)

func TestRPMProductEcosystems(t *testing.T) {
	for in, want := range map[string]string{
		"Red Hat:enterprise_linux:9::baseos":                            "Red Hat:9",
		"Red Hat:enterprise_linux:9::appstream":                         "Red Hat:9",
		"Red Hat:enterprise_linux:8":                                    "Red Hat:8",
		"Red Hat:rhel_eus:9.2::appstream":                               "Red Hat:rhel_eus:9.2::appstream",
		"Red Hat:enterprise_linux:x::baseos":                            "Red Hat:enterprise_linux:x::baseos",
		"Red Hat:openshift:4.14::el9":                                   "Red Hat:openshift:4.14::el9",
		"SUSE:Linux Enterprise Server 15 SP5":                           "SUSE:Linux Enterprise 15 SP5",
		"SUSE:Linux Enterprise Module for Basesystem 15 SP5":            "SUSE:Linux Enterprise 15 SP5",
		"SUSE:Linux Enterprise Server for SAP Applications 15 SP4":      "SUSE:Linux Enterprise 15 SP4",
		"SUSE:Linux Enterprise Server 15 SP7-LTSS":                      "SUSE:Linux Enterprise 15 SP7",
		"SUSE:Linux Enterprise High Performance Computing 15 SP7-ESPOS": "SUSE:Linux Enterprise 15 SP7",
		"SUSE:Linux Enterprise Server 12 SP5":                           "SUSE:Linux Enterprise 12 SP5",
		"SUSE:Linux Enterprise Server 15":                               "SUSE:Linux Enterprise 15",
		"SUSE:Linux Enterprise Server 15 SP0":                           "SUSE:Linux Enterprise 15",
		"SUSE:Linux Enterprise Server 16.0":                             "SUSE:Linux Enterprise 16.0",
		"SUSE:Linux Enterprise Micro 5.5":                               "SUSE:Linux Enterprise Micro 5.5",
		"SUSE:Linux Enterprise Module for Package Hub 15 SP5":           "SUSE:Linux Enterprise 15 SP5",
		"SUSE:Linux Enterprise Server":                                  "SUSE:Linux Enterprise Server",
		"SUSE:Linux Enterprise Server 15 SPx":                           "SUSE:Linux Enterprise Server 15 SPx",
		"SUSE:SUSE Manager Server 4.3":                                  "SUSE:SUSE Manager Server 4.3",
		"openSUSE:Leap 15.5":                                            "openSUSE:Leap 15.5",
	} {
		if got := normaliseEcosystem(in); got != want {
			t.Errorf("normaliseEcosystem(%q) = %q, want %q", in, got, want)
		}
	}
}

// rpmDistroRecords are minimal records in the shape of the distributions'
// OSV feeds (ecosystem spellings, epochs in fixed versions, dist tags):
// written for this test, not copied, with invented IDs.
var rpmDistroRecords = []string{
	`{"id":"TEST-RHSA-1","modified":"2025-07-01T10:06:01Z","upstream":["CVE-2025-32462"],
 "affected":[
  {"package":{"ecosystem":"Red Hat:enterprise_linux:9::baseos","name":"sudo"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"0:1.9.5p2-10.el9_6.1"}]}]},
  {"package":{"ecosystem":"Red Hat:rhel_eus:9.2::baseos","name":"sudo"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"0:1.9.5p2-9.el9_2.3"}]}]},
  {"package":{"ecosystem":"Red Hat:enterprise_linux:8::baseos","name":"sudo"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"0:1.9.5p2-1.el8_10.1"}]}]}]}`,
	`{"id":"TEST-SUSE-SU-1","modified":"2025-01-01T00:00:00Z",
 "affected":[
  {"package":{"ecosystem":"SUSE:Linux Enterprise Module for Basesystem 15 SP5","name":"libopenssl3"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"3.0.8-150500.5.20.1"}]}]},
  {"package":{"ecosystem":"SUSE:Linux Enterprise Server 16.0","name":"libopenssl3"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"3.5.0-160000.3.1"}]}]}]}`,
	`{"id":"TEST-openSUSE-SU-1","modified":"2025-01-01T00:00:00Z",
 "affected":[{"package":{"ecosystem":"openSUSE:Leap 15.5","name":"libopenssl3"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"3.0.8-150500.5.20.1"}]}]}]}`,
	`{"id":"TEST-RLSA-1","modified":"2025-01-01T00:00:00Z",
 "affected":[{"package":{"ecosystem":"Rocky Linux:9","name":"openssl-libs"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1:3.0.7-27.el9"}]}]}]}`,
	`{"id":"TEST-MGASA-1","modified":"2025-01-01T00:00:00Z",
 "affected":[{"package":{"ecosystem":"Mageia:9","name":"curl"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"8.4.0-1.mga9"}]}]}]}`,
}

// TestMatchRPMDistributions: a package of the ecosystem the inventory
// derives from os-release (scan/inventory's rpmEcosystem) meets the records
// of its release's products, and not those of another release or product.
func TestMatchRPMDistributions(t *testing.T) {
	db := importRecords(t, rpmDistroRecords)
	for _, tc := range []struct {
		name string
		pkg  scan.Package
		want map[string]string
	}{
		{"RHEL 9 below the baseos fix", scan.Package{Ecosystem: "Red Hat:9", Name: "sudo", Version: "1.9.5p2-10.el9_6"}, map[string]string{"TEST-RHSA-1": "0:1.9.5p2-10.el9_6.1"}},
		{"RHEL 9 at the fix", scan.Package{Ecosystem: "Red Hat:9", Name: "sudo", Version: "1.9.5p2-10.el9_6.1"}, map[string]string{}},
		{"RHEL 8 against its own fix", scan.Package{Ecosystem: "Red Hat:8", Name: "sudo", Version: "1.9.5p2-1.el8_10"}, map[string]string{"TEST-RHSA-1": "0:1.9.5p2-1.el8_10.1"}},
		{"RHEL 8 fixed, the RHEL 9 fix is not its", scan.Package{Ecosystem: "Red Hat:8", Name: "sudo", Version: "1.9.5p2-1.el8_10.1"}, map[string]string{}},
		{"SLES 15 SP5 under the Basesystem module", scan.Package{Ecosystem: "SUSE:Linux Enterprise 15 SP5", Name: "libopenssl3", Version: "3.0.8-150500.5.14.1"}, map[string]string{"TEST-SUSE-SU-1": "3.0.8-150500.5.20.1"}},
		{"SLES 15 SP5 fixed, SLE 16's fix is not its", scan.Package{Ecosystem: "SUSE:Linux Enterprise 15 SP5", Name: "libopenssl3", Version: "3.0.8-150500.5.20.1"}, map[string]string{}},
		{"SLES 15 SP4 has no record", scan.Package{Ecosystem: "SUSE:Linux Enterprise 15 SP4", Name: "libopenssl3", Version: "3.0.1-150400.4.1"}, map[string]string{}},
		{"SLES 16.0", scan.Package{Ecosystem: "SUSE:Linux Enterprise 16.0", Name: "libopenssl3", Version: "3.5.0-160000.2.1"}, map[string]string{"TEST-SUSE-SU-1": "3.5.0-160000.3.1"}},
		{"openSUSE Leap 15.5", scan.Package{Ecosystem: "openSUSE:Leap 15.5", Name: "libopenssl3", Version: "3.0.8-150500.5.14.1"}, map[string]string{"TEST-openSUSE-SU-1": "3.0.8-150500.5.20.1"}},
		{"openSUSE Tumbleweed: not Leap's record", scan.Package{Ecosystem: "openSUSE:Tumbleweed", Name: "libopenssl3", Version: "3.0.8-1.1"}, map[string]string{}},
		{"Rocky 9 with an epoch", scan.Package{Ecosystem: "Rocky Linux:9", Name: "openssl-libs", Version: "1:3.0.7-24.el9"}, map[string]string{"TEST-RLSA-1": "1:3.0.7-27.el9"}},
		{"Rocky 9 missing the epoch is below it", scan.Package{Ecosystem: "Rocky Linux:9", Name: "openssl-libs", Version: "3.0.7-28.el9"}, map[string]string{"TEST-RLSA-1": "1:3.0.7-27.el9"}},
		{"Mageia 9", scan.Package{Ecosystem: "Mageia:9", Name: "curl", Version: "8.3.0-1.mga9"}, map[string]string{"TEST-MGASA-1": "8.4.0-1.mga9"}},
	} {
		fs := db.Match(inventory(tc.pkg))
		if got := found(fs, tc.pkg.Name); !mapsEqual(got, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestMatchAlmaLinuxRecord matches a real AlmaLinux record
// (testdata/almalinux) at an affected and at its fixed version.
func TestMatchAlmaLinuxRecord(t *testing.T) {
	rec, err := os.ReadFile(filepath.Join("testdata", "almalinux", "ALSA-2025-10073.json"))
	if err != nil {
		t.Fatal(err)
	}
	db := importRecords(t, []string{string(rec)})
	for _, tc := range []struct {
		version string
		want    map[string]string
	}{
		{"128.11.0-1.el10_0", map[string]string{"ALSA-2025:10073": "128.12.0-1.el10_0"}},
		{"128.12.0-1.el10_0", map[string]string{}},
	} {
		pkg := scan.Package{Ecosystem: "AlmaLinux:10", Name: "firefox", Version: tc.version}
		if got := found(db.Match(inventory(pkg)), "firefox"); !mapsEqual(got, tc.want) {
			t.Errorf("firefox %s: got %v, want %v", tc.version, got, tc.want)
		}
		pkg.Ecosystem = "AlmaLinux:9" // another release's record
		if got := found(db.Match(inventory(pkg)), "firefox"); len(got) != 0 {
			t.Errorf("AlmaLinux 9 firefox %s: got %v", tc.version, got)
		}
	}
}
