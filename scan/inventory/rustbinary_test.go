package inventory

import (
	"bytes"
	"context"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/shoal-dev/shoal/internal/testelf"

	"github.com/shoal-dev/shoal/scan"
)

// auditJSON is cargo-auditable's output for a local crate "app" using a
// build-time crates.io crate, serde from crates.io and a git crate; the
// crates.io ones come in the order Scan sorts them.
const auditJSON = `{"packages":[
{"name":"app","version":"0.1.0","source":"local","dependencies":[1,2,3],"root":true},
{"name":"proc-macro2","version":"1.0.66","source":"crates.io","kind":"build"},
{"name":"serde","version":"1.0.188","source":"crates.io","dependencies":[1]},
{"name":"forked","version":"0.3.0","source":"git"}]}`

var auditWant = []scan.Package{
	{Ecosystem: "crates.io", Name: "proc-macro2", Version: "1.0.66", PURL: "pkg:cargo/proc-macro2@1.0.66"},
	{Ecosystem: "crates.io", Name: "serde", Version: "1.0.188", PURL: "pkg:cargo/serde@1.0.188"},
}

func TestAuditDataPackages(t *testing.T) {
	good := testelf.Zlib(t, []byte(auditJSON))
	tests := []struct {
		name string
		data []byte
		want []scan.Package
	}{
		{"crates.io crates only", good, auditWant},
		{"installed from crates.io: the root is listed",
			testelf.Zlib(t, []byte(`{"packages":[{"name":"ripgrep","version":"14.1.0","source":"crates.io","root":true}]}`)),
			[]scan.Package{{Ecosystem: "crates.io", Name: "ripgrep", Version: "14.1.0", PURL: "pkg:cargo/ripgrep@14.1.0"}}},
		{"name or version missing",
			testelf.Zlib(t, []byte(`{"packages":[{"name":"a","source":"crates.io"},{"version":"1.0.0","source":"crates.io"}]}`)), nil},
		{"odd characters are escaped in the purl",
			testelf.Zlib(t, []byte(`{"packages":[{"name":"a/b","version":"1.0.0+x y","source":"crates.io"}]}`)),
			[]scan.Package{{Ecosystem: "crates.io", Name: "a/b", Version: "1.0.0+x y", PURL: "pkg:cargo/a%2Fb@1.0.0%2Bx%20y"}}},
		{"unknown fields and kinds ignored",
			testelf.Zlib(t, []byte(`{"format":8,"packages":[{"name":"a","version":"1.0.0","source":"crates.io","kind":"weird","extra":{}}]}`)),
			[]scan.Package{{Ecosystem: "crates.io", Name: "a", Version: "1.0.0", PURL: "pkg:cargo/a@1.0.0"}}},
		{"empty", nil, nil},
		{"not zlib", []byte(auditJSON), nil},
		{"truncated zlib", good[:len(good)/2], nil},
		{"checksum damaged", append(slices.Clone(good[:len(good)-1]), good[len(good)-1]^1), nil},
		{"not JSON", testelf.Zlib(t, []byte("packages: serde")), nil},
		{"wrong types", testelf.Zlib(t, []byte(`{"packages":[{"name":1,"version":"1.0.0","source":"crates.io"}]}`)), nil},
		{"packages not an array", testelf.Zlib(t, []byte(`{"packages":{}}`)), nil},
		{"over the cap", testelf.Zlib(t, []byte(`{"packages":[{"name":"a","version":"1.0.0","source":"crates.io"}]`+strings.Repeat(" ", maxAuditData)+`}`)), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := auditDataPackages(tc.data); !slices.Equal(got, tc.want) {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestRustELFPackages(t *testing.T) {
	good := testelf.Zlib(t, []byte(auditJSON))
	tests := []struct {
		name string
		file []byte
		want []scan.Package
	}{
		{"audit section", testelf.WithSection(t, auditSection, elf.SHT_PROGBITS, good, 0), auditWant},
		{"other section", testelf.WithSection(t, ".dep-v1", elf.SHT_PROGBITS, good, 0), nil},
		{"NOBITS section", testelf.WithSection(t, auditSection, elf.SHT_NOBITS, good, 0), nil},
		{"garbage in the section", testelf.WithSection(t, auditSection, elf.SHT_PROGBITS, []byte("garbage"), 0), nil},
		{"truncated file", testelf.WithSection(t, auditSection, elf.SHT_PROGBITS, good, 0)[:100], nil},
		{"not ELF", good, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := rustELFPackages(bytes.NewReader(tc.file)); !slices.Equal(got, tc.want) {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
	// Sanity check on the builder: the standard library reads it as built.
	f, err := elf.NewFile(bytes.NewReader(testelf.WithSection(t, auditSection, elf.SHT_PROGBITS, good, 0)))
	if err != nil {
		t.Fatal(err)
	}
	if s := f.Section(auditSection); s == nil || s.Size != uint64(len(good)) {
		t.Fatalf("section %+v", s)
	}
}

func TestScanRustBinary(t *testing.T) {
	bin := string(testelf.WithSection(t, auditSection, elf.SHT_PROGBITS, testelf.Zlib(t, []byte(auditJSON)), 8<<10))
	at := func(loc string) []scan.Package {
		var want []scan.Package
		for _, p := range auditWant {
			p.Location = loc
			want = append(want, p)
		}
		return want
	}
	tests := []struct {
		name    string
		entries []entry
		want    []scan.Package
	}{
		{"executable", []entry{{name: "usr/local/bin/app", body: bin, mode: 0o755}}, at("usr/local/bin/app")},
		{"not executable: skipped", []entry{{name: "srv/app", body: bin, mode: 0o644}}, nil},
		{"symlink not listed twice", []entry{{name: "bin/app", body: bin, mode: 0o755}, symlink("usr/bin/app", "/bin/app")}, at("bin/app")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			inv, err := Scan(context.Background(), "linux/amd64", []Layer{layer(t, tc.entries...)})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(inv.Packages, tc.want) {
				t.Errorf("Packages:\n got %+v\nwant %+v", inv.Packages, tc.want)
			}
		})
	}
}

// A linker-made ELF (a Go binary) with a .dep-v0 section added by objcopy:
// both its Go modules and its crates are read from the one spooled copy.
func TestScanGoBinaryWithAuditSection(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool")
	}
	objcopy, err := exec.LookPath("objcopy")
	if err != nil {
		t.Skip("no objcopy")
	}
	dir := t.TempDir()
	for name, body := range map[string]string{
		"go.mod":  "module example.com/both\n\ngo 1.21\n",
		"main.go": "package main\n\nfunc main() {}\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(dir, "both")
	cmd := exec.Command(goTool, "build", "-trimpath", "-o", out, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=-buildvcs=false", "GOWORK=off", "CGO_ENABLED=0", "GOOS=linux", "GOTOOLCHAIN=local")
	if log, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, log)
	}
	sec := filepath.Join(dir, "dep-v0")
	if err := os.WriteFile(sec, testelf.Zlib(t, []byte(auditJSON)), 0o644); err != nil {
		t.Fatal(err)
	}
	if log, err := exec.Command(objcopy, "--add-section", auditSection+"="+sec, out).CombinedOutput(); err != nil {
		t.Skipf("objcopy cannot edit this binary: %v\n%s", err, log)
	}
	bin, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	inv, err := Scan(context.Background(), "linux/amd64", []Layer{layer(t, entry{name: "app/both", body: string(bin), mode: 0o755})})
	if err != nil {
		t.Fatal(err)
	}
	var goNames, crates []string
	for _, p := range inv.Packages {
		if p.Location != "app/both" {
			t.Errorf("Location %q: %+v", p.Location, p)
		}
		switch p.Ecosystem {
		case "Go":
			goNames = append(goNames, p.Name)
		case "crates.io":
			crates = append(crates, p.PURL)
		default:
			t.Errorf("unexpected %+v", p)
		}
	}
	if want := []string{"example.com/both", "stdlib"}; !slices.Equal(goNames, want) {
		t.Errorf("Go modules %v, want %v", goNames, want)
	}
	if want := []string{"pkg:cargo/proc-macro2@1.0.66", "pkg:cargo/serde@1.0.188"}; !slices.Equal(crates, want) {
		t.Errorf("crates %v, want %v", crates, want)
	}
}
