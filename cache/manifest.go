package cache

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// ManifestRecord is what the store keeps about a manifest of a repository
// besides its bytes, which are stored as a blob.
type ManifestRecord struct {
	Digest       digest.Digest
	MediaType    string
	Size         int64
	ArtifactType string
	Annotations  map[string]string
	Subject      *ocispec.Descriptor
	// Blobs are the config and layers of an image manifest.
	Blobs []digest.Digest
	// Held are the config and the distributable layers: the blobs a
	// repository this manifest was fetched into holds through it. Not a
	// non-distributable layer (its registry does not hold it, so listing
	// one says nothing), nor an index's children (each is fetched into
	// the repository on its own).
	Held []digest.Digest
	// Children are the manifests of an index.
	Children []digest.Digest
}

func referrerOf(rec *ManifestRecord) ocispec.Descriptor {
	return ocispec.Descriptor{
		MediaType:    rec.MediaType,
		Digest:       rec.Digest,
		Size:         rec.Size,
		ArtifactType: rec.ArtifactType,
		Annotations:  rec.Annotations,
	}
}

// PutManifest stores body (verified against rec.Digest) as a blob, records
// it in repo, links it, points tags at it (checked now), and indexes it as
// a referrer of rec.Subject. rec.Size is set from body when zero and must
// match it otherwise. In a local repository the blobs and children the
// manifest references that the repository holds are linked as local
// too, so content pushed by mounting or skipped uploads is protected
// from eviction; blobs it does not hold are never linked by a manifest.
func (s *Store) PutManifest(repo string, local bool, rec ManifestRecord, body []byte, tags ...string) error {
	if err := validName("repository", repo); err != nil {
		return err
	}
	for _, t := range tags {
		if err := validName("tag", t); err != nil {
			return err
		}
	}
	if err := validDigest(rec.Digest); err != nil {
		return err
	}
	switch {
	case rec.Size == 0:
		rec.Size = int64(len(body))
	case rec.Size != int64(len(body)):
		return fmt.Errorf("%w: manifest %s: record says %d bytes, body has %d", ErrSizeMismatch, rec.Digest, rec.Size, len(body))
	}
	for _, d := range recordNeeds(&rec) {
		if err := validDigest(d); err != nil {
			return err
		}
	}
	if rec.Subject != nil {
		if err := validDigest(rec.Subject.Digest); err != nil {
			return err
		}
	}
	checked := s.now().UnixNano()
	_, err := s.putBlob(rec.Digest, bytes.NewReader(body), int64(len(body)), func(mt *metaTxn) error {
		if err := mt.link(repo, local, rec.Digest); err != nil {
			return err
		}
		repoLocal, err := mt.ensureRepo(repo, local)
		if err != nil {
			return err
		}
		if repoLocal {
			// Only what repo already holds: a manifest listing another
			// repository's blob (say as a non-distributable layer, which
			// a push does not check) must not make it readable here.
			for _, b := range recordNeeds(&rec) {
				if _, err := s.StatBlob(b); err != nil {
					continue
				}
				if _, err := getValue(mt.txn, key(kindRepoLink, repo, string(b))); err != nil {
					continue
				}
				if err := mt.link(repo, true, b); err != nil {
					return err
				}
			}
		}
		if err := mt.putRecord(repo, &rec); err != nil {
			return err
		}
		for _, t := range tags {
			if err := mt.setTag(repo, t, rec.Digest, checked); err != nil {
				return err
			}
		}
		return nil
	})
	return err
}

// GetManifest returns the record and bytes of manifest d in repo, or
// ErrNotFound (also when its bytes are no longer stored).
func (s *Store) GetManifest(repo string, d digest.Digest) (ManifestRecord, []byte, error) {
	if validName("repository", repo) != nil || validDigest(d) != nil {
		return ManifestRecord{}, nil, ErrNotFound
	}
	var rec ManifestRecord
	if err := s.db.View(func(txn *badger.Txn) error {
		var err error
		rec, err = getRecord(txn, repo, d)
		return err
	}); err != nil {
		return ManifestRecord{}, nil, err
	}
	size, ok := s.pinStored(d)
	if !ok {
		return ManifestRecord{}, nil, ErrNotFound
	}
	defer s.unpin(d)
	body, err := s.readBlobFile(d, size)
	if errors.Is(err, os.ErrNotExist) {
		return ManifestRecord{}, nil, ErrNotFound
	}
	if err != nil {
		return ManifestRecord{}, nil, fmt.Errorf("cache: %w", err)
	}
	return rec, body, nil
}

