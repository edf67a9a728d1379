package repository

import (
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
)

func TestParseReference(t *testing.T) {
	d := digest.Digest("sha256:" + strings.Repeat("a", 64))
	for _, tt := range []struct {
		in     string
		want   Reference
		target string
		err    bool
	}{
		{in: "alpine", want: Reference{Name: "alpine"}, target: "latest"},
		{in: "alpine:3.20", want: Reference{Name: "alpine", Tag: "3.20"}, target: "3.20"},
		{in: "127.0.0.1:5000/team/app", want: Reference{Name: "127.0.0.1:5000/team/app"}, target: "latest"},
		{in: "127.0.0.1:5000/team/app:v1", want: Reference{Name: "127.0.0.1:5000/team/app", Tag: "v1"}, target: "v1"},
		{in: "a/b@" + d.String(), want: Reference{Name: "a/b", Digest: d}, target: d.String()},
		{in: "a/b:1@" + d.String(), want: Reference{Name: "a/b", Tag: "1", Digest: d}, target: d.String()},
		{in: "", err: true},
		{in: ":tag", err: true},
		{in: "a@sha256:xyz", err: true},
		{in: "a:bad tag", err: true},
	} {
		got, err := ParseReference(tt.in)
		if (err != nil) != tt.err || (!tt.err && got != tt.want) {
			t.Errorf("ParseReference(%q) = %+v, %v; want %+v (error %v)", tt.in, got, err, tt.want, tt.err)
			continue
		}
		if !tt.err {
			if got.Target() != tt.target {
				t.Errorf("%q: Target() = %q, want %q", tt.in, got.Target(), tt.target)
			}
			if got.String() != tt.in {
				t.Errorf("%q: String() = %q", tt.in, got.String())
			}
		}
	}
}
