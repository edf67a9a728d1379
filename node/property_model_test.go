package node

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/shoal-dev/shoal/policy"
)

// The model of the property test (property_test.go): what each
// repository holds on each node, who may pull what, and the answer a
// read must get.

// propManifest is a manifest the test made, as the store records it.
type propManifest struct {
	digest    digest.Digest
	mediaType string
	body      []byte
	blobs     []digest.Digest // config and distributable layers
	foreign   []digest.Digest // non-distributable layers
	children  []digest.Digest // index entries
}

// layers are every config and layer (the store's record of an image).
func (m *propManifest) layers() []digest.Digest { return append(slices.Clone(m.blobs), m.foreign...) }

// needs is what the store's record keeps from being freed, and what
// makes another manifest of the repository "still use" a blob.
func (m *propManifest) needs() []digest.Digest { return append(m.layers(), m.children...) }

// propNode is a node and the model of what its repositories hold.
type propNode struct {
	n       *Node
	local   map[string]bool
	linked  map[string]map[digest.Digest]bool
	records map[string]map[digest.Digest]bool
	tags    map[string]map[string]digest.Digest
}

func putIn[K comparable, V any](m map[string]map[K]V, repo string, k K, v V) {
	if m[repo] == nil {
		m[repo] = map[K]V{}
	}
	m[repo][k] = v
}

type propUpstream struct {
	blobs, manifests map[digest.Digest]bool
	tags             map[string]digest.Digest
}

// verdict is what the model says a read must get.
type verdict int

const (
	refuse verdict = iota // 404 BLOB_UNKNOWN / MANIFEST_UNKNOWN
	either                // the model does not decide (documented where said)
	serve                 // 200 with the content
)

func (v verdict) String() string { return [...]string{"refuse", "either", "serve"}[v] }

// expect is the model's answer to a request.
type expect struct {
	// status and code are set for answers other than a read's verdict:
	// denials, writes.
	status int
	code   string
	v      verdict
	// fromPeers marks a serve only a peer can give: retried while
	// advertisements spread.
	fromPeers bool
	// digests are the contents a 200 may carry (a tag that peers resolve
	// differently); nil means the digest asked for.
	digests []digest.Digest
}

func (e expect) String() string {
	if e.status != 0 {
		s := strconv.Itoa(e.status)
		if e.code != "" {
			s += " " + e.code
		}
		return s
	}
	s := e.v.String()
	if e.fromPeers {
		s += " (from peers)"
	}
	if len(e.digests) > 0 {
		s += fmt.Sprintf(" one of %s", short(e.digests...))
	}
	return s
}

// allowed says whether c may do a to repo under the model's policy: any
// applying deny rule denies, else any applying allow rule allows. The
// rules use exact names and "team/**" only.
func (r *propRun) allowed(c propCaller, a policy.Action, repo string) bool {
	if r.version == 0 {
		return true
	}
	ok := false
	for _, rule := range r.rules {
		who := slices.ContainsFunc(c.identities(), func(id string) bool { return slices.Contains(rule.Identities, id) })
		act := slices.Contains(rule.Actions, a) || slices.Contains(rule.Actions, "*")
		match := slices.ContainsFunc(rule.Repositories, func(g string) bool {
			if prefix, ok := strings.CutSuffix(g, "/**"); ok {
				return strings.HasPrefix(repo, prefix+"/")
			}
			return g == repo
		})
		if !who || !act || !match {
			continue
		}
		if rule.Effect == "deny" {
			return false
		}
		ok = true
	}
	return ok
}

// denial is the answer to c when the policy refuses it a on repo, or
// ok false.
func (r *propRun) denial(c propCaller, a policy.Action, repo string) (expect, bool) {
	if r.allowed(c, a, repo) {
		return expect{}, false
	}
	if c.user == "" {
		return expect{status: http.StatusUnauthorized, code: "UNAUTHORIZED"}, true
	}
	return expect{status: http.StatusForbidden, code: "DENIED"}, true
}

func (r *propRun) stored(pn *propNode, d digest.Digest) bool {
	_, err := pn.n.store.StatBlob(d)
	return err == nil
}