// DeleteManifest removes manifest d from repo: its record, the tags of
// repo pointing at it, its referrers entry and its link. In a local
// repository the blobs it referenced that no other manifest of repo
// references are unlinked too, unless one is a manifest recorded in repo
// (a record keeps its link). Blobs left unreferenced are freed.
func (s *Store) DeleteManifest(repo string, d digest.Digest) error {
	if validName("repository", repo) != nil || validDigest(d) != nil {
		return ErrNotFound
	}
	s.meta.Lock()
	mt, err := s.update(func(mt *metaTxn) error {
		rec, err := getRecord(mt.txn, repo, d)
		if err != nil {
			return err
		}
		if err := mt.removeRecord(repo, &rec); err != nil {
			return err
		}
		if err := mt.unlink(repo, d); err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		v, err := getValue(mt.txn, key(kindRepo, repo))
		if err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		if len(v) != 1 || v[0] != 1 {
			return nil // mirrored: its blobs stay until evicted
		}
		for _, b := range rec.Blobs {
			if hasPrefix(mt.txn, key(kindUse, string(b), repo, "")) {
				continue // another manifest of repo still uses it
			}
			if _, err := getRecord(mt.txn, repo, b); err == nil {
				continue // a manifest of repo in its own right, linked as such
			}
			if err := mt.unlink(repo, b); err != nil && !errors.Is(err, ErrNotFound) {
				return err
			}
		}
		return nil
	})
	var freed []digest.Digest
	if err == nil {
		freed = s.freeUnlinkedLocked(mt.unlinked)
	}
	s.meta.Unlock()
	s.notifyEvicted(freed)
	return err
}

// SetTag points tag of repo at d, recording when it was last checked
// against its upstream.
func (s *Store) SetTag(repo string, local bool, tag string, d digest.Digest, checked time.Time) error {
	if err := validName("repository", repo); err != nil {
		return err
	}
	if err := validName("tag", tag); err != nil {
		return err
	}
	if err := validDigest(d); err != nil {
		return err
	}
	s.meta.Lock()
	defer s.meta.Unlock()
	_, err := s.update(func(mt *metaTxn) error {
		if _, err := mt.ensureRepo(repo, local); err != nil {
			return err
		}
		return mt.setTag(repo, tag, d, checked.UnixNano())
	})
	return err
}

// Tag resolves tag in repo, or returns ErrNotFound.
func (s *Store) Tag(repo, tag string) (digest.Digest, time.Time, error) {
	if validName("repository", repo) != nil || validName("tag", tag) != nil {
		return "", time.Time{}, ErrNotFound
	}
	var v []byte
	if err := s.db.View(func(txn *badger.Txn) error {
		var err error
		v, err = getValue(txn, key(kindTag, repo, tag))
		return err
	}); err != nil {
		return "", time.Time{}, err
	}
	d, checked, err := decodeTag(v)
	if err != nil {
		return "", time.Time{}, err
	}
	return d, time.Unix(0, checked), nil
}

