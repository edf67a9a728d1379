package cache

import (
	"bytes"
	"errors"
	"os"
	"testing"
	"time"
)

// Upload sessions were unbounded and kept a day (issue 10, finding 8):
// they are now bounded per repository and in total, and expire after an
// idle hour however old they are; their files are the store's alone.
func TestUploadLimits(t *testing.T) {
	s := openTest(t, "", Options{})
	for i := range maxUploadsPerRepo {
		if _, err := s.NewUpload("busy/repo"); err != nil {
			t.Fatalf("upload %d: %v", i, err)
		}
	}
	if _, err := s.NewUpload("busy/repo"); !errors.Is(err, ErrTooManyUploads) {
		t.Fatalf("upload %d into one repository: %v, want ErrTooManyUploads", maxUploadsPerRepo+1, err)
	}
	id, err := s.NewUpload("another/repo")
	if err != nil {
		t.Fatalf("another repository: %v", err)
	}
	fi, err := os.Stat(s.uploadPath(id))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("upload file mode %v, want 0600", fi.Mode().Perm())
	}
	// Finishing or cancelling frees a place.
	if err := s.CancelUpload("another/repo", id); err != nil {
		t.Fatal(err)
	}
	for i := 0; s.openUploads() < maxUploads; i++ {
		if _, err := s.NewUpload("r" + string(rune('a'+i/maxUploadsPerRepo)) + "/x"); err != nil {
			t.Fatalf("filling to the total: %v", err)
		}
	}
	if _, err := s.NewUpload("last/repo"); !errors.Is(err, ErrTooManyUploads) {
		t.Fatalf("upload past the total: %v, want ErrTooManyUploads", err)
	}
}

func TestUploadIdleExpiry(t *testing.T) {
	base := time.Unix(1_700_000_000, 0)
	now := base
	s := openTest(t, "", Options{clock: func() time.Time { return now }})
	idle, err := s.NewUpload("r")
	if err != nil {
		t.Fatal(err)
	}
	busy, err := s.NewUpload("r")
	if err != nil {
		t.Fatal(err)
	}
	now = base.Add(uploadIdle - time.Minute)
	if _, err := s.WriteUpload("r", busy, -1, bytes.NewReader([]byte("chunk"))); err != nil {
		t.Fatal(err)
	}
	now = base.Add(uploadIdle + time.Minute)
	s.expireUploads()
	if _, err := s.UploadSize("r", idle); !errors.Is(err, ErrUploadUnknown) {
		t.Fatalf("an upload idle for over an hour: %v, want it expired", err)
	}
	if size, err := s.UploadSize("r", busy); err != nil || size != 5 {
		t.Fatalf("an upload written to a minute ago: %d, %v", size, err)
	}
}
