package pull_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/shoal-dev/shoal/oci"
	"github.com/shoal-dev/shoal/pull"
	"github.com/shoal-dev/shoal/pull/pulltest"
	"github.com/shoal-dev/shoal/repository"
)

// A blob the store holds for one repository is not readable through
// another that does not hold it (issue 10, finding 1): a mirrored
// repository holds a blob through a link, or through a manifest stored in
// it that references the blob; for anything else upstream is asked,
// under that repository's name, before the blob is served and linked.
func TestBlobReadsNeedTheRepository(t *testing.T) {
	private := []byte("a private layer, pulled through up/private/app")
	pd := digest.FromBytes(private)
	probe := repository.Mirror("up", "allowed/doesnotexist")
	tests := []struct {
		name     string
		setup    func(e *env)
		wantCode string // "" = served
		linked   bool   // the blob is linked into probe afterwards
	}{
		{
			name: "stored for another repository, upstream does not have it here",
			setup: func(e *env) {
				e.store.AddBlob(private)
			},
			wantCode: "BLOB_UNKNOWN",
		},
		{
			name: "stored, upstream confirms it under this repository's name",
			setup: func(e *env) {
				e.store.AddBlob(private)
				e.up.PutBlob(private)
			},
			linked: true,
		},
		{
			name: "referenced by a manifest stored in this repository",
			setup: func(e *env) {
				e.store.AddBlob(private)
				e.store.PutManifest(probe.Key(), &oci.Manifest{Digest: digest.FromString("m"), Bytes: []byte("m")},
					&oci.ManifestInfo{Blobs: []ocispec.Descriptor{{Digest: pd}}})
			},
		},
		{
			name: "stored, upstream down: no answer that tells it is stored",
			setup: func(e *env) {
				e.store.AddBlob(private)
				e.up.Err = pulltest.Down
			},
			wantCode: "UNAVAILABLE",
		},
	}
	for _, tt := range tests {
		for _, stat := range []bool{false, true} {
			name := tt.name + ", GET"
			if stat {
				name = tt.name + ", HEAD"
			}
			t.Run(name, func(t *testing.T) {
				e := newEnv()
				e.alone()
				tt.setup(e)
				p := e.puller(t)
				var err error
				if stat {
					_, err = p.StatBlob(context.Background(), probe, pd)
				} else {
					var b interface{ Close() error }
					bl, berr := p.Blob(context.Background(), probe, pd)
					if berr == nil {
						b = closer(bl.Close)
						b.Close()
					}
					err = berr
				}
				if tt.wantCode == "" {
					if err != nil {
						t.Fatalf("refused: %v", err)
					}
				} else {
					var oe *oci.Error
					if !errors.As(err, &oe) || oe.Code != tt.wantCode {
						t.Fatalf("err = %v, want %s", err, tt.wantCode)
					}
					if oe.Code == "BLOB_UNKNOWN" && oe.Status != http.StatusNotFound {
						t.Fatalf("status %d", oe.Status)
					}
				}
				if got := e.store.BlobLinked(probe.Key(), pd); got != tt.linked {
					t.Fatalf("linked into %s: %v, want %v", probe, got, tt.linked)
				}
			})
		}
	}
}

type closer func() error

func (c closer) Close() error { return c() }

// A peer is answered only with what the repository it names holds here
// (issue 10, finding 2): by digest alone, any node's private manifest or
// blob was fetched through any name.
func TestPeersAnsweredOnlyFromTheRepository(t *testing.T) {
	private := []byte("a private manifest or layer")
	pd := digest.FromBytes(private)
	hasRule := func(r string) bool { return r == "up" }
	tests := []struct {
		name  string
		repo  repository.Name
		setup func(e *env)
		want  bool
	}{
		{"the repository holds it", repository.Local("team/private"), func(e *env) {
			e.store.Push("team/private", "application/octet-stream", []byte("m"), []digest.Digest{pd})
		}, true},
		{"another local repository", repository.Local("team/allowed"), func(e *env) {
			e.store.Push("team/private", "application/octet-stream", []byte("m"), []digest.Digest{pd})
		}, false},
		{"no repository named", repository.Name{}, func(e *env) {
			e.store.Push("team/private", "application/octet-stream", []byte("m"), []digest.Digest{pd})
		}, false},
		{"a mirrored repository whose upstream does not have it", repository.Mirror("up", "allowed/app"), func(e *env) {}, false},
		{"a mirrored repository whose upstream confirms it", repository.Mirror("up", "allowed/app"), func(e *env) { e.up.PutBlob(private) }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv()
			e.alone()
			e.store.AddBlob(private)
			tt.setup(e)
			p := e.puller(t)
			b, _, err := p.ForPeer(context.Background(), pd, tt.repo, hasRule)
			if b != nil {
				b.Close()
			}
			if (err == nil) != tt.want {
				t.Fatalf("ForPeer(%s) = %v, want served %v", tt.repo, err, tt.want)
			}
		})
	}
}

