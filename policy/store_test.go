package policy

import (
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestStoreAccept(t *testing.T) {
	a, b := newTestKey(t), newTestKey(t)
	v := Verifier{Roots: []ed25519.PublicKey{a.pub, b.pub}}
	type step struct {
		envelope []byte
		now      time.Time
		wantErr  error
		wantText string
		wantVer  uint64 // Current's version afterwards
	}
	v2 := signed(testDoc(2, "prod", 1), a)
	tests := []struct {
		name  string
		steps []step
	}{
		{"first policy is accepted", []step{{envelope: v2, wantVer: 2}}},
		{"higher version replaces", []step{{envelope: v2, wantVer: 2}, {envelope: signed(testDoc(5, "prod", 1), a), wantVer: 5}}},
		{"older version refused", []step{{envelope: v2, wantVer: 2}, {envelope: signed(testDoc(1, "prod", 1), a), wantErr: ErrRollback, wantText: "version 1 is below version 2 held", wantVer: 2}}},
		{"same document again is already held", []step{{envelope: v2, wantVer: 2}, {envelope: signed(testDoc(2, "prod", 1), a, b), wantErr: ErrAlreadyHeld, wantVer: 2}}},
		{"same version other content", []step{{envelope: v2, wantVer: 2}, {envelope: signed(append(testDoc(2, "prod", 1), "upstreams: [ghcr.io]\n"...), a), wantErr: ErrEquivocation, wantText: "version 2 is held with digest", wantVer: 2}}},
		{"another network after pinning", []step{{envelope: v2, wantVer: 2}, {envelope: signed(testDoc(3, "staging", 1), a), wantErr: ErrNetwork, wantVer: 2}}},
		{"expired refused", []step{{envelope: v2, now: t0.Add(60 * 24 * time.Hour), wantErr: ErrExpired}}},
		{"forged refused", []step{{envelope: signed(testDoc(2, "prod", 1), newTestKey(t)), wantErr: ErrSignature}}},
		{"held threshold binds the successor", []step{
			{envelope: signed(testDoc(2, "prod", 2), a, b), wantVer: 2},
			{envelope: signed(testDoc(3, "prod", 1), a), wantErr: ErrSignature, wantText: "held version 2 requires 2", wantVer: 2},
			{envelope: signed(testDoc(3, "prod", 1), a, b), wantVer: 3},
			{envelope: signed(testDoc(4, "prod", 1), b), wantVer: 4},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := OpenStore(t.TempDir(), v)
			if err != nil {
				t.Fatal(err)
			}
			if s.Current() != nil {
				t.Fatal("a new store holds a policy")
			}
			for i, st := range tt.steps {
				now := st.now
				if now.IsZero() {
					now = t0
				}
				p, err := s.Accept(st.envelope, now)
				switch {
				case st.wantErr == nil && err != nil:
					t.Fatalf("step %d: %v", i, err)
				case st.wantErr != nil && !errors.Is(err, st.wantErr):
					t.Fatalf("step %d: err = %v, want %v", i, err, st.wantErr)
				case st.wantErr != nil && !strings.Contains(err.Error(), st.wantText):
					t.Fatalf("step %d: err = %q, want it to say %q", i, err, st.wantText)
				case st.wantErr == nil && p != s.Current():
					t.Fatalf("step %d: Accept returned a policy other than Current", i)
				case errors.Is(err, ErrAlreadyHeld) && p != s.Current():
					t.Fatalf("step %d: ErrAlreadyHeld without the current policy", i)
				}
				got := uint64(0)
				if c := s.Current(); c != nil {
					got = c.Document.Version
				}
				if got != st.wantVer {
					t.Fatalf("step %d: current version %d, want %d", i, got, st.wantVer)
				}
			}
		})
	}
}

func TestStoreSurvivesRestart(t *testing.T) {
	a := newTestKey(t)
	v := Verifier{Roots: []ed25519.PublicKey{a.pub}}
	dir := t.TempDir()
	s, err := OpenStore(dir, v)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Accept(signed(testDoc(7, "prod", 1), a), t0); err != nil {
		t.Fatal(err)
	}
	held := s.Current()

	// Reopened long after expiry: still held (the node decides on grace),
	// and still the floor.
	s, err = OpenStore(dir, v)
	if err != nil {
		t.Fatal(err)
	}
	p := s.Current()
	if p == nil || p.Document.Version != 7 || p.Digest != held.Digest {
		t.Fatalf("after restart holding %+v, want version 7", p)
	}
	if s.Network() != "prod" {
		t.Fatalf("network after restart %q, want prod", s.Network())
	}
	if _, err := s.Accept(signed(testDoc(6, "prod", 1), a), t0); !errors.Is(err, ErrRollback) {
		t.Fatalf("version 6 after restart: err = %v, want ErrRollback", err)
	}
	if _, err := s.Accept(signed(testDoc(8, "staging", 1), a), t0); !errors.Is(err, ErrNetwork) {
		t.Fatalf("other network after restart: err = %v, want ErrNetwork", err)
	}
	if s.Current().Document.Version != 7 {
		t.Fatal("a refused policy replaced the held one")
	}
	if _, err := s.Accept(signed(testDoc(8, "prod", 1), a), t0); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "policy", "current.envelope")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("current.envelope: %v %v", fi, err)
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, "policy")); len(entries) != 2 {
		t.Fatalf("policy dir holds %d files, want current.envelope and state (no temp files)", len(entries))
	}
}

