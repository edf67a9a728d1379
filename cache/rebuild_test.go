package cache

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
)

// damageMeta functions break a closed store's metadata directory.
func deleteMeta(t *testing.T, dir string) {
	if err := os.RemoveAll(filepath.Join(dir, "meta")); err != nil {
		t.Fatal(err)
	}
}

func emptyMeta(t *testing.T, dir string) {
	deleteMeta(t, dir)
	if err := os.Mkdir(filepath.Join(dir, "meta"), 0o700); err != nil {
		t.Fatal(err)
	}
}

// eachMetaFile applies fn to every file in meta/.
func eachMetaFile(t *testing.T, dir string, fn func(p string, b []byte) []byte) {
	es, err := os.ReadDir(filepath.Join(dir, "meta"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		p := filepath.Join(dir, "meta", e.Name())
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, fn(p, b), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func garbageMeta(t *testing.T, dir string) {
	eachMetaFile(t, dir, func(_ string, b []byte) []byte {
		g, _ := content(len(b)+17, uint64(len(b)))
		return g
	})
}

func truncateMeta(t *testing.T, dir string) {
	eachMetaFile(t, dir, func(_ string, b []byte) []byte { return b[:len(b)/2] })
}

func garbageManifestFile(t *testing.T, dir string) {
	g, _ := content(64, 5)
	if err := os.WriteFile(filepath.Join(dir, "meta", "MANIFEST"), g, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestRebuildMetadata(t *testing.T) {
	tests := []struct {
		name   string
		key    []byte
		damage func(t *testing.T, dir string)
		// wrongBlob overwrites one blob file with other bytes too.
		wrongBlob bool
		reason    string // part of Rebuild.Reason; "" for no rebuild
		setAside  bool
	}{
		{name: "whole", damage: func(*testing.T, string) {}},
		{name: "deleted", damage: deleteMeta, reason: "missing"},
		{name: "emptied", damage: emptyMeta, reason: "held no metadata", setAside: true},
		{name: "garbage files", damage: garbageMeta, reason: "could not be opened", setAside: true},
		{name: "garbage MANIFEST", damage: garbageManifestFile, reason: "could not be opened", setAside: true},
		{name: "truncated files", damage: truncateMeta, reason: "could not be opened", setAside: true},
		{name: "blob with wrong content", damage: deleteMeta, wrongBlob: true, reason: "missing"},
		{name: "encrypted deleted", key: testKey(3), damage: deleteMeta, reason: "missing"},
		{name: "encrypted garbage files", key: testKey(3), damage: garbageMeta, reason: "could not be opened", setAside: true},
		{name: "encrypted truncated, wrong blob", key: testKey(3), damage: truncateMeta, wrongBlob: true, reason: "could not be opened", setAside: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			opts := Options{EncryptionKey: tt.key}
			s := openTest(t, dir, opts)
			var blobs []digest.Digest
			for i := range 5 {
				b, _ := content(1000+i*70000, uint64(100+i))
				blobs = append(blobs, putBlob(t, s, b))
			}
			body := []byte(`{"schemaVersion":2}`)
			md := digest.FromBytes(body)
			if err := s.PutManifest("docker.io/library/x", false, ManifestRecord{Digest: md, Held: blobs[:2], Blobs: blobs[:2]}, body, "v1"); err != nil {
				t.Fatal(err)
			}
			blobs = append(blobs, md)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}

			tt.damage(t, dir)
			var wrong digest.Digest
			if tt.wrongBlob {
				wrong = blobs[1]
				p := s.blobPath(wrong)
				fi, err := os.Stat(p)
				if err != nil {
					t.Fatal(err)
				}
				g, _ := content(int(fi.Size()), 77)
				if err := os.WriteFile(p, g, 0o600); err != nil {
					t.Fatal(err)
				}
			}

			s2, err := Open(dir, testOptions(opts))
			if err != nil {
				t.Fatalf("Open after damage: %v", err)
			}
			defer s2.Close()
			rb := s2.Rebuilt()
			if tt.reason == "" {
				if rb != nil {
					t.Fatalf("Rebuilt = %+v, want nil", rb)
				}
				if d, _, err := s2.Tag("docker.io/library/x", "v1"); err != nil || d != md {
					t.Fatalf("Tag = %s, %v", d, err)
				}
			} else {
				if rb == nil || !strings.Contains(rb.Reason, tt.reason) {
					t.Fatalf("Rebuilt = %+v, want a reason with %q", rb, tt.reason)
				}
				if len(rb.Lost) == 0 {
					t.Error("Rebuilt.Lost is empty")
				}
				if _, _, err := s2.Tag("docker.io/library/x", "v1"); !errors.Is(err, ErrNotFound) {
					t.Errorf("Tag after rebuild = %v, want ErrNotFound (tags are lost)", err)
				}
				wantBlobs := len(blobs)
				if wrong != "" {
					wantBlobs--
				}
				if rb.Blobs != wantBlobs {
					t.Errorf("Rebuilt.Blobs = %d, want %d", rb.Blobs, wantBlobs)
				}
				if (rb.SetAside != "") != tt.setAside {
					t.Errorf("Rebuilt.SetAside = %q, want one: %v", rb.SetAside, tt.setAside)
				}
				if rb.SetAside != "" {
					if fi, err := os.Stat(rb.SetAside); err != nil || !fi.IsDir() {
						t.Errorf("set-aside directory: %v", err)
					}
				}
			}
			for _, d := range blobs {
				if d == wrong {
					if _, err := s2.OpenBlob(d); !errors.Is(err, ErrNotFound) {
						t.Errorf("OpenBlob of the wrong blob = %v, want ErrNotFound", err)
					}
					q := filepath.Join(dir, "quarantine", string(d.Algorithm())+"-"+d.Encoded())
					if _, err := os.Stat(q); err != nil {
						t.Errorf("wrong blob not quarantined: %v", err)
					}
					if rb.Quarantined != 1 {
						t.Errorf("Rebuilt.Quarantined = %d, want 1", rb.Quarantined)
					}
					continue
				}
				r, err := s2.OpenBlob(d)
				if err != nil {
					t.Fatalf("OpenBlob(%s): %v", d, err)
				}
				b, err := io.ReadAll(r.Content)
				r.Close()
				if err != nil || digest.FromBytes(b) != d {
					t.Fatalf("blob %s: read %v, digest %s", d, err, digest.FromBytes(b))
				}
			}
			// The rebuilt metadata is whole: the next Open rebuilds nothing.
			if err := s2.Close(); err != nil {
				t.Fatal(err)
			}
			s3 := openTest(t, dir, opts)
			if rb := s3.Rebuilt(); rb != nil {
				t.Errorf("second Open rebuilt again: %+v", rb)
			}
		})
	}
}

// A store in use by another process (here another Store) is not damaged:
// Open must refuse it, not set its metadata aside.
func TestRebuildNotForALockedStore(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir, Options{})
	d := putBlob(t, s, []byte("held"))
	if _, err := Open(dir, testOptions(Options{})); err == nil {
		t.Fatal("a second Open of a store in use succeeded")
	}
	if es, _ := filepath.Glob(filepath.Join(dir, "meta.damaged-*")); len(es) > 0 {
		t.Fatalf("metadata of a store in use set aside: %v", es)
	}
	if _, err := s.StatBlob(d); err != nil {
		t.Fatal(err)
	}
}

// A blob file of another size than its record, which Open no longer
// stats, is caught when read: quarantined and dropped, so the next read
// fetches it again.
func TestDamagedBlobDroppedOnRead(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir, Options{})
	b, _ := content(5000, 8)
	d := putBlob(t, s, b)
	if err := os.WriteFile(s.blobPath(d), b[:4000], 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.OpenBlob(d); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("OpenBlob of a cut file = %v, want ErrCorrupt", err)
	}
	if _, err := s.OpenBlob(d); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second OpenBlob = %v, want ErrNotFound", err)
	}
	if _, err := s.Fetch(t.Context(), d, staticSource(b, nil)); err != nil {
		t.Fatalf("Fetch again: %v", err)
	}
}
