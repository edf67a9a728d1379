package policy

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/opencontainers/go-digest"
)

// ErrAlreadyHeld is returned by Store.Accept, with the current policy,
// when the envelope carries the very document already held.
var ErrAlreadyHeld = errors.New("policy: already held")

// Files a Store keeps under dir/policy/.
const (
	storeDir     = "policy"
	envelopeFile = "current.envelope"
	stateFile    = "state"
)

// storeState is the durable part of the Store that makes rollback
// impossible across restarts: the version floor, the digest held at that
// version (to recognise equivocation), the pinned network and the
// threshold the held policy demands of its successor.
type storeState struct {
	Version   uint64        `json:"version"`
	Digest    digest.Digest `json:"digest"`
	Network   string        `json:"network"`
	Threshold int           `json:"threshold"`
}

// Store keeps the accepted policy durably (dir/policy/current.envelope +
// dir/policy/state), so a restart cannot roll it back.
type Store struct {
	dir      string
	verifier Verifier
	mu       sync.Mutex // serialises Accept
	state    storeState // guarded by mu
	current  atomic.Pointer[Policy]
}

// OpenStore opens (creating it when absent) the policy store under dir
// and loads the policy held there. The held envelope is verified again
// against v's roots and network, but not against the clock: a policy that
// expired while the node was down is still held (Policy.Expired says so),
// since only a newer one may replace it. A held policy that no longer
// verifies, or a state file that cannot be read, is an error: opening
// with no policy would silently turn a locked-down node into an open one.
func OpenStore(dir string, v Verifier) (*Store, error) {
	d := filepath.Join(dir, storeDir)
	if err := os.MkdirAll(d, 0o700); err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	s := &Store{dir: d, verifier: v}
	if b, err := os.ReadFile(filepath.Join(d, stateFile)); err == nil {
		if err := json.Unmarshal(b, &s.state); err != nil {
			return nil, fmt.Errorf("policy: %s is damaged (%v); restore it or remove %s to start with no policy", filepath.Join(d, stateFile), err, d)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("policy: %w", err)
	}
	if v.Network != "" && s.state.Network != "" && v.Network != s.state.Network {
		return nil, fmt.Errorf("%w: this node is pinned to network %q, the store under %s to %q", ErrNetwork, v.Network, d, s.state.Network)
	}
	if s.state.Network != "" {
		s.verifier.Network = s.state.Network
	}
	b, err := os.ReadFile(filepath.Join(d, envelopeFile))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if s.state.Version != 0 {
			return nil, fmt.Errorf("policy: %s is missing though version %d was accepted; restore it or remove %s to start with no policy", filepath.Join(d, envelopeFile), s.state.Version, d)
		}
		return s, nil
	case err != nil:
		return nil, fmt.Errorf("policy: %w", err)
	}
	p, err := s.verifier.verify(b, time.Time{}, false)
	if err != nil {
		return nil, fmt.Errorf("held policy %s no longer verifies (were the root keys changed?): %w", filepath.Join(d, envelopeFile), err)
	}
	// The envelope is written before the state, so after a crash between
	// the two the envelope may be the newer: the floor is the higher.
	if p.Document.Version < s.state.Version {
		return nil, fmt.Errorf("%w: held policy is version %d but version %d was accepted; restore %s", ErrRollback, p.Document.Version, s.state.Version, filepath.Join(d, envelopeFile))
	}
	if p.Document.Version == s.state.Version && s.state.Digest != "" && p.Digest != s.state.Digest {
		return nil, fmt.Errorf("%w: held policy version %d has digest %s, %s was accepted", ErrEquivocation, s.state.Version, p.Digest, s.state.Digest)
	}
	s.state = stateOf(p)
	s.verifier.Network = p.Document.Network
	s.current.Store(p)
	return s, nil
}

func stateOf(p *Policy) storeState {
	return storeState{
		Version:   p.Document.Version,
		Digest:    p.Digest,
		Network:   p.Document.Network,
		Threshold: p.Document.RequiredSignatures(),
	}
}

// Current returns the accepted policy, or nil when none has been.
func (s *Store) Current() *Policy {
	return s.current.Load()
}

// Network is the pinned network, "" until one is pinned.
func (s *Store) Network() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.verifier.Network
}

// Accept verifies envelope and makes it the current policy when its
// version is above the one held. The same version with the same digest
// returns the current policy and ErrAlreadyHeld; the same version with
// another digest is ErrEquivocation; a lower one ErrRollback. A successor
// must also be signed by as many root keys as the held policy's threshold,
// so lowering the threshold takes the old threshold of keys. The envelope
// and state are written (temp file, fsync, rename, directory fsync) before
// Current changes, and the first acceptance pins the network.
func (s *Store) Accept(envelope []byte, now time.Time) (*Policy, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, err := s.verifier.Verify(envelope, now)
	if err != nil {
		return nil, err
	}
	v := p.Document.Version
	switch {
	case v < s.state.Version:
		return nil, fmt.Errorf("%w: version %d is below version %d held", ErrRollback, v, s.state.Version)
	case v == s.state.Version && p.Digest == s.state.Digest:
		return s.current.Load(), ErrAlreadyHeld
	case v == s.state.Version:
		return nil, fmt.Errorf("%w: version %d is held with digest %s, this one has digest %s", ErrEquivocation, v, s.state.Digest, p.Digest)
	}
	if len(p.Signers) < s.state.Threshold {
		return nil, fmt.Errorf("%w: %d root keys signed version %d, but the held version %d requires %d to replace it", ErrSignature, len(p.Signers), v, s.state.Version, s.state.Threshold)
	}
	if err := writeFileAtomic(s.dir, envelopeFile, envelope); err != nil {
		return nil, err
	}
	st := stateOf(p)
	b, err := json.Marshal(st)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	if err := writeFileAtomic(s.dir, stateFile, b); err != nil {
		return nil, err
	}
	s.state = st
	s.verifier.Network = p.Document.Network
	s.current.Store(p)
	return p, nil
}

// writeFileAtomic replaces dir/name so that a crash leaves the old or the
// new content, never a mix: temp file, fsync, rename, directory fsync.
func writeFileAtomic(dir, name string, data []byte) error {
	f, err := os.CreateTemp(dir, "."+name+".*.tmp")
	if err != nil {
		return fmt.Errorf("policy: %w", err)
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, 0o600)
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, name))
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("policy: writing %s: %w", filepath.Join(dir, name), err)
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("policy: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("policy: syncing %s: %w", dir, err)
	}
	return nil
}
