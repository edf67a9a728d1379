package cache

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
)

// confirmedBody is a Source's body that vouches for repo (Confirmed).
type confirmedBody struct {
	io.ReadCloser
	repo string
}

func (b confirmedBody) ConfirmedIn() string { return b.repo }

// A body whose source vouches that a repository holds the blob has the
// blob linked there as it is stored; a blob that fails is neither stored
// nor linked, and a repository name the store refuses links nothing.
func TestFetchLinksTheConfirmedRepository(t *testing.T) {
	good, d := content(200_000, 44)
	bad := bytes.Clone(good)
	bad[len(bad)/2] ^= 1
	for _, tc := range []struct {
		name           string
		body           []byte
		repo           string
		stored, linked bool
	}{
		{name: "linked into the repository upstream served it from", body: good, repo: "up/app/img", stored: true, linked: true},
		{name: "a blob that fails its digest: neither stored nor linked", body: bad, repo: "up/app/img"},
		{name: "a name the store refuses: stored, not linked", body: good, repo: "", stored: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			onAdd, waitAdded := addedWatcher()
			s := openTest(t, "", Options{OnAdd: onAdd})
			src := func(context.Context) (io.ReadCloser, int64, error) {
				return confirmedBody{io.NopCloser(bytes.NewReader(tc.body)), tc.repo}, int64(len(tc.body)), nil
			}
			r, err := s.Fetch(t.Context(), d, src)
			if err == nil {
				_, err = io.ReadAll(r.Content)
				r.Close()
			}
			if tc.stored {
				if err != nil {
					t.Fatal(err)
				}
				waitAdded(t, d)
			} else if !errors.Is(err, ErrDigestMismatch) {
				t.Fatalf("err = %v, want a digest mismatch", err)
			}
			if _, err := s.StatBlob(d); (err == nil) != tc.stored {
				t.Errorf("StatBlob err = %v, want stored %v", err, tc.stored)
			}
			if got := s.BlobLinked(tc.repo, d); got != tc.linked {
				t.Errorf("linked into %q: %v, want %v", tc.repo, got, tc.linked)
			}
			if s.BlobLinked("up/app/other", d) {
				t.Error("linked into a repository nobody vouched for")
			}
		})
	}
}
