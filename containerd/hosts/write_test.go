package hosts

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWrittenString(t *testing.T) {
	tests := []struct {
		w    Written
		want string
	}{
		{Written{Path: "/d/x/hosts.toml"}, "wrote /d/x/hosts.toml"},
		{Written{Path: "/d/x/hosts.toml", Unchanged: true}, "unchanged /d/x/hosts.toml"},
		{Written{Path: "/d/x/hosts.toml", Backup: "/d/x/hosts.toml.shoal-backup"},
			"wrote (previous file kept as /d/x/hosts.toml.shoal-backup) /d/x/hosts.toml"},
		{Written{Path: "/d/x/hosts.toml", Backup: "/d/x/hosts.toml.shoal-backup", BackupExisted: true},
			"wrote (replacing a hand-written file; /d/x/hosts.toml.shoal-backup already exists and was kept) /d/x/hosts.toml"},
	}
	for _, tt := range tests {
		if got := tt.w.String(); got != tt.want {
			t.Errorf("%#v.String() = %q, want %q", tt.w, got, tt.want)
		}
	}
}

// TestWriteFiles runs one directory through the cases in turn: new files,
// the same files again, a hand-written file, our own earlier file, and a
// second hand-written file when a backup exists.
func TestWriteFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "certs.d")
	files := func(t *testing.T, caps []string, registries ...string) []File {
		t.Helper()
		out, err := Config{Registries: registries, Mirror: "http://127.0.0.1:5000", Capabilities: caps}.Files()
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	pullResolve := []string{"pull", "resolve"}
	ghcr := filepath.Join(dir, "ghcr.io", "hosts.toml")
	mine := []byte("server = \"https://ghcr.io\"\n")
	handWrite := func(body []byte) func(t *testing.T) {
		return func(t *testing.T) {
			if err := os.MkdirAll(filepath.Dir(ghcr), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(ghcr, body, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	steps := []struct {
		name   string
		before func(*testing.T)
		files  []File
		want   []Written
		backup []byte // want ghcr.io's backup to hold this (nil: no backup)
	}{
		{
			name:  "new",
			files: files(t, pullResolve, "docker.io", "127.0.0.1:5001"),
			want:  []Written{{Path: filepath.Join(dir, "docker.io", "hosts.toml")}, {Path: filepath.Join(dir, "127.0.0.1:5001", "hosts.toml")}},
		},
		{
			name:  "same again",
			files: files(t, pullResolve, "docker.io", "127.0.0.1:5001"),
			want: []Written{
				{Path: filepath.Join(dir, "docker.io", "hosts.toml"), Unchanged: true},
				{Path: filepath.Join(dir, "127.0.0.1:5001", "hosts.toml"), Unchanged: true},
			},
		},
		{
			name:   "hand-written file",
			before: handWrite(mine),
			files:  files(t, pullResolve, "ghcr.io"),
			want:   []Written{{Path: ghcr, Backup: ghcr + BackupSuffix}},
			backup: mine,
		},
		{
			name:   "our own earlier file",
			files:  files(t, []string{"pull"}, "ghcr.io"),
			want:   []Written{{Path: ghcr}},
			backup: mine,
		},
		{
			name:   "hand-written again",
			before: handWrite([]byte("# another\n")),
			files:  files(t, pullResolve, "ghcr.io"),
			want:   []Written{{Path: ghcr, Backup: ghcr + BackupSuffix, BackupExisted: true}},
			backup: mine,
		},
	}
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			if step.before != nil {
				step.before(t)
			}
			got, err := WriteFiles(dir, step.files)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(step.want) {
				t.Fatalf("WriteFiles = %v, want %v", got, step.want)
			}
			for i, w := range step.want {
				if got[i] != w {
					t.Errorf("file %d: %#v, want %#v", i, got[i], w)
				}
			}
			for _, f := range step.files {
				path := f.Path(dir)
				b, err := os.ReadFile(path)
				if err != nil || !bytes.Equal(b, f.Body) {
					t.Errorf("%s holds %q, %v; want %q", path, b, err, f.Body)
				}
				if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o644 {
					t.Errorf("%s: %v, %v; want mode 0644", path, fi, err)
				}
			}
			b, err := os.ReadFile(ghcr + BackupSuffix)
			if step.backup == nil && err == nil || step.backup != nil && !bytes.Equal(b, step.backup) {
				t.Errorf("backup holds %q, %v; want %q", b, err, step.backup)
			}
		})
	}

	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && strings.Contains(d.Name(), ".tmp-") {
			t.Errorf("temporary file left: %s", path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestWriteFilesError(t *testing.T) {
	dir := t.TempDir()
	files, err := Config{Registries: []string{"ghcr.io", "docker.io"}, Mirror: "http://127.0.0.1:5000", Capabilities: []string{"pull"}}.Files()
	if err != nil {
		t.Fatal(err)
	}
	// A file where docker.io's directory should be stops the second file;
	// the first is still reported.
	blocker := filepath.Join(dir, "docker.io")
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	written, err := WriteFiles(dir, files)
	if err == nil || !strings.Contains(err.Error(), "creating "+blocker) {
		t.Errorf("err = %v, want a clear error naming the directory", err)
	}
	if len(written) != 1 || written[0].Path != files[0].Path(dir) {
		t.Errorf("written = %v, want the first file only", written)
	}
}

func TestPrint(t *testing.T) {
	files := []File{{Registry: "docker.io", Body: []byte("a\n")}, {Registry: "_default", Body: []byte("b\n")}}
	tests := []struct {
		files []File
		want  string
	}{
		{nil, ""},
		{files[:1], "# /etc/containerd/certs.d/docker.io/hosts.toml\na\n"},
		{files, "# /etc/containerd/certs.d/docker.io/hosts.toml\na\n\n# /etc/containerd/certs.d/_default/hosts.toml\nb\n"},
	}
	for _, tt := range tests {
		var b bytes.Buffer
		if err := Print(&b, tt.files); err != nil {
			t.Fatal(err)
		}
		if b.String() != tt.want {
			t.Errorf("Print(%d files) = %q, want %q", len(tt.files), b.String(), tt.want)
		}
	}
}
