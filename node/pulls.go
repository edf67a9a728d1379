package node

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/shoal-dev/shoal/adminapi"
	"github.com/shoal-dev/shoal/oci"
	"github.com/shoal-dev/shoal/traffic"
	"github.com/shoal-dev/shoal/ui"
)

// recentPulls is how many pulls GET /shoal/v1/pulls keeps.
const recentPulls = 20

// notePull records a manifest served to a client, under the repository's
// key too, so that the list can be filtered by who may pull what.
func (n *Node) notePull(r *http.Request, repo oci.Repo, reference, digest string) {
	if r.Header.Get(ui.OwnReadHeader) != "" {
		return
	}
	key := repo.Name
	if name, err := n.names.Resolve(repo, false); err == nil {
		key = name.Key()
	}
	n.pulls.Add(traffic.Pull{At: time.Now(), Repo: repo.Name, Key: key, Reference: reference, Digest: digest})
}

// handlePulls lists the node's recent pulls, newest first: those of
// repositories the caller may pull, as the images on the page.
func (n *Node) handlePulls(w http.ResponseWriter, r *http.Request) {
	doc := adminapi.Pulls{Pulls: []adminapi.Pull{}}
	for _, p := range n.pulls.Recent(func(p traffic.Pull) bool { return n.access.MayPull(r, p.Key) }) {
		doc.Pulls = append(doc.Pulls, adminapi.Pull{At: p.At.UTC(), Repository: p.Repo, Reference: p.Reference, Digest: p.Digest})
	}
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(doc)
}
