package pull

import (
	"sync"

	"github.com/shoal-dev/shoal/repository"
)

// maxTagPeers bounds how many repositories tagPeers remembers.
const maxTagPeers = 4096

// tagPeers remembers, for each repository whose tag a peer resolved, the
// peer that answered last. That peer holds what the tag names (a local
// repository's owner holds all of it), so it is asked for the manifest
// and its blobs besides the holders the DHT lists: a holder whose
// provider record was never published or was lost (it was pushed during
// a partition) would otherwise be unreachable, and the pull fail with a
// 404 it could serve.
type tagPeers struct {
	mu    sync.Mutex
	peers map[string]string // repository key → peer ID
}

// set records that peer resolved a tag of repo.
func (t *tagPeers) set(repo repository.Name, peer string) {
	if peer == "" {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.peers == nil {
		t.peers = map[string]string{}
	}
	if _, ok := t.peers[repo.Key()]; !ok && len(t.peers) >= maxTagPeers {
		// Forget one at random: it is only a hint, and the DHT still
		// finds the holders that advertise.
		for k := range t.peers {
			delete(t.peers, k)
			break
		}
	}
	t.peers[repo.Key()] = peer
}

// of lists the peer known to hold repo's content, if any.
func (t *tagPeers) of(repo repository.Name) []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if p, ok := t.peers[repo.Key()]; ok {
		return []string{p}
	}
	return nil
}
