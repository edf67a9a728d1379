package main

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/spf13/pflag"
)

func TestApplyConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "shoal.yaml")
	if err := os.WriteFile(file, []byte("listen: \":7000\"\ndata-dir: /from/file\ntag-ttl: 5m\nupstream:\n  - a=http://a.example\n  - b=http://b.example\nmdns: true\ncache-max-bytes: 1GiB\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want map[string]any
	}{
		{
			name: "file only",
			want: map[string]any{"listen": ":7000", "data-dir": "/from/file", "tag-ttl": "5m0s", "upstream": []string{"a=http://a.example", "b=http://b.example"}, "mdns": "true", "cache-max-bytes": "1073741824"},
		},
		{
			name: "environment beats file",
			env:  map[string]string{"SHOAL_DATA_DIR": "/from/env", "SHOAL_UPSTREAM": "c=http://c.example, d=http://d.example"},
			want: map[string]any{"listen": ":7000", "data-dir": "/from/env", "upstream": []string{"c=http://c.example", "d=http://d.example"}},
		},
		{
			name: "flag beats environment",
			args: []string{"--data-dir", "/from/flag", "--upstream", "e=http://e.example"},
			env:  map[string]string{"SHOAL_DATA_DIR": "/from/env", "SHOAL_UPSTREAM": "c=http://c.example"},
			want: map[string]any{"data-dir": "/from/flag", "upstream": []string{"e=http://e.example"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := newNodeCommand()
			if err := cmd.Flags().Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			if err := applyConfig(cmd.Flags(), file, func(k string) string { return tt.env[k] }); err != nil {
				t.Fatal(err)
			}
			for name, want := range tt.want {
				f := cmd.Flags().Lookup(name)
				var got any = f.Value.String()
				if sv, ok := f.Value.(pflag.SliceValue); ok {
					got = sv.GetSlice()
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("%s = %v, want %v", name, got, want)
				}
			}
		})
	}
}

func TestApplyConfigErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, yaml string
		env        map[string]string
	}{
		{name: "unknown key", yaml: "listen: :1\nno-such-flag: 1\n"},
		{name: "bad duration", yaml: "tag-ttl: soon\n"},
		{name: "bad size", yaml: "cache-max-bytes: lots\n"},
		{name: "bad env", yaml: "", env: map[string]string{"SHOAL_MDNS": "perhaps"}},
		{name: "not yaml", yaml: "listen: [unclosed\n"},
		{name: "map value", yaml: "listen:\n  a: b\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := filepath.Join(dir, tt.name+".yaml")
			if err := os.WriteFile(file, []byte(tt.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			cmd := newNodeCommand()
			if err := applyConfig(cmd.Flags(), file, func(k string) string { return tt.env[k] }); err == nil {
				t.Fatal("want an error")
			}
		})
	}
}

func TestByteSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true}, {"1234", 1234, true}, {"50MiB", 50 << 20, true}, {"2GB", 2e9, true},
		{"1 GiB", 1 << 30, true}, {"10B", 10, true}, {"-1", 0, false}, {"1.5GB", 0, false},
		{"GiB", 0, false}, {"99999999999TiB", 0, false},
	}
	for _, tt := range tests {
		var b byteSize
		err := b.Set(tt.in)
		if (err == nil) != tt.ok || (tt.ok && int64(b) != tt.want) {
			t.Errorf("Set(%q) = %d, %v; want %d, ok=%v", tt.in, b, err, tt.want, tt.ok)
		}
	}
}
