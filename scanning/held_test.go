package scanning

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/shoal-dev/shoal/internal/testpeer"
)

// TestHoldReport: a held report is replaced only by a newer one, wakes
// those waiting for it, and is kept on disk across a restart; files
// there that do not verify are ignored.
func TestHoldReport(t *testing.T) {
	e := newEnv(t, envOptions{})
	img := digest.FromString("image")
	t0 := time.Now().Add(-time.Hour).UTC()
	first := heldBy(t, e.s.key, img, t0)
	first.repo = "team/app"

	wait := e.s.waitForReport(img)
	gaveUp := e.s.waitForReport(img)
	e.s.stopWaiting(img, gaveUp)

	for _, step := range []struct {
		name     string
		h        *heldReport
		wantHeld bool
		want     *heldReport // the report held after
	}{
		{"the first", first, true, first},
		{"an older one", heldBy(t, e.s.key, img, t0.Add(-time.Minute)), false, first},
		{"one finished at the same time", heldBy(t, e.s.key, img, t0), false, first},
		{"a newer one", func() *heldReport { h := heldBy(t, e.s.key, img, t0.Add(time.Minute)); h.repo = "team/app"; return h }(), true, nil},
	} {
		t.Run(step.name, func(t *testing.T) {
			want := step.want
			if want == nil {
				want = step.h
			}
			if got := e.s.holdReport(step.h); got != step.wantHeld {
				t.Errorf("holdReport = %v, want %v", got, step.wantHeld)
			}
			if got := e.s.heldReport(img); got != want {
				t.Errorf("held the report finished %s, want %s", got.report.Finished, want.report.Finished)
			}
		})
	}
	select {
	case <-wait:
	default:
		t.Error("a waiter was not woken")
	}
	select {
	case <-gaveUp:
		t.Error("a waiter that gave up was woken")
	default:
	}
	e.s.mu.Lock()
	waiters := len(e.s.waiters)
	e.s.mu.Unlock()
	if waiters != 0 {
		t.Errorf("%d waiters left", waiters)
	}
	newest := e.s.heldReport(img)

	// Files in the reports directory that are not held reports.
	other := heldBy(t, e.s.key, digest.FromString("other image"), t0)
	e.s.holdReport(other)
	b, err := os.ReadFile(filepath.Join(e.s.dir, other.report.Image.Encoded()+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var f heldFile
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	f.Envelope = tamper(t, f.Envelope)
	tampered, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	junk := map[string][]byte{
		other.report.Image.Encoded() + ".json": tampered,
		"garbage.json":                         []byte("not json"),
		"notes.txt":                            []byte("{}"),
	}
	for name, b := range junk {
		if err := os.WriteFile(filepath.Join(e.s.dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}

	e.reopen(t)
	got := e.s.heldReport(img)
	if got == nil || got.digest != newest.digest || got.repo != "team/app" || !got.received.Equal(newest.received) || got.signer != e.s.ID() {
		t.Fatalf("after a restart the report held is %+v, want %+v", got, newest)
	}
	if e.s.Trusted(img) == nil {
		t.Error("after a restart the report does not count")
	}
	e.s.mu.Lock()
	n := len(e.s.reports)
	e.s.mu.Unlock()
	if n != 1 {
		t.Errorf("after a restart %d reports are held, want only the one that verifies", n)
	}
}

// TestSigningKey: without a key the service makes one in the data dir
// and keeps it across restarts; given one, it signs with that.
func TestSigningKey(t *testing.T) {
	e := newEnv(t, envOptions{})
	id := e.s.ID()
	if id == "" || id != mustID(t, e.s.key) {
		t.Fatalf("ID = %q", id)
	}
	if _, err := os.Stat(filepath.Join(e.dir, scanKeyFile)); err != nil {
		t.Error(err)
	}
	e.reopen(t)
	if e.s.ID() != id {
		t.Errorf("after a restart the ID is %s, was %s", e.s.ID(), id)
	}

	key, keyID := testpeer.Key(t)
	s, err := Open(Config{DataDir: t.TempDir(), Store: e.store, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.ID() != keyID {
		t.Errorf("with a key the ID is %s, want %s", s.ID(), keyID)
	}
	if _, err := os.Stat(filepath.Join(s.cfg.DataDir, scanKeyFile)); err == nil {
		t.Error("a key was made although one was given")
	}
}
