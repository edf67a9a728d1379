package cache

import (
	"bytes"
	"errors"
	"os"
	"testing"
	"time"
)

func TestUploads(t *testing.T) {
	b, d := content(50_000, 300)
	const repo = "team/app"
	type step func(t *testing.T, s *Store, id string) error
	write := func(off int64, p []byte) step {
		return func(t *testing.T, s *Store, id string) error {
			_, err := s.WriteUpload(repo, id, off, bytes.NewReader(p))
			return err
		}
	}
	tests := []struct {
		name    string
		steps   []step
		wantErr error // of the last step
		stored  bool
	}{
		{
			name: "append chunks and commit",
			steps: []step{write(-1, b[:10_000]), write(-1, b[10_000:]), func(t *testing.T, s *Store, id string) error {
				n, err := s.CommitUpload(repo, id, d)
				if err == nil && n != int64(len(b)) {
					t.Fatalf("committed %d bytes", n)
				}
				return err
			}},
			stored: true,
		},
		{
			name: "offset chunks and commit",
			steps: []step{write(0, b[:20_000]), write(20_000, b[20_000:]), func(t *testing.T, s *Store, id string) error {
				_, err := s.CommitUpload(repo, id, d)
				return err
			}},
			stored: true,
		},
		{
			name:    "offset mismatch",
			steps:   []step{write(0, b[:100]), write(50, b[100:200])},
			wantErr: ErrUploadOffset,
		},
		{
			name: "commit wrong digest",
			steps: []step{write(-1, b[:100]), func(t *testing.T, s *Store, id string) error {
				_, err := s.CommitUpload(repo, id, d)
				if !errors.Is(err, ErrDigestMismatch) {
					t.Fatalf("commit err = %v", err)
				}
				// The upload is gone, as in distribution.
				_, err = s.UploadSize(repo, id)
				return err
			}},
			wantErr: ErrUploadUnknown,
		},
		{
			name: "cancel",
			steps: []step{write(-1, b[:100]), func(t *testing.T, s *Store, id string) error {
				if err := s.CancelUpload(repo, id); err != nil {
					t.Fatal(err)
				}
				if _, err := os.Stat(s.uploadPath(id)); !os.IsNotExist(err) {
					t.Fatal("upload file kept after cancel")
				}
				return write(-1, b[100:200])(t, s, id)
			}},
			wantErr: ErrUploadUnknown,
		},
		{
			name: "wrong repo",
			steps: []step{func(t *testing.T, s *Store, id string) error {
				_, err := s.WriteUpload("other/repo", id, -1, bytes.NewReader(b))
				return err
			}},
			wantErr: ErrUploadUnknown,
		},
		{
			name: "unknown id",
			steps: []step{func(t *testing.T, s *Store, id string) error {
				_, err := s.UploadSize(repo, "0123456789abcdef0123456789abcdef")
				return err
			}},
			wantErr: ErrUploadUnknown,
		},
		{
			name: "malformed id",
			steps: []step{func(t *testing.T, s *Store, id string) error {
				_, err := s.CommitUpload(repo, "../../blobs", d)
				return err
			}},
			wantErr: ErrUploadUnknown,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openTest(t, "", Options{})
			id, err := s.NewUpload(repo)
			if err != nil {
				t.Fatal(err)
			}
			for i, st := range tt.steps {
				err = st(t, s, id)
				if i < len(tt.steps)-1 && err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
			}
			if tt.wantErr == nil && err != nil || tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			_, serr := s.StatBlob(d)
			if tt.stored != (serr == nil) {
				t.Fatalf("stored = %v, want %v", serr == nil, tt.stored)
			}
			if tt.stored {
				if !s.BlobLinked(repo, d) || !s.IsLocal(repo) {
					t.Fatal("committed blob not linked locally")
				}
				if _, err := s.UploadSize(repo, id); !errors.Is(err, ErrUploadUnknown) {
					t.Fatalf("upload survives commit: %v", err)
				}
			}
		})
	}
}

func TestUploadSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	b, d := content(10_000, 301)
	s, err := Open(dir, testOptions(Options{}))
	if err != nil {
		t.Fatal(err)
	}
	id, err := s.NewUpload("team/app")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.WriteUpload("team/app", id, 0, bytes.NewReader(b[:4000])); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, dir, Options{})
	if n, err := s.UploadSize("team/app", id); err != nil || n != 4000 {
		t.Fatalf("UploadSize = %d, %v", n, err)
	}
	if _, err := s.WriteUpload("team/app", id, 4000, bytes.NewReader(b[4000:])); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CommitUpload("team/app", id, d); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UploadSize("other", id); !errors.Is(err, ErrUploadUnknown) {
		t.Fatal(err)
	}
}

func TestUploadExpiry(t *testing.T) {
	dir := t.TempDir()
	base := time.Unix(1_700_000_000, 0)
	var now time.Time = base
	s, err := Open(dir, testOptions(Options{clock: func() time.Time { return now }}))
	if err != nil {
		t.Fatal(err)
	}
	old, err := s.NewUpload("r")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Reopen over an idle hour later: the janitor's first pass runs at Open.
	later := base.Add(uploadIdle + time.Hour)
	s = openTest(t, dir, Options{clock: func() time.Time { return later }})
	fresh, err := s.NewUpload("r")
	if err != nil {
		t.Fatal(err)
	}
	s.expireUploads()
	if _, err := s.UploadSize("r", old); !errors.Is(err, ErrUploadUnknown) {
		t.Fatalf("expired upload: %v", err)
	}
	if _, err := s.UploadSize("r", fresh); err != nil {
		t.Fatalf("fresh upload: %v", err)
	}
}
