package repository

import (
	"errors"
	"testing"

	"github.com/shoal-dev/shoal/oci"
)

func testResolver() Resolver {
	rules := map[string]bool{"docker.io": true, "ghcr.io": true, "127.0.0.1:5001": true}
	return Resolver{
		HasRule: func(n string) bool { return rules[n] },
		Default: "docker.io",
		IsLocal: func(k string) bool { return k == "myteam/app" },
	}
}

func TestResolve(t *testing.T) {
	r := testResolver()
	tests := []struct {
		name    string
		repo    oci.Repo
		write   bool
		want    Name
		wantKey string
		wantErr error
	}{
		{name: "rule prefix", repo: oci.Repo{Name: "ghcr.io/org/img"}, want: Name{Rule: "ghcr.io", Path: "org/img"}, wantKey: "ghcr.io/org/img"},
		{name: "docker.io one-part name gets library/", repo: oci.Repo{Name: "docker.io/alpine"}, want: Name{Rule: "docker.io", Path: "library/alpine"}, wantKey: "docker.io/library/alpine"},
		{name: "docker.io two-part name kept", repo: oci.Repo{Name: "docker.io/bitnami/redis"}, want: Name{Rule: "docker.io", Path: "bitnami/redis"}, wantKey: "docker.io/bitnami/redis"},
		{name: "ns form", repo: oci.Repo{Name: "library/alpine", NS: "docker.io"}, want: Name{Rule: "docker.io", Path: "library/alpine"}, wantKey: "docker.io/library/alpine"},
		{name: "ns with port", repo: oci.Repo{Name: "test/img", NS: "127.0.0.1:5001"}, want: Name{Rule: "127.0.0.1:5001", Path: "test/img"}, wantKey: "127.0.0.1:5001/test/img"},
		{name: "unknown ns", repo: oci.Repo{Name: "x", NS: "quay.io"}, wantErr: oci.ErrNameUnknown},
		{name: "default upstream for reads", repo: oci.Repo{Name: "alpine"}, want: Name{Rule: "docker.io", Path: "library/alpine"}, wantKey: "docker.io/library/alpine"},
		{name: "local repository wins over default upstream", repo: oci.Repo{Name: "myteam/app"}, want: Name{Path: "myteam/app"}, wantKey: "myteam/app"},
		{name: "writes without a rule are local", repo: oci.Repo{Name: "alpine"}, write: true, want: Name{Path: "alpine"}, wantKey: "alpine"},
		{name: "writes with a rule prefix are mirrored", repo: oci.Repo{Name: "ghcr.io/org/img"}, write: true, want: Name{Rule: "ghcr.io", Path: "org/img"}, wantKey: "ghcr.io/org/img"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := r.Resolve(tt.repo, tt.write)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want || got.Key() != tt.wantKey {
				t.Fatalf("Resolve(%+v) = %+v (%s), %v; want %+v (%s)", tt.repo, got, got.Key(), err, tt.want, tt.wantKey)
			}
			// A name resolved once names the same repository when the
			// client spells it the node's way.
			if again, err := r.Resolve(got.OCI(), tt.write); err != nil || again != got {
				t.Fatalf("Resolve(%+v.OCI()) = %+v, %v", got, again, err)
			}
		})
	}
}

func TestForStoreAndForPull(t *testing.T) {
	r := testResolver()
	tests := []struct {
		in       string
		store    Name
		pull     oci.Repo
		storeErr bool
		pullErr  bool
	}{
		{in: "docker.io/library/alpine", store: Name{Rule: "docker.io", Path: "library/alpine"}, pull: oci.Repo{Name: "library/alpine", NS: "docker.io"}},
		{in: "index.docker.io/alpine", store: Name{Rule: "docker.io", Path: "library/alpine"}, pull: oci.Repo{Name: "alpine", NS: "docker.io"}},
		{in: "myteam/app", store: Name{Path: "myteam/app"}, pull: oci.Repo{Name: "myteam/app"}},
		{in: "quay.io/x/y", store: Name{Path: "quay.io/x/y"}, pullErr: true},
		{in: "Bad/Name", storeErr: true, pullErr: true},
		{in: "ghcr.io/Bad", storeErr: true, pullErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := r.ForStore(tt.in)
			if (err != nil) != tt.storeErr {
				t.Fatalf("ForStore(%q) err = %v", tt.in, err)
			}
			if err == nil && got != tt.store {
				t.Fatalf("ForStore(%q) = %+v, want %+v", tt.in, got, tt.store)
			}
			pr, err := r.ForPull(tt.in)
			if (err != nil) != tt.pullErr {
				t.Fatalf("ForPull(%q) err = %v", tt.in, err)
			}
			if err == nil && pr != tt.pull {
				t.Fatalf("ForPull(%q) = %+v, want %+v", tt.in, pr, tt.pull)
			}
		})
	}
}

// Names in archives and on command lines land where a client's request
// for them would.
func TestForStoreKeys(t *testing.T) {
	r := testResolver()
	for _, tt := range []struct {
		in, want string
		err      bool
	}{
		{in: "docker.io/library/alpine", want: "docker.io/library/alpine"},
		{in: "docker.io/alpine", want: "docker.io/library/alpine"},
		{in: "index.docker.io/alpine", want: "docker.io/library/alpine"},
		{in: "registry-1.docker.io/bitnami/redis", want: "docker.io/bitnami/redis"},
		{in: "ghcr.io/org/img", want: "ghcr.io/org/img"},
		{in: "alpine", want: "alpine"},
		{in: "myteam/app", want: "myteam/app"},
		{in: "registry.example.com/team/app", want: "registry.example.com/team/app"},
		{in: "localhost:5000/team/app", err: true},
		{in: "Upper/case", err: true},
		{in: "ghcr.io/Bad", err: true},
	} {
		got, err := r.ForStore(tt.in)
		if (err != nil) != tt.err || got.Key() != tt.want {
			t.Errorf("ForStore(%q) = %q, %v; want %q (error %v)", tt.in, got.Key(), err, tt.want, tt.err)
		}
	}
}
