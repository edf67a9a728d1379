package datadir

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPrepare(t *testing.T) {
	tests := []struct {
		name     string
		files    map[string]string
		wantFrom int
		wantErr  string
	}{
		{name: "new", wantFrom: Current},
		{name: "older release", files: map[string]string{"peer.key": "k"}, wantFrom: 0},
		{name: "format 1", files: map[string]string{File: "shoal data format 1\n", "peer.key": "k"}, wantFrom: 1},
		{name: "current", files: map[string]string{File: "shoal data format 2\n", "peer.key": "k"}, wantFrom: 2},
		{name: "newer", files: map[string]string{File: "shoal data format 99\n"}, wantErr: "newer shoal"},
		{name: "damaged", files: map[string]string{File: "\x00\x01garbage"}, wantErr: "does not say a format"},
		{name: "format zero written", files: map[string]string{File: "shoal data format 0\n"}, wantErr: "does not say a format"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, body := range tt.files {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			before, _ := os.ReadFile(filepath.Join(dir, File))
			from, err := Prepare(dir)
			after, _ := os.ReadFile(filepath.Join(dir, File))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Prepare = %d, %v; want an error with %q", from, err, tt.wantErr)
				}
				if string(after) != string(before) {
					t.Fatalf("a refused data dir was changed: %q → %q", before, after)
				}
				return
			}
			if err != nil || from != tt.wantFrom {
				t.Fatalf("Prepare = %d, %v; want %d", from, err, tt.wantFrom)
			}
			if got, err := Read(dir); err != nil || got != Current {
				t.Fatalf("after Prepare the format is %d, %v; want %d", got, err, Current)
			}
			if string(after) != "shoal data format 2\n" {
				t.Fatalf("FORMAT holds %q", after)
			}
		})
	}
}