// A local repository another node holds shows a blob this node stores
// (fetched through the fleet before, or stored for another repository)
// when a peer's repository of that name holds it, and remembers that.
// The second read of a blob fetched through the fleet used to be
// refused: the fetch stored it without linking it, and a stored blob the
// repository did not hold was refused without asking anyone.
func TestFleetRepositoryConfirmsStoredBlobsWithPeers(t *testing.T) {
	content := []byte("a layer of team/app, pushed on another node")
	d := digest.FromBytes(content)
	read := func(p interface {
		Blob(context.Context, repository.Name, digest.Digest) (*oci.Blob, error)
		StatBlob(context.Context, repository.Name, digest.Digest) (int64, error)
	}, stat bool) error {
		if stat {
			_, err := p.StatBlob(context.Background(), local, d)
			return err
		}
		b, err := p.Blob(context.Background(), local, d)
		if err == nil {
			readBlob(t, b)
		}
		return err
	}
	tests := []struct {
		name      string
		setup     func(t *testing.T, e *env, p *pull.Puller)
		peerHolds bool
	}{
		{"fetched through the fleet before", func(t *testing.T, e *env, p *pull.Puller) {
			if err := read(p, false); err != nil {
				t.Fatalf("the first read through the fleet: %v", err)
			}
		}, true},
		{"stored for another repository, a peer's repository holds it", func(t *testing.T, e *env, p *pull.Puller) {
			e.store.AddBlob(content)
		}, true},
		{"stored for another repository, no peer's repository holds it", func(t *testing.T, e *env, p *pull.Puller) {
			e.store.AddBlob(content)
		}, false},
	}
	for _, tt := range tests {
		for _, stat := range []bool{false, true} {
			name := tt.name + ", GET"
			if stat {
				name = tt.name + ", HEAD"
			}
			t.Run(name, func(t *testing.T) {
				e := newEnv()
				if tt.peerHolds {
					e.peers.Hold(d, "application/octet-stream", content)
				}
				p := e.puller(t)
				tt.setup(t, e, p)
				err := read(p, stat)
				if !tt.peerHolds {
					wantNotFound(t, err, "BLOB_UNKNOWN")
					return
				}
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if !e.store.BlobLinked(local.Key(), d) {
					t.Errorf("not remembered: %s is not linked into %s", d, local)
				}
				for _, f := range e.peers.Fetched {
					if !strings.HasSuffix(f, "(holders only)") {
						t.Errorf("peers asked %q: a local repository's blob is asked of its holders only", f)
					}
				}
			})
		}
	}
}

// A blob that was not stored when a read checked the repository, and is
// stored (or being fetched) for another repository by the time it is
// read, is not served through a repository whose source does not have
// it: the store shares one transfer among everyone asking for a digest
// and serves what it holds, so "not stored: the fetch is the check" held
// only when the read's own source filled it. The window is as long as the
// other fetch (found by the whole-node property test, where a blob fetched
// through the fleet was committed just after the read that fetched it).
func TestBlobArrivingAfterTheCheckIsCheckedToo(t *testing.T) {
	content := []byte("a private layer, fetched for private/app meanwhile")
	d := digest.FromBytes(content)
	hasRule := func(r string) bool { return r == "docker.io" }
	tests := []struct {
		name string
		read func(p *pull.Puller) error
	}{
		{"GET through a mirrored repository", func(p *pull.Puller) error {
			b, err := p.Blob(context.Background(), mirrored, d)
			if err == nil {
				b.Close()
			}
			return err
		}},
		{"HEAD through a mirrored repository", func(p *pull.Puller) error {
			_, err := p.StatBlob(context.Background(), mirrored, d)
			return err
		}},
		{"GET through a fleet repository", func(p *pull.Puller) error {
			b, err := p.Blob(context.Background(), local, d)
			if err == nil {
				b.Close()
			}
			return err
		}},
		{"HEAD through a fleet repository", func(p *pull.Puller) error {
			_, err := p.StatBlob(context.Background(), local, d)
			return err
		}},
		{"a peer asking for a mirrored repository", func(p *pull.Puller) error {
			b, _, err := p.ForPeer(context.Background(), d, mirrored, hasRule)
			if err == nil {
				b.Close()
			}
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv()
			var once sync.Once
			e.store.AfterStat = func(digest.Digest) { once.Do(func() { e.store.AddBlob(content) }) }
			err := tt.read(e.puller(t))
			if !errors.Is(err, pull.ErrNotFound) {
				t.Fatalf("served, or not refused as unknown: %v", err)
			}
			if e.store.BlobLinked(mirrored.Key(), d) || e.store.BlobLinked(local.Key(), d) {
				t.Fatal("linked into a repository that does not hold it")
			}
		})
	}
}
