package cache

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
)

func openEncrypted(t testing.TB, dir string, opts Options) *Store {
	t.Helper()
	if opts.EncryptionKey == nil {
		opts.EncryptionKey = testKey(1)
	}
	return openTest(t, dir, opts)
}

var sealedSizes = []struct {
	name string
	n    int
}{
	{"empty", 0},
	{"one byte", 1},
	{"chunk-1", chunkSize - 1},
	{"chunk", chunkSize},
	{"chunk+1", chunkSize + 1},
	{"three chunks", 3 * chunkSize},
	{"many chunks", 17*chunkSize + 4321},
}

// TestSealedRoundTrip writes blobs of awkward sizes by each write path of
// an encrypted store and reads them back.
func TestSealedRoundTrip(t *testing.T) {
	writers := []struct {
		name  string
		write func(t *testing.T, s *Store, b []byte, d digest.Digest)
	}{
		{"PutBlob", func(t *testing.T, s *Store, b []byte, d digest.Digest) {
			if _, err := s.PutBlob(d, bytes.NewReader(b)); err != nil {
				t.Fatal(err)
			}
		}},
		{"Fetch", func(t *testing.T, s *Store, b []byte, d digest.Digest) {
			onAdd, wait := addedWatcher()
			s.opts.OnAdd = onAdd
			r, err := s.Fetch(t.Context(), d, staticSource(b, nil))
			if err != nil {
				t.Fatal(err)
			}
			if got := readAll(t, r); !bytes.Equal(got, b) {
				t.Fatal("fetch reader content differs")
			}
			r.Close()
			wait(t, d)
		}},
		{"upload", func(t *testing.T, s *Store, b []byte, d digest.Digest) {
			id, err := s.NewUpload("lib/up")
			if err != nil {
				t.Fatal(err)
			}
			// Appends of varied sizes, crossing chunk boundaries.
			rest, step := b, 1000
			for len(rest) > 0 {
				m := min(step, len(rest))
				off, _ := s.UploadSize("lib/up", id)
				if n, err := s.WriteUpload("lib/up", id, off, bytes.NewReader(rest[:m])); err != nil || n != off+int64(m) {
					t.Fatalf("WriteUpload = %d, %v", n, err)
				}
				rest, step = rest[m:], step*3+7
			}
			if n, err := s.UploadSize("lib/up", id); err != nil || n != int64(len(b)) {
				t.Fatalf("UploadSize = %d, %v", n, err)
			}
			if _, err := s.CommitUpload("lib/up", id, d); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, w := range writers {
		for i, sz := range sealedSizes {
			t.Run(w.name+"/"+sz.name, func(t *testing.T) {
				s := openEncrypted(t, "", Options{})
				b, d := content(sz.n, uint64(100+i))
				w.write(t, s, b, d)
				fi, err := os.Stat(s.blobPath(d))
				if err != nil {
					t.Fatal(err)
				}
				if fi.Size() != sealedSize(int64(sz.n)) {
					t.Fatalf("file has %d bytes, want %d", fi.Size(), sealedSize(int64(sz.n)))
				}
				if n, ok := plainSize(fi.Size()); !ok || n != int64(sz.n) {
					t.Fatalf("plainSize = %d, %v", n, ok)
				}
				r, err := s.OpenBlob(d)
				if err != nil {
					t.Fatal(err)
				}
				defer r.Close()
				if r.Size != int64(sz.n) {
					t.Fatalf("Size = %d", r.Size)
				}
				checkStoredContentSealed(t, r)
				if got := readAll(t, r); !bytes.Equal(got, b) {
					t.Fatal("content differs")
				}
				if end, err := r.Content.Seek(0, io.SeekEnd); err != nil || end != int64(sz.n) {
					t.Fatalf("Seek end = %d, %v", end, err)
				}
			})
		}
	}
}

func checkStoredContentSealed(t testing.TB, r *Reader) {
	t.Helper()
	if _, ok := r.Content.(*blobReader); !ok || !r.Complete() {
		t.Fatalf("Content is %T (complete %v), want a complete *blobReader", r.Content, r.Complete())
	}
}

// TestSealedRangeReads compares random ranges of an encrypted blob, read
// directly and through net/http, with the plaintext.
func TestSealedRangeReads(t *testing.T) {
	s := openEncrypted(t, "", Options{})
	b, _ := content(9*chunkSize+777, 200)
	d := putBlob(t, s, b)
	r, err := s.OpenBlob(d)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 300 {
		off := rng.Int64N(int64(len(b)))
		n := rng.Int64N(3*chunkSize) + 1
		if i%10 == 0 {
			n = 1
		}
		end := min(off+n, int64(len(b)))
		if _, err := r.Content.Seek(off, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, end-off)
		if _, err := io.ReadFull(r.Content, got); err != nil {
			t.Fatalf("range %d-%d: %v", off, end, err)
		}
		if !bytes.Equal(got, b[off:end]) {
			t.Fatalf("range %d-%d differs", off, end)
		}
	}
	// Through net/http, as the registry serves it.
	for _, rg := range [][2]int{{0, 0}, {chunkSize - 3, chunkSize + 3}, {len(b) - 10, len(b) - 1}, {5, 4 * chunkSize}} {
		req := httptest.NewRequest(http.MethodGet, "/blob", nil)
		req.Header.Set("Range", "bytes="+strconv.Itoa(rg[0])+"-"+strconv.Itoa(rg[1]))
		rec := httptest.NewRecorder()
		http.ServeContent(rec, req, "", time.Time{}, r.Content)
		if rec.Code != http.StatusPartialContent || !bytes.Equal(rec.Body.Bytes(), b[rg[0]:rg[1]+1]) {
			t.Fatalf("range %v: status %d, %d bytes", rg, rec.Code, rec.Body.Len())
		}
	}
}

// TestSealedFollowReader follows an encrypted blob while it arrives: only
// whole chunks are readable until the fetch ends, then the partial last one.
func TestSealedFollowReader(t *testing.T) {
	onAdd, waitAdded := addedWatcher()
	s := openEncrypted(t, "", Options{OnAdd: onAdd})
	b, d := content(3*chunkSize+500, 300)
	src, pw := pipeSource(int64(len(b)), nil)
	defer pw.Close()
	r, err := s.Fetch(t.Context(), d, src)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Complete() {
		t.Fatal("in-flight reader says Complete")
	}
	// A chunk and a half: the first chunk is readable, the second not.
	if _, err := pw.Write(b[:chunkSize+chunkSize/2]); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, chunkSize)
	if _, err := io.ReadFull(r.Content, got); err != nil || !bytes.Equal(got, b[:chunkSize]) {
		t.Fatalf("first chunk: %v", err)
	}
	done := make(chan []byte, 1)
	go func() {
		p := make([]byte, 10)
		if _, err := io.ReadFull(r.Content, p); err != nil {
			t.Errorf("second chunk: %v", err)
		}
		done <- p
	}()
	select {
	case <-done:
		t.Fatal("a partly written chunk was readable")
	case <-time.After(50 * time.Millisecond):
	}
	// The rest, except the final partial chunk's last bytes.
	if _, err := pw.Write(b[chunkSize+chunkSize/2 : 3*chunkSize+100]); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-done:
		if !bytes.Equal(p, b[chunkSize:chunkSize+10]) {
			t.Fatal("second chunk differs")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("whole chunk never readable")
	}
	// A second follower seeks into the last, partial chunk: it waits for
	// the end of the fetch.
	r2, err := s.Fetch(t.Context(), d, src)
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	if _, err := r2.Content.Seek(3*chunkSize+50, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	tail := make(chan []byte, 1)
	go func() {
		p, err := io.ReadAll(r2.Content)
		if err != nil {
			t.Errorf("tail: %v", err)
		}
		tail <- p
	}()
	select {
	case <-tail:
		t.Fatal("the partial last chunk was readable before the fetch ended")
	case <-time.After(50 * time.Millisecond):
	}
	go feed(pw, b[3*chunkSize+100:], 1000)
	select {
	case p := <-tail:
		if !bytes.Equal(p, b[3*chunkSize+50:]) {
			t.Fatal("tail differs")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("tail never readable")
	}
	if _, err := r.Content.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	if all := readAll(t, r); !bytes.Equal(all, b) {
		t.Fatal("full follow differs")
	}
	waitAdded(t, d)
}

// TestSealedTamper alters stored ciphertext in many ways: reads must fail
// with ErrCorrupt, never return other bytes.
func TestSealedTamper(t *testing.T) {
	b, _ := content(4*chunkSize+1000, 400)
	// Offsets into the file of a blob of len(b) bytes.
	last := recordOffset(4)
	tests := []struct {
		name   string
		mutate func(p []byte) []byte
		// atOpen: OpenBlob itself fails (the size no longer fits).
		atOpen bool
	}{
		{"salt", func(p []byte) []byte { p[len(fileMagic)+5] ^= 1; return p }, false},
		{"magic", func(p []byte) []byte { p[0] ^= 1; return p }, true},
		{"nonce of chunk 0", func(p []byte) []byte { p[headerSize+3] ^= 1; return p }, false},
		{"ciphertext of chunk 1", func(p []byte) []byte { p[recordOffset(1)+nonceSize+100] ^= 0x80; return p }, false},
		{"tag of chunk 2", func(p []byte) []byte { p[recordOffset(3)-1] ^= 1; return p }, false},
		{"final chunk", func(p []byte) []byte { p[last+nonceSize+1] ^= 1; return p }, false},
		{"chunks swapped", func(p []byte) []byte {
			a := append([]byte(nil), p[recordOffset(1):recordOffset(2)]...)
			copy(p[recordOffset(1):], p[recordOffset(2):recordOffset(3)])
			copy(p[recordOffset(2):], a)
			return p
		}, false},
		{"truncated", func(p []byte) []byte { return p[:len(p)-1] }, true},
		{"appended", func(p []byte) []byte { return append(p, 0) }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s := openEncrypted(t, dir, Options{})
			d := putBlob(t, s, b)
			p, err := os.ReadFile(s.blobPath(d))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(s.blobPath(d), tt.mutate(p), 0o644); err != nil {
				t.Fatal(err)
			}
			r, err := s.OpenBlob(d)
			if tt.atOpen {
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("OpenBlob = %v, want ErrCorrupt", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("OpenBlob: %v", err)
			}
			defer r.Close()
			got, err := io.ReadAll(r.Content)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("read err = %v, want ErrCorrupt", err)
			}
			if !bytes.Equal(got, b[:len(got)]) {
				t.Fatal("wrong bytes returned before the error")
			}
		})
	}
}

// TestSealedManifestTamper: a manifest whose stored bytes were altered is
// an error, not a different manifest.
func TestSealedManifestTamper(t *testing.T) {
	s := openEncrypted(t, "", Options{})
	body := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}`)
	d := digest.FromBytes(body)
	rec := ManifestRecord{Digest: d, MediaType: "application/vnd.oci.image.manifest.v1+json"}
	if err := s.PutManifest("lib/m", true, rec, body, "v1"); err != nil {
		t.Fatal(err)
	}
	if _, got, err := s.GetManifest("lib/m", d); err != nil || !bytes.Equal(got, body) {
		t.Fatalf("GetManifest = %q, %v", got, err)
	}
	p, _ := os.ReadFile(s.blobPath(d))
	p[len(p)-20] ^= 1
	if err := os.WriteFile(s.blobPath(d), p, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, got, err := s.GetManifest("lib/m", d); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("GetManifest of altered file = %q, %v; want ErrCorrupt", got, err)
	}
}

// TestEncryptionKeyMismatch: a store opens only the way it was created.
func TestEncryptionKeyMismatch(t *testing.T) {
	keyA, keyB := testKey(10), testKey(11)
	tests := []struct {
		name            string
		create, reopen  []byte
		removeCheckFile bool
		wantErr         error
	}{
		{"same key", keyA, keyA, false, nil},
		{"no key both times", nil, nil, false, nil},
		{"wrong key", keyA, keyB, false, ErrEncryptionKey},
		{"no key for encrypted store", keyA, nil, false, ErrEncryptionKey},
		{"key for plain store", nil, keyA, false, ErrEncryptionKey},
		{"wrong key, check file lost", keyA, keyB, true, ErrEncryptionKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s, err := Open(dir, Options{EncryptionKey: tt.create})
			if err != nil {
				t.Fatal(err)
			}
			b, _ := content(2*chunkSize+5, 500)
			d := putBlob(t, s, b)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if tt.removeCheckFile {
				if err := os.Remove(filepath.Join(dir, encryptionFile)); err != nil {
					t.Fatal(err)
				}
			}
			s, err = Open(dir, Options{EncryptionKey: tt.reopen})
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Open = %v, want %v", err, tt.wantErr)
				}
				t.Logf("Open: %v", err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			r, err := s.OpenBlob(d)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if got := readAll(t, r); !bytes.Equal(got, b) {
				t.Fatal("content differs after reopen")
			}
		})
	}
	for _, n := range []int{0, 16, 31, 33} {
		if _, err := Open(t.TempDir(), Options{EncryptionKey: make([]byte, n)}); err == nil {
			t.Fatalf("Open with a %d-byte key succeeded", n)
		}
	}
}

// TestSealedUploadRollback: an append that fails midway leaves the upload
// as it was, and it can go on with other bytes.
func TestSealedUploadRollback(t *testing.T) {
	s := openEncrypted(t, "", Options{})
	b, d := content(2*chunkSize+300, 600)
	id, err := s.NewUpload("lib/up")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.WriteUpload("lib/up", id, 0, bytes.NewReader(b[:chunkSize+100])); err != nil {
		t.Fatal(err)
	}
	junk, _ := content(chunkSize, 601)
	failing := io.MultiReader(bytes.NewReader(junk), iotestErrReader{})
	if n, err := s.WriteUpload("lib/up", id, chunkSize+100, failing); err == nil || n != chunkSize+100 {
		t.Fatalf("failing WriteUpload = %d, %v", n, err)
	}
	if n, err := s.UploadSize("lib/up", id); err != nil || n != chunkSize+100 {
		t.Fatalf("UploadSize after rollback = %d, %v", n, err)
	}
	if _, err := s.WriteUpload("lib/up", id, chunkSize+100, bytes.NewReader(b[chunkSize+100:])); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CommitUpload("lib/up", id, d); err != nil {
		t.Fatal(err)
	}
	r, err := s.OpenBlob(d)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if got := readAll(t, r); !bytes.Equal(got, b) {
		t.Fatal("content differs")
	}
}

type iotestErrReader struct{}

func (iotestErrReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }

const plaintextMarker = "SHOAL-PLAINTEXT-MARKER"

// TestNoPlaintextAtRest writes blobs, manifests, tags, an upload and a
// fetch in flight that all carry a marker, and checks that no file under
// the store's directory holds it. The same run on a store without a key
// must find it, which shows the check can see it.
func TestNoPlaintextAtRest(t *testing.T) {
	for _, tt := range []struct {
		name      string
		key       []byte
		wantFound bool
	}{
		{"plain store (control)", nil, true},
		{"encrypted", testKey(20), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s, err := Open(dir, Options{EncryptionKey: tt.key})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			marked := bytes.Repeat([]byte(plaintextMarker+" "), 3*chunkSize/len(plaintextMarker))
			blobD := putBlob(t, s, marked)
			small := putBlob(t, s, []byte(plaintextMarker))
			body := []byte(`{"schemaVersion":2,"annotations":{"note":"` + plaintextMarker + `"}}`)
			md := digest.FromBytes(body)
			rec := ManifestRecord{Digest: md, MediaType: "application/vnd.oci.image.manifest.v1+json",
				Annotations: map[string]string{"note": plaintextMarker}, Blobs: []digest.Digest{blobD, small}}
			repo := "lib/" + strings.ToLower(plaintextMarker)
			if err := s.PutManifest(repo, true, rec, body, plaintextMarker); err != nil {
				t.Fatal(err)
			}
			// An upload in progress and a fetch in flight.
			id, err := s.NewUpload(repo)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.WriteUpload(repo, id, 0, bytes.NewReader(marked[:chunkSize+1000])); err != nil {
				t.Fatal(err)
			}
			fb := append([]byte(plaintextMarker), marked...)
			fd := digest.FromBytes(fb)
			src, pw := pipeSource(int64(len(fb)), nil)
			fr, err := s.Fetch(t.Context(), fd, src)
			if err != nil {
				t.Fatal(err)
			}
			defer fr.Close()
			if _, err := pw.Write(fb[:2*chunkSize+7]); err != nil {
				t.Fatal(err)
			}
			// Wait until the fetch has sealed its first chunks to disk.
			if _, err := io.ReadFull(fr.Content, make([]byte, chunkSize)); err != nil {
				t.Fatal(err)
			}
			if got := markerFiles(t, dir); (len(got) > 0) != tt.wantFound {
				t.Fatalf("marker found in %v (open store)", got)
			}

			// Range reads still work.
			r, err := s.OpenBlob(blobD)
			if err != nil {
				t.Fatal(err)
			}
			off := int64(2*chunkSize - 5)
			if _, err := r.Content.Seek(off, io.SeekStart); err != nil {
				t.Fatal(err)
			}
			got := make([]byte, 100)
			if _, err := io.ReadFull(r.Content, got); err != nil || !bytes.Equal(got, marked[off:off+100]) {
				t.Fatalf("range read: %v", err)
			}
			r.Close()
			if _, gotBody, err := s.GetManifest(repo, md); err != nil || !bytes.Equal(gotBody, body) {
				t.Fatalf("GetManifest: %v", err)
			}

			pw.CloseWithError(errors.New("stop"))
			fr.Close()
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			// After Close badger has flushed its tables.
			if got := markerFiles(t, dir); (len(got) > 0) != tt.wantFound {
				t.Fatalf("marker found in %v (closed store)", got)
			}
		})
	}
}

// markerFiles lists the files under dir that contain plaintextMarker.
func markerFiles(t *testing.T, dir string) []string {
	t.Helper()
	var found []string
	n := 0
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		n++
		if bytes.Contains(b, []byte(plaintextMarker)) || bytes.Contains(bytes.ToLower(b), []byte(strings.ToLower(plaintextMarker))) {
			found = append(found, strings.TrimPrefix(p, dir))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 5 {
		t.Fatalf("only %d files under %s", n, dir)
	}
	return found
}

func TestParseKey(t *testing.T) {
	raw, _ := content(KeySize, 42)
	tests := []struct {
		name string
		in   []byte
		ok   bool
	}{
		{"raw", raw, true},
		{"hex", []byte(hex.EncodeToString(raw)), true},
		{"hex with newline", []byte(hex.EncodeToString(raw) + "\n"), true},
		{"upper hex", []byte(strings.ToUpper(hex.EncodeToString(raw))), true},
		{"base64", []byte(base64.StdEncoding.EncodeToString(raw) + "\n"), true},
		{"base64 url raw", []byte(base64.RawURLEncoding.EncodeToString(raw)), true},
		{"empty", nil, false},
		{"raw 31", raw[:31], false},
		{"raw 33", append(append([]byte(nil), raw...), 0), false},
		{"hex of 16", []byte(hex.EncodeToString(raw[:16])), false},
		{"base64 of 48", []byte(base64.StdEncoding.EncodeToString(append(raw, raw[:16]...))), false},
		{"words", []byte("correct horse battery staple"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := ParseKey(tt.in)
			if tt.ok != (err == nil) {
				t.Fatalf("ParseKey err = %v, want ok=%v", err, tt.ok)
			}
			if tt.ok && !bytes.Equal(k, raw) {
				t.Fatal("wrong key")
			}
		})
	}
	p := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(p, raw[:20], 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadKeyFile(p); err == nil || !strings.Contains(err.Error(), p) {
		t.Fatalf("ReadKeyFile of a short key = %v", err)
	}
}

// TestSealedFetchFailureLeavesNothing: a fetch that fails verification in
// an encrypted store stores nothing, as without encryption.
func TestSealedFetchFailureLeavesNothing(t *testing.T) {
	s := openEncrypted(t, "", Options{})
	b, _ := content(2*chunkSize+9, 700)
	_, wrong := content(10, 701)
	r, err := s.Fetch(t.Context(), wrong, func(context.Context) (io.ReadCloser, int64, error) {
		return io.NopCloser(bytes.NewReader(b)), int64(len(b)), nil
	})
	if err == nil {
		_, err = io.ReadAll(r.Content)
		r.Close()
	}
	if !errors.Is(err, ErrDigestMismatch) {
		t.Fatalf("err = %v, want ErrDigestMismatch", err)
	}
	if _, err := s.StatBlob(wrong); !errors.Is(err, ErrNotFound) {
		t.Fatalf("StatBlob = %v", err)
	}
}