// Tags lists the tags of repo in lexical order: empty for a known repo
// without tags, ErrNotFound for an unknown repo.
func (s *Store) Tags(repo string) ([]string, error) {
	if validName("repository", repo) != nil {
		return nil, ErrNotFound
	}
	tags := []string{}
	err := s.db.View(func(txn *badger.Txn) error {
		if _, err := getValue(txn, key(kindRepo, repo)); err != nil {
			return err
		}
		return scanKeys(txn, key(kindTag, repo, ""), func(k []byte) error {
			tags = append(tags, lastField(k))
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	sort.Strings(tags)
	return tags, nil
}

// DeleteTag removes tag from repo, or returns ErrNotFound.
func (s *Store) DeleteTag(repo, tag string) error {
	if validName("repository", repo) != nil || validName("tag", tag) != nil {
		return ErrNotFound
	}
	s.meta.Lock()
	defer s.meta.Unlock()
	_, err := s.update(func(mt *metaTxn) error {
		return mt.deleteTag(repo, tag)
	})
	return err
}

// Referrers lists the manifests of repo whose subject is subject: those
// pushed or cached here, and the upstream's list cached by PutReferrers.
// The result is sorted by digest and never nil.
func (s *Store) Referrers(repo string, subject digest.Digest) ([]ocispec.Descriptor, error) {
	out := []ocispec.Descriptor{}
	if validName("repository", repo) != nil || validDigest(subject) != nil {
		return out, nil
	}
	seen := make(map[digest.Digest]bool)
	err := s.db.View(func(txn *badger.Txn) error {
		if err := scan(txn, key(kindReferrer, repo, string(subject), ""), func(_, v []byte) error {
			var desc ocispec.Descriptor
			if err := json.Unmarshal(v, &desc); err != nil {
				return fmt.Errorf("cache: corrupt referrer record: %w", err)
			}
			seen[desc.Digest] = true
			out = append(out, desc)
			return nil
		}); err != nil {
			return err
		}
		v, err := getValue(txn, key(kindUpstream, repo, string(subject)))
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		var upstream []ocispec.Descriptor
		if err := json.Unmarshal(v, &upstream); err != nil {
			return fmt.Errorf("cache: corrupt referrers list: %w", err)
		}
		for _, desc := range upstream {
			if !seen[desc.Digest] {
				seen[desc.Digest] = true
				out = append(out, desc)
			}
		}
		return nil
	})
	if err != nil {
		return []ocispec.Descriptor{}, err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Digest < out[j].Digest })
	return out, nil
}

// PutReferrers caches an upstream's referrers list for subject in repo,
// replacing the previous one.
func (s *Store) PutReferrers(repo string, subject digest.Digest, descs []ocispec.Descriptor) error {
	if err := validName("repository", repo); err != nil {
		return err
	}
	if err := validDigest(subject); err != nil {
		return err
	}
	if descs == nil {
		descs = []ocispec.Descriptor{}
	}
	v, err := json.Marshal(descs)
	if err != nil {
		return err
	}
	s.meta.Lock()
	defer s.meta.Unlock()
	_, err = s.update(func(mt *metaTxn) error {
		if _, err := mt.ensureRepo(repo, false); err != nil {
			return err
		}
		return mt.txn.Set(key(kindUpstream, repo, string(subject)), v)
	})
	return err
}

// Repos lists the known repositories in lexical order.
func (s *Store) Repos() ([]string, error) {
	repos := []string{}
	err := s.db.View(func(txn *badger.Txn) error {
		return scanKeys(txn, []byte{kindRepo}, func(k []byte) error {
			repos = append(repos, string(k[1:]))
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	sort.Strings(repos)
	return repos, nil
}

// IsLocal reports whether repo has been pushed to.
func (s *Store) IsLocal(repo string) bool {
	if validName("repository", repo) != nil {
		return false
	}
	var local bool
	_ = s.db.View(func(txn *badger.Txn) error {
		v, err := getValue(txn, key(kindRepo, repo))
		local = err == nil && len(v) == 1 && v[0] == 1
		return nil
	})
	return local
}

// ManifestRepos lists the repositories that hold a record of manifest d.
func (s *Store) ManifestRepos(d digest.Digest) ([]string, error) {
	if validDigest(d) != nil {
		return nil, nil
	}
	var repos []string
	err := s.db.View(func(txn *badger.Txn) error {
		return scanKeys(txn, key(kindManifestBy, string(d), ""), func(k []byte) error {
			repos = append(repos, lastField(k))
			return nil
		})
	})
	return repos, err
}