func TestOpenStoreRefuses(t *testing.T) {
	a, b := newTestKey(t), newTestKey(t)
	va := Verifier{Roots: []ed25519.PublicKey{a.pub}}
	setup := func(t *testing.T) string {
		dir := t.TempDir()
		s, err := OpenStore(dir, va)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Accept(signed(testDoc(4, "prod", 1), a), t0); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	tests := []struct {
		name    string
		damage  func(dir string) error
		v       Verifier
		wantErr error
	}{
		{"roots changed", nil, Verifier{Roots: []ed25519.PublicKey{b.pub}}, ErrSignature},
		{"pinned to another network", nil, Verifier{Roots: va.Roots, Network: "staging"}, ErrNetwork},
		{"envelope replaced by an older one", func(dir string) error {
			return os.WriteFile(filepath.Join(dir, "policy", "current.envelope"), signed(testDoc(3, "prod", 1), a), 0o600)
		}, va, ErrRollback},
		{"envelope replaced by other content at the same version", func(dir string) error {
			return os.WriteFile(filepath.Join(dir, "policy", "current.envelope"), signed(append(testDoc(4, "prod", 1), "upstreams: [quay.io]\n"...), a), 0o600)
		}, va, ErrEquivocation},
		{"envelope deleted", func(dir string) error {
			return os.Remove(filepath.Join(dir, "policy", "current.envelope"))
		}, va, nil},
		{"state damaged", func(dir string) error {
			return os.WriteFile(filepath.Join(dir, "policy", "state"), []byte("{"), 0o600)
		}, va, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := setup(t)
			if tt.damage != nil {
				if err := tt.damage(dir); err != nil {
					t.Fatal(err)
				}
			}
			s, err := OpenStore(dir, tt.v)
			if err == nil {
				t.Fatalf("opened, holding %+v", s.Current())
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

// A crash after the envelope is renamed into place but before the state
// is: the floor is the envelope's version.
func TestOpenStoreEnvelopeNewerThanState(t *testing.T) {
	a := newTestKey(t)
	v := Verifier{Roots: []ed25519.PublicKey{a.pub}}
	dir := t.TempDir()
	s, err := OpenStore(dir, v)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Accept(signed(testDoc(4, "prod", 1), a), t0); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "policy", "current.envelope"), signed(testDoc(5, "prod", 1), a), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err = OpenStore(dir, v)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Current().Document.Version; got != 5 {
		t.Fatalf("holding version %d, want 5", got)
	}
	if _, err := s.Accept(signed(testDoc(4, "prod", 1), a), t0); !errors.Is(err, ErrRollback) {
		t.Fatalf("err = %v, want ErrRollback", err)
	}
}