// holds says whether repo holds d on pn's side: what it serves its
// clients (a repository local to pn) and what it answers a peer.
func (r *propRun) holds(pn *propNode, repo string, d digest.Digest) bool {
	if pn.linked[repo][d] || pn.records[repo][d] {
		return true
	}
	if pn.local[repo] {
		return false // a pushed manifest links what its repository held, nothing more
	}
	for m := range pn.records[repo] {
		if slices.Contains(r.manifests[m].blobs, d) {
			return true
		}
	}
	return false
}

// peerHolds says whether a peer of pn would answer a request for d in
// repo (a local repository): its repo holds d and it stores it.
func (r *propRun) peerHolds(pn *propNode, repo string, d digest.Digest) bool {
	for _, other := range r.nodes {
		if other != pn && r.holds(other, repo, d) && r.stored(other, d) {
			return true
		}
	}
	return false
}

// expectBlob is the model's answer to a blob read of d through repo on
// pn.
func (r *propRun) expectBlob(pn *propNode, repo string, d digest.Digest) expect {
	switch {
	case propMirrored(repo):
		u := r.upstream[repo]
		switch {
		case u.blobs[d], pn.records[repo][d]:
			return expect{v: serve}
		case u.manifests[d]:
			// A manifest upstream holds, through the blob route: a peer
			// that fetched it may serve it, upstream does not (its blob
			// route has no manifests), so the node may or may not.
			return expect{v: either}
		}
		return expect{v: refuse}
	case pn.local[repo]:
		if pn.linked[repo][d] {
			return expect{v: serve}
		}
		return expect{v: refuse}
	}
	if r.holds(pn, repo, d) && r.stored(pn, d) {
		return expect{v: serve}
	}
	if r.peerHolds(pn, repo, d) {
		return expect{v: serve, fromPeers: true}
	}
	return expect{v: refuse}
}

// expectManifest is the model's answer to a manifest read of ref (a
// digest or a tag) through repo on pn.
func (r *propRun) expectManifest(pn *propNode, repo, ref string) expect {
	d, err := digest.Parse(ref)
	if err != nil {
		return r.expectTag(pn, repo, ref)
	}
	switch {
	case pn.records[repo][d]:
		return expect{v: serve}
	case propMirrored(repo):
		if r.upstream[repo].manifests[d] {
			return expect{v: serve}
		}
		return expect{v: refuse}
	case pn.local[repo]:
		return expect{v: refuse}
	}
	// Peers answer with what repo holds on their side, recorded as a
	// manifest or not (a manifest's bytes mounted as a blob are held too).
	if r.peerHolds(pn, repo, d) {
		return expect{v: serve, fromPeers: true}
	}
	return expect{v: refuse}
}

func (r *propRun) expectTag(pn *propNode, repo, tag string) expect {
	if propMirrored(repo) {
		if d, ok := r.upstream[repo].tags[tag]; ok {
			return expect{v: serve, digests: []digest.Digest{d}}
		}
		return expect{v: refuse}
	}
	if d, ok := pn.tags[repo][tag]; ok {
		return expect{v: serve, digests: []digest.Digest{d}}
	}
	if pn.local[repo] {
		return expect{v: refuse}
	}
	// Peers that pushed to repo say what the tag is; the first answer
	// wins.
	var ds []digest.Digest
	for _, other := range r.nodes {
		if d, ok := other.tags[repo][tag]; ok && other != pn && other.local[repo] {
			ds = append(ds, d)
		}
	}
	if len(ds) == 0 {
		return expect{v: refuse}
	}
	return expect{v: serve, fromPeers: true, digests: ds}
}

// answer is what a node said.
type answer struct {
	status int
	code   string
	body   digest.Digest // of the body, for a GET that got 200
}

func (a answer) String() string {
	s := strconv.Itoa(a.status)
	if a.code != "" {
		s += " " + a.code
	}
	if a.body != "" {
		s += " " + short(a.body)
	}
	return s
}

// matches says whether a is an answer e allows to a read of want.
func (e expect) matches(a answer, want digest.Digest, notFound string, head bool) bool {
	if e.status != 0 {
		return a.status == e.status && a.code == e.code
	}
	served := a.status == http.StatusOK
	if served && !head {
		ok := slices.Contains(e.digests, a.body) || len(e.digests) == 0 && a.body == want
		if !ok {
			return false
		}
	}
	refused := a.status == http.StatusNotFound && (head || a.code == notFound)
	switch e.v {
	case serve:
		return served
	case refuse:
		return refused
	}
	return served || refused
}
