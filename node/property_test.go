package node

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/shoal-dev/shoal/policy"
)

// The property of issue 10, "Content belongs to its repository", over
// random sequences of pushes, mounts, deletes, policy changes, upstream
// pushes and reads (one at a time, and two at once of a blob the node
// must fetch) on a fleet of two or three nodes: every answer is checked
// against a model (property_model_test.go) of what each repository holds
// on each node and of who may do what, so that no read returns content
// through a repository that does not hold it, and no content a caller
// may read is refused.
//
// The model, per node and repository (docs/access.md, "What a repository
// shows"):
//   - a local repository pushed to on this node shows the blobs linked
//     into it (pushed or mounted) and the manifests recorded in it; a
//     pushed manifest links nothing the repository does not already
//     hold, and deleting one unlinks what it listed that no other
//     manifest there uses (but not a manifest of the repository);
//   - a mirrored repository shows what its upstream repository holds
//     (the upstream here keeps blobs per repository, only ever grows, and
//     may serve a manifest listing a non-distributable layer it does not
//     hold);
//   - a local repository another node holds shows what it holds here
//     (manifests fetched into it with their configs and distributable
//     layers, blobs a peer confirmed), and what any peer's repository of
//     that name holds and stores;
//   - a peer is answered, for a repository, with what that repository
//     holds on its side;
//   - the policy decides first: 401 UNAUTHORIZED for an anonymous caller
//     it refuses, 403 DENIED for one with credentials.
//
// Whether a node stores a blob is the store's business, not the
// property's: the model reads it from the store when it needs it. The
// rest (links, manifest records, tags, upstream content, the policy) is
// the model's own. The model leaves one answer open: a manifest upstream
// holds, read through a mirrored repository's blob route, is served when
// a peer that fetched it answers and refused when upstream is asked
// (registries keep manifests out of their blob routes).
//
// Left out: a manifest pushed into a repository its node has no blob of
// yet (its blob check reads through the fleet, which the reads cover),
// blob deletes of manifest digests, tag deletes, eviction, expiry.
//
// SHOAL_PROPERTY_SEED=n runs the one sequence of that seed (a failure
// prints it); SHOAL_PROPERTY_STEPS=n changes the number of steps;
// SHOAL_PROPERTY_LOG=1 writes the nodes' debug logs to stderr.
// Answers that depend on how the DHT spreads advertisements are retried
// for a while, so a seed replays the same steps but the fleet's timing
// may differ.

const (
	propSeedEnv  = "SHOAL_PROPERTY_SEED"
	propStepsEnv = "SHOAL_PROPERTY_STEPS"
	propLogEnv   = "SHOAL_PROPERTY_LOG"
	// propFleetWait bounds retrying a read only a peer can answer, while
	// the holder's advertisement reaches the DHT.
	propFleetWait = 10 * time.Second
	// propRule is the upstream rule the mirrored repositories go through.
	propRule = "up"
)

var (
	propLocalRepos    = []string{"team/app", "team/web", "private/app"}
	propMirroredRepos = []string{propRule + "/lib/a", propRule + "/lib/b"}
	propRepos         = append(slices.Clone(propLocalRepos), propMirroredRepos...)
	propTags          = []string{"t0", "t1"}
	// propNeverStored is a digest no step ever stores.
	propNeverStored = digest.FromString("shoal property test: never stored")
)

func propMirrored(repo string) bool { return strings.HasPrefix(repo, propRule+"/") }

// propCaller is who sends a request. Each has its own address, so the
// password-check rate limit (per address) never mixes them up.
type propCaller struct {
	name, user, pass, remote string
}

var propCallers = []propCaller{
	{"anonymous", "", "", "192.0.2.10:40000"},
	{"alice", "alice", "alice-pw", "192.0.2.11:40000"},
	{"bob", "bob", "bob-pw", "192.0.2.12:40000"},
}

// identities are the policy identities the caller has: anonymous
// matches everyone.
func (c propCaller) identities() []string {
	if c.user == "" {
		return []string{"anyone"}
	}
	return []string{"anyone", c.user}
}

// scopedUpstream is an upstream registry that, as registries do, keeps
// blobs per repository: a blob read through a repository it was not
// pushed into is unknown there. (go-containerregistry's registry keeps
// one pool of blobs for all.)
type scopedUpstream struct {
	*httptest.Server
	mu    sync.Mutex
	blobs map[string]bool // "repo@digest"
	// slow makes blob GETs last a little, for another request to join
	// the transfer.
	slow atomic.Bool
}

func newScopedUpstream(t *testing.T) *scopedUpstream {
	u := &scopedUpstream{blobs: map[string]bool{}}
	reg := quietRegistry()
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		repo, rest, ok := strings.Cut(strings.TrimPrefix(r.URL.Path, "/v2/"), "/blobs/")
		switch {
		case !ok:
		case r.Method == http.MethodPost && rest == "uploads/" && r.URL.Query().Has("digest"):
			rec := httptest.NewRecorder()
			reg.ServeHTTP(rec, r)
			if rec.Code == http.StatusCreated {
				u.mu.Lock()
				u.blobs[repo+"@"+r.URL.Query().Get("digest")] = true
				u.mu.Unlock()
			}
			maps.Copy(w.Header(), rec.Header())
			w.WriteHeader(rec.Code)
			w.Write(rec.Body.Bytes())
			return
		case r.Method == http.MethodGet || r.Method == http.MethodHead:
			u.mu.Lock()
			known := u.blobs[repo+"@"+rest]
			u.mu.Unlock()
			if known && r.Method == http.MethodGet && u.slow.Load() {
				time.Sleep(20 * time.Millisecond)
			}
			if !known {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusNotFound)
				fmt.Fprint(w, `{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown to registry"}]}`)
				return
			}
		}
		reg.ServeHTTP(w, r)
	}))
	t.Cleanup(u.Close)
	return u
}

type propRun struct {
	t     *testing.T
	seed  uint64
	rng   *rand.Rand
	up    *scopedUpstream
	nodes []*propNode
	kit   *policyKit
	// hashes are the users' bcrypt hashes, the same in every policy.
	hashes map[string]string
	// version is the policy's (0: none yet, every caller may do
	// anything), rules its rules.
	version uint64
	rules   []policy.Rule

	blobs     map[digest.Digest][]byte
	blobList  []digest.Digest
	manifests map[digest.Digest]*propManifest
	manList   []digest.Digest
	upstream  map[string]*propUpstream
	upTags    []string

	step     int
	stepName string
	history  []string
	// tally counts answers by kind, for the summary a run logs.
	tally map[string]int
}

// propStep is one kind of step and how often it is drawn.
type propStep struct {
	name   string
	weight int
	run    func(*propRun)
}

var propSteps = []propStep{
	{"push blob", 14, (*propRun).pushBlob},
	{"mount blob", 7, (*propRun).mountBlob},
	{"push manifest", 12, (*propRun).pushManifest},
	{"delete manifest", 4, (*propRun).deleteManifest},
	{"delete blob", 4, (*propRun).deleteBlob},
	{"change policy", 3, (*propRun).changePolicy},
	{"push upstream", 3, (*propRun).pushUpstream},
	{"read blob", 30, (*propRun).readBlob},
	{"read manifest", 20, (*propRun).readManifest},
	{"read a blob through two repositories at once", 6, (*propRun).readTogether},
}

func TestPropertyContentBelongsToItsRepository(t *testing.T) {
	steps, sequences := 400, 4
	if testing.Short() {
		steps, sequences = 100, 1
	}
	if s := os.Getenv(propStepsEnv); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			t.Fatalf("%s=%q: want a positive number", propStepsEnv, s)
		}
		steps = n
	}
	var seeds []uint64
	if s := os.Getenv(propSeedEnv); s != "" {
		seed, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: want a number", propSeedEnv, s)
		}
		seeds = []uint64{seed}
	} else {
		base := uint64(time.Now().UnixNano()) % 1_000_000_000
		for i := range sequences {
			seeds = append(seeds, base+uint64(i))
		}
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			t.Logf("%s=%d, %d steps", propSeedEnv, seed, steps)
			r := newPropRun(t, seed)
			for r.step = 1; r.step <= steps; r.step++ {
				s := r.pick()
				r.stepName = s.name
				s.run(r)
			}
			t.Logf("%d nodes; answers: %s", len(r.nodes), r.summary())
		})
	}
}

func newPropRun(t *testing.T, seed uint64) *propRun {
	r := &propRun{
		t: t, seed: seed, rng: rand.New(rand.NewPCG(seed, 0x5ea1)),
		up: newScopedUpstream(t), kit: newPolicyKit(t),
		hashes:    map[string]string{"alice": bcryptHash(t, "alice-pw"), "bob": bcryptHash(t, "bob-pw")},
		tally:     map[string]int{},
		blobs:     map[digest.Digest][]byte{},
		manifests: map[digest.Digest]*propManifest{},
		upstream:  map[string]*propUpstream{},
	}
	count := 2 + int(seed%2)
	var boot []string
	for range count {
		n, _ := startFleetNode(t, r.up.URL, boot, func(c *Config) {
			c.PolicyRoots = rootKeys(t, r.kit.rootPEM)
			c.TagTTL = time.Hour // tags here move only by pushes the model sees
			if os.Getenv(propLogEnv) != "" {
				c.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("node", len(r.nodes))
			}
		})
		boot = append(boot, n.p2p.Addrs()...)
		r.nodes = append(r.nodes, &propNode{
			n: n, local: map[string]bool{}, linked: map[string]map[digest.Digest]bool{},
			records: map[string]map[digest.Digest]bool{}, tags: map[string]map[string]digest.Digest{},
		})
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		connected := true
		for _, pn := range r.nodes {
			connected = connected && pn.n.p2p.Peers() >= count-1
		}
		if connected {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the fleet did not connect")
		}
	}
	// Few blobs, so that repositories share them.
	for range 6 {
		r.newBlob()
	}
	for _, repo := range propMirroredRepos {
		r.upstream[repo] = &propUpstream{blobs: map[digest.Digest]bool{}, manifests: map[digest.Digest]bool{}, tags: map[string]digest.Digest{}}
		r.pushUpstreamImage(repo, false)
	}
	if r.rng.IntN(2) == 0 {
		r.changePolicy()
	}
	return r
}

// newBlob adds a blob to those the steps push, never two alike.
func (r *propRun) newBlob() digest.Digest {
	b := make([]byte, 32+r.rng.IntN(224))
	for j := range b {
		b[j] = byte(r.rng.Uint32())
	}
	b = binary.BigEndian.AppendUint32(b, uint32(len(r.blobList)))
	d := digest.FromBytes(b)
	r.blobs[d] = b
	r.blobList = append(r.blobList, d)
	return d
}

func (r *propRun) pick() propStep {
	total := 0
	for _, s := range propSteps {
		total += s.weight
	}
	n := r.rng.IntN(total)
	for _, s := range propSteps {
		if n < s.weight {
			return s
		}
		n -= s.weight
	}
	panic("unreachable")
}

func pickOf[T any](r *propRun, xs []T) T { return xs[r.rng.IntN(len(xs))] }

// caller is mostly a user with credentials.
func (r *propRun) caller() propCaller {
	if r.rng.IntN(5) == 0 {
		return propCallers[0]
	}
	return pickOf(r, propCallers[1:])
}

// readTarget is a node, a caller and a repository to read: half the
// reads of a local repository on a node other than its home, through
// the fleet.
func (r *propRun) readTarget() (*propNode, propCaller, string) {
	pn, c, repo := pickOf(r, r.nodes), r.caller(), pickOf(r, propRepos)
	if i := slices.Index(propLocalRepos, repo); i >= 0 && r.rng.IntN(2) == 0 {
		pn = r.nodes[(i+1+r.rng.IntN(len(r.nodes)-1))%len(r.nodes)]
	}
	return pn, c, repo
}

// writeTarget is where a write goes: mostly a local repository, mostly
// on its home node, so that the other nodes see it through the fleet.
func (r *propRun) writeTarget() (*propNode, string) {
	if r.rng.IntN(7) == 0 {
		return pickOf(r, r.nodes), pickOf(r, propMirroredRepos)
	}
	i := r.rng.IntN(len(propLocalRepos))
	pn := r.nodes[i%len(r.nodes)]
	if r.rng.IntN(12) == 0 {
		pn = pickOf(r, r.nodes)
	}
	return pn, propLocalRepos[i]
}

func (r *propRun) logf(format string, args ...any) {
	r.history = append(r.history, fmt.Sprintf("%3d  ", r.step)+fmt.Sprintf(format, args...))
}

func (r *propRun) failf(format string, args ...any) {
	r.t.Helper()
	r.t.Fatalf("step %d (%s): %s\n\nsteps so far:\n%s\n\nreproduce with %s=%d go test -race ./node -run Property -count=1 (%d steps here)",
		r.step, r.stepName, fmt.Sprintf(format, args...), strings.Join(r.history, "\n"), propSeedEnv, r.seed, r.step)
}

func short(ds ...digest.Digest) string {
	var s []string
	for _, d := range ds {
		s = append(s, d.Encoded()[:8])
	}
	return strings.Join(s, ",")
}

func (r *propRun) changePolicy() {
	var rules []policy.Rule
	actions := []policy.Action{policy.Pull, policy.Push, policy.Delete}
	for _, who := range []string{"anyone", "alice", "bob"} {
		p := 0.75
		if who == "anyone" {
			p = 0.4
		}
		for _, repo := range propRepos {
			var acts []policy.Action
			for _, a := range actions {
				if r.rng.Float64() < p {
					acts = append(acts, a)
				}
			}
			if len(acts) > 0 {
				rules = append(rules, policy.Rule{Identities: []string{who}, Actions: acts, Repositories: []string{repo}})
			}
		}
	}
	if r.rng.IntN(3) == 0 {
		rules = append(rules, policy.Rule{Identities: []string{pickOf(r, []string{"alice", "bob"})}, Actions: []policy.Action{"*"}, Repositories: []string{"team/**"}})
	}
	if r.rng.IntN(3) == 0 {
		rules = append(rules, policy.Rule{Effect: "deny", Identities: []string{pickOf(r, []string{"anyone", "alice", "bob"})},
			Actions: []policy.Action{pickOf(r, actions)}, Repositories: []string{pickOf(r, propRepos)}})
	}
	r.version++
	var peers []string
	for _, pn := range r.nodes {
		peers = append(peers, pn.n.p2p.ID().String())
	}
	now := time.Now().UTC().Truncate(time.Second)
	env := r.kit.sign(r.t, &policy.Document{
		Version: r.version, Network: "property", Issued: now.Add(-time.Minute), Expires: now.Add(24 * time.Hour),
		Peers: policy.Peers{Allow: peers},
		Identities: []policy.Identity{
			{Name: "anyone", Anonymous: true},
			{Name: "alice", Username: "alice", PasswordHash: r.hashes["alice"]},
			{Name: "bob", Username: "bob", PasswordHash: r.hashes["bob"]},
		},
		Rules: rules,
	})
	r.rules = rules
	var desc []string
	for _, rule := range rules {
		desc = append(desc, fmt.Sprintf("%s%v:%v:%v", map[bool]string{true: "deny ", false: ""}[rule.Effect == "deny"], rule.Identities, rule.Actions, rule.Repositories))
	}
	r.logf("policy v%d: %s", r.version, strings.Join(desc, " "))
	for i, pn := range r.nodes {
		// A peer may have passed it on already: the same policy again is
		// fine.
		w := serveReq(r.t, pn.n.Handler(), req{method: http.MethodPut, path: "/shoal/v1/policy", body: env})
		if w.Code != http.StatusOK {
			r.failf("node%d: PUT /shoal/v1/policy: %d %s", i, w.Code, w.Body.String())
		}
	}
}

// ---- requests

func (r *propRun) send(pn *propNode, c propCaller, rq req) (answer, *httptest.ResponseRecorder) {
	rq.user, rq.pass, rq.remote = c.user, c.pass, c.remote
	w := serveReq(r.t, pn.n.Handler(), rq)
	// Every new policy makes each node check each password again, and a
	// fast run changes policies faster than the checks' rate limit
	// allows: wait as the node says (not what this test is about).
	for range 5 {
		if w.Code != http.StatusTooManyRequests {
			break
		}
		r.tally["waits for the password check rate limit"]++
		time.Sleep(time.Second)
		w = serveReq(r.t, pn.n.Handler(), rq)
	}
	a := answer{status: w.Code, code: errCode(w)}
	if w.Code == http.StatusOK && rq.method == http.MethodGet {
		a.body = digest.FromBytes(w.Body.Bytes())
	}
	return a, w
}

func (r *propRun) nodeIndex(pn *propNode) int { return slices.Index(r.nodes, pn) }

// read sends a read, retrying a serve only peers can give, and checks
// the answer against the model, asking it again if the first check
// fails (a fetch for a peer may have finished in between). It returns
// the answer and the expectation it met.
func (r *propRun) read(pn *propNode, c propCaller, rq req, want digest.Digest, notFound string, model func() expect) (answer, expect) {
	r.t.Helper()
	head := rq.method == http.MethodHead
	e := r.gate(c, rq.path, model)
	a, _ := r.send(pn, c, rq)
	for deadline := time.Now().Add(propFleetWait); e.fromPeers && !e.matches(a, want, notFound, head) && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
		r.tally["retries of reads from peers"]++
		a, _ = r.send(pn, c, rq)
	}
	if !e.matches(a, want, notFound, head) {
		if again := r.gate(c, rq.path, model); again.matches(a, want, notFound, head) {
			e = again
		} else {
			r.logf("node%d %s %s %s -> %s, want %s", r.nodeIndex(pn), c.name, rq.method, rq.path, a, e)
			what := "not the answer the model expects"
			switch {
			case e.status != 0:
			case e.v == refuse && a.status == http.StatusOK:
				what = "returned content through a repository that does not hold it"
			case e.v == serve && a.status == http.StatusNotFound:
				what = "refused content the caller may read"
			}
			r.failf("node%d %s %s %s: got %s, want %s: %s", r.nodeIndex(pn), c.name, rq.method, rq.path, a, e, what)
		}
	}
	r.logf("node%d %s %s %s -> %s (model: %s)", r.nodeIndex(pn), c.name, rq.method, rq.path, a, e)
	r.count("read", a, e)
	return a, e
}

// count tallies an answer: what kind of request, and which of the
// model's cases it met.
func (r *propRun) count(kind string, a answer, e expect) {
	switch {
	case e.status != 0:
		kind += " " + strconv.Itoa(a.status)
	case a.status == http.StatusOK && e.fromPeers:
		kind += " served by a peer"
	case a.status == http.StatusOK:
		kind += " served"
	default:
		kind += " refused"
	}
	if e.v == either && e.status == 0 {
		kind += " (either)"
	}
	r.tally[kind]++
}

func (r *propRun) summary() string {
	var s []string
	for _, k := range slices.Sorted(maps.Keys(r.tally)) {
		s = append(s, fmt.Sprintf("%s %d", k, r.tally[k]))
	}
	return strings.Join(s, ", ")
}

// gate is the policy's answer to a pull of the repository in path, or
// else the model's.
func (r *propRun) gate(c propCaller, path string, model func() expect) expect {
	if e, denied := r.denial(c, policy.Pull, repoOf(path)); denied {
		return e
	}
	return model()
}

// repoOf is the repository of a /v2/<repo>/(blobs|manifests)/… path.
func repoOf(path string) string {
	p := strings.TrimPrefix(path, "/v2/")
	for _, sep := range []string{"/blobs/", "/manifests/"} {
		if i := strings.Index(p, sep); i >= 0 {
			return p[:i]
		}
	}
	return p
}

// write sends a write and checks its status and code against e.
func (r *propRun) write(pn *propNode, c propCaller, rq req, e expect) (answer, *httptest.ResponseRecorder) {
	r.t.Helper()
	a, w := r.send(pn, c, rq)
	r.logf("node%d %s %s %s -> %s (model: %s)", r.nodeIndex(pn), c.name, rq.method, rq.path, a, e)
	if !e.matches(a, "", "", true) {
		r.failf("node%d %s %s %s: got %s %s, want %s", r.nodeIndex(pn), c.name, rq.method, rq.path, a, w.Body.String(), e)
	}
	r.count("write", a, e)
	return a, w
}

// ---- steps

func (r *propRun) pushBlob() {
	pn, repo := r.writeTarget()
	c, d := r.caller(), pickOf(r, r.blobList)
	e, denied := r.denial(c, policy.Push, repo)
	switch {
	case denied:
	case propMirrored(repo):
		e = expect{status: http.StatusMethodNotAllowed, code: "UNSUPPORTED"}
	default:
		e = expect{status: http.StatusCreated}
	}
	a, _ := r.write(pn, c, req{method: http.MethodPost, path: "/v2/" + repo + "/blobs/uploads/?digest=" + d.String(),
		body: r.blobs[d], contentType: "application/octet-stream"}, e)
	if a.status == http.StatusCreated {
		pn.local[repo] = true
		putIn(pn.linked, repo, d, true)
	}
}

func (r *propRun) mountBlob() {
	pn, repo := r.writeTarget()
	c, from := r.caller(), pickOf(r, propRepos)
	// Mostly a blob from has, to mount something.
	d := pickOf(r, r.blobList)
	if held := slices.Collect(maps.Keys(pn.linked[from])); len(held) > 0 && r.rng.IntN(4) > 0 {
		slices.Sort(held)
		d = pickOf(r, held)
	}
	e, denied := r.denial(c, policy.Push, repo)
	if !denied {
		e, denied = r.denial(c, policy.Pull, from)
	}
	switch {
	case denied:
	case propMirrored(repo):
		e = expect{status: http.StatusMethodNotAllowed, code: "UNSUPPORTED"}
	case propMirrored(from) || !pn.linked[from][d]:
		e = expect{status: http.StatusAccepted} // an upload session instead
	default:
		e = expect{status: http.StatusCreated}
	}
	a, w := r.write(pn, c, req{method: http.MethodPost, path: "/v2/" + repo + "/blobs/uploads/?mount=" + d.String() + "&from=" + from}, e)
	switch a.status {
	case http.StatusCreated:
		pn.local[repo] = true
		putIn(pn.linked, repo, d, true)
	case http.StatusAccepted:
		loc := w.Header().Get("Location")
		if cw := serveReq(r.t, pn.n.Handler(), req{method: http.MethodDelete, path: loc, user: c.user, pass: c.pass, remote: c.remote}); cw.Code != http.StatusNoContent {
			r.failf("cancelling the upload %s: %d %s", loc, cw.Code, cw.Body.String())
		}
	}
}

// newManifest makes an image manifest or an index for repo on pn: mostly
// of content repo holds there, sometimes of anything, sometimes listing
// a non-distributable layer (which a push does not check).
func (r *propRun) newManifest(pn *propNode, repo string) *propManifest {
	if r.rng.IntN(6) == 0 && len(r.manList) > 0 {
		var idx ocispec.Index
		idx.SchemaVersion, idx.MediaType = 2, ocispec.MediaTypeImageIndex
		m := &propManifest{mediaType: ocispec.MediaTypeImageIndex}
		for range 1 + r.rng.IntN(2) {
			c := r.manifests[pickOf(r, r.manList)]
			if !slices.Contains(m.children, c.digest) {
				m.children = append(m.children, c.digest)
				idx.Manifests = append(idx.Manifests, ocispec.Descriptor{MediaType: c.mediaType, Digest: c.digest, Size: int64(len(c.body))})
			}
		}
		m.body, _ = json.Marshal(idx)
		return r.remember(m)
	}
	held := slices.Sorted(maps.Keys(pn.linked[repo]))
	held = slices.DeleteFunc(held, func(d digest.Digest) bool { return r.blobs[d] == nil })
	blob := func() digest.Digest {
		if len(held) > 0 && r.rng.IntN(5) > 0 {
			return pickOf(r, held)
		}
		return pickOf(r, r.blobList)
	}
	desc := func(mediaType string, d digest.Digest) ocispec.Descriptor {
		size := int64(len(r.blobs[d]))
		if m := r.manifests[d]; m != nil {
			size = int64(len(m.body))
		}
		return ocispec.Descriptor{MediaType: mediaType, Digest: d, Size: size}
	}
	m := &propManifest{mediaType: ocispec.MediaTypeImageManifest}
	im := ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest}
	im.Config = desc(ocispec.MediaTypeImageConfig, blob())
	m.blobs = append(m.blobs, im.Config.Digest)
	for range 1 + r.rng.IntN(2) {
		l := blob()
		im.Layers = append(im.Layers, desc(ocispec.MediaTypeImageLayerGzip, l))
		m.blobs = append(m.blobs, l)
	}
	if r.rng.IntN(4) == 0 {
		// Another repository's blob or manifest, listed where a push does
		// not look.
		f := pickOf(r, r.blobList)
		if len(r.manList) > 0 && r.rng.IntN(3) == 0 {
			f = pickOf(r, r.manList)
		}
		im.Layers = append(im.Layers, desc(ocispec.MediaTypeImageLayerNonDistributableGzip, f)) //nolint:staticcheck // what the test is about
		m.foreign = append(m.foreign, f)
	}
	m.body, _ = json.Marshal(im)
	return r.remember(m)
}

func (r *propRun) remember(m *propManifest) *propManifest {
	m.digest = digest.FromBytes(m.body)
	if old := r.manifests[m.digest]; old != nil {
		return old
	}
	r.manifests[m.digest] = m
	r.manList = append(r.manList, m.digest)
	return m
}

func (r *propRun) pushManifest() {
	// Into a repository pushed to on this node (or a mirrored one, which
	// refuses): a first push of a manifest into a repository checks its
	// blobs through the fleet, which the read steps cover.
	pn, repo := r.writeTarget()
	c := r.caller()
	if !propMirrored(repo) && !pn.local[repo] {
		candidates := slices.Clone(propMirroredRepos)
		for _, repo := range propLocalRepos {
			if pn.local[repo] {
				candidates = append(candidates, repo)
			}
		}
		repo = pickOf(r, candidates)
	}
	m := r.newManifest(pn, repo)
	ref := m.digest.String()
	if r.rng.IntN(2) == 0 {
		ref = pickOf(r, propTags)
	}
	e, denied := r.denial(c, policy.Push, repo)
	switch {
	case denied:
	case propMirrored(repo):
		// Its blobs are checked (through the mirror) before the write is
		// refused.
		e = expect{status: http.StatusMethodNotAllowed, code: "UNSUPPORTED"}
		if slices.ContainsFunc(m.blobs, func(b digest.Digest) bool { return r.expectBlob(pn, repo, b).v == refuse }) {
			e = expect{status: http.StatusBadRequest, code: "MANIFEST_BLOB_UNKNOWN"}
		}
	case slices.ContainsFunc(m.blobs, func(b digest.Digest) bool { return !pn.linked[repo][b] }):
		e = expect{status: http.StatusBadRequest, code: "MANIFEST_BLOB_UNKNOWN"}
	default:
		e = expect{status: http.StatusCreated}
	}
	kind := "image"
	if m.children != nil {
		kind = "index of " + short(m.children...)
	} else if m.foreign != nil {
		kind = "image, non-distributable " + short(m.foreign...)
	}
	r.logf("manifest %s: %s, blobs %s", short(m.digest), kind, short(m.blobs...))
	a, _ := r.write(pn, c, req{method: http.MethodPut, path: "/v2/" + repo + "/manifests/" + ref, body: m.body, contentType: m.mediaType}, e)
	if a.status == http.StatusCreated {
		pn.local[repo] = true
		putIn(pn.records, repo, m.digest, true)
		putIn(pn.linked, repo, m.digest, true)
		if ref != m.digest.String() {
			putIn(pn.tags, repo, ref, m.digest)
		}
	}
}

func (r *propRun) deleteManifest() {
	pn, repo := r.writeTarget()
	c, d := r.caller(), propNeverStored
	if recs := slices.Sorted(maps.Keys(pn.records[repo])); len(recs) > 0 && r.rng.IntN(5) > 0 {
		d = pickOf(r, recs)
	} else if len(r.manList) > 0 {
		d = pickOf(r, r.manList)
	}
	e, denied := r.denial(c, policy.Delete, repo)
	switch {
	case denied:
	case propMirrored(repo):
		e = expect{status: http.StatusMethodNotAllowed, code: "UNSUPPORTED"}
	case !pn.records[repo][d]:
		e = expect{status: http.StatusNotFound, code: "MANIFEST_UNKNOWN"}
	default:
		e = expect{status: http.StatusAccepted}
	}
	a, _ := r.write(pn, c, req{method: http.MethodDelete, path: "/v2/" + repo + "/manifests/" + d.String()}, e)
	if a.status != http.StatusAccepted {
		return
	}
	delete(pn.records[repo], d)
	delete(pn.linked[repo], d)
	maps.DeleteFunc(pn.tags[repo], func(_ string, td digest.Digest) bool { return td == d })
	if !pn.local[repo] {
		return // a fetched copy: its blobs stay until evicted
	}
	// The blobs no other manifest of repo still uses go with it (a
	// manifest of repo listed as a layer stays: its record keeps it).
	for _, b := range r.manifests[d].layers() {
		used := pn.records[repo][b]
		for other := range pn.records[repo] {
			used = used || slices.Contains(r.manifests[other].needs(), b)
		}
		if !used {
			delete(pn.linked[repo], b)
		}
	}
}

func (r *propRun) deleteBlob() {
	pn, repo := r.writeTarget()
	c, d := r.caller(), pickOf(r, r.blobList)
	e, denied := r.denial(c, policy.Delete, repo)
	switch {
	case denied:
	case propMirrored(repo):
		e = expect{status: http.StatusMethodNotAllowed, code: "UNSUPPORTED"}
	case !pn.linked[repo][d]:
		e = expect{status: http.StatusNotFound, code: "BLOB_UNKNOWN"}
	default:
		e = expect{status: http.StatusAccepted}
	}
	a, _ := r.write(pn, c, req{method: http.MethodDelete, path: "/v2/" + repo + "/blobs/" + d.String()}, e)
	if a.status == http.StatusAccepted {
		delete(pn.linked[repo], d)
	}
}

func (r *propRun) pushUpstream() {
	r.pushUpstreamImage(pickOf(r, propMirroredRepos), true)
}

// pushUpstreamImage pushes an image into the upstream repository behind
// repo; varied, it may instead push an index of what it holds, or an
// image of new content, or one listing as a non-distributable layer a
// blob or manifest it does not hold (which registries accept).
func (r *propRun) pushUpstreamImage(repo string, varied bool) {
	u := r.upstream[repo]
	path := strings.TrimPrefix(repo, propRule+"/")
	tag := fmt.Sprintf("u%d", len(r.upTags))
	r.upTags = append(r.upTags, tag)
	if varied && len(u.manifests) > 0 && r.rng.IntN(4) == 0 {
		children := slices.Sorted(maps.Keys(u.manifests))
		c := r.manifests[pickOf(r, children)]
		idx := ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex,
			Manifests: []ocispec.Descriptor{{MediaType: c.mediaType, Digest: c.digest, Size: int64(len(c.body))}}}
		m := &propManifest{mediaType: ocispec.MediaTypeImageIndex, children: []digest.Digest{c.digest}}
		m.body, _ = json.Marshal(idx)
		r.putUpstream(repo, path, tag, r.remember(m))
		return
	}
	im := ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest}
	m := &propManifest{mediaType: ocispec.MediaTypeImageManifest}
	var fresh digest.Digest
	if varied && r.rng.IntN(2) == 0 {
		fresh = r.newBlob() // content no node stores yet
	}
	cfg := pickOf(r, r.blobList)
	im.Config = ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: cfg, Size: int64(len(r.blobs[cfg]))}
	m.blobs = append(m.blobs, cfg)
	for i := range 1 + r.rng.IntN(2) {
		l := pickOf(r, r.blobList)
		if i == 0 && fresh != "" {
			l = fresh
		}
		im.Layers = append(im.Layers, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: l, Size: int64(len(r.blobs[l]))})
		m.blobs = append(m.blobs, l)
	}
	for _, b := range m.blobs {
		if !u.blobs[b] {
			pushBlob(r.t, r.up.URL, path, r.blobs[b])
			u.blobs[b] = true
		}
	}
	if varied && r.rng.IntN(2) == 0 {
		f := pickOf(r, r.blobList)
		size := int64(len(r.blobs[f]))
		if len(r.manList) > 0 && r.rng.IntN(3) == 0 {
			fm := r.manifests[pickOf(r, r.manList)]
			f, size = fm.digest, int64(len(fm.body))
		}
		im.Layers = append(im.Layers, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerNonDistributableGzip, Digest: f, Size: size}) //nolint:staticcheck // what the test is about
		m.foreign = append(m.foreign, f)
	}
	m.body, _ = json.Marshal(im)
	r.putUpstream(repo, path, tag, r.remember(m))
}

func (r *propRun) putUpstream(repo, path, tag string, m *propManifest) {
	if status := putManifestBody(r.t, r.up.URL, path, tag, m.mediaType, m.body); status != http.StatusCreated {
		r.failf("pushing manifest %s to upstream %s: %d", short(m.digest), path, status)
	}
	u := r.upstream[repo]
	u.manifests[m.digest] = true
	u.tags[tag] = m.digest
	r.logf("upstream %s:%s = %s (blobs %s, non-distributable %s, children %s)", path, tag, short(m.digest), short(m.blobs...), short(m.foreign...), short(m.children...))
}

// readDigest picks what to read through repo: mostly content some node
// or upstream holds there, else anything (another repository's content,
// or nothing at all).
func (r *propRun) readDigest(repo string, manifests bool) digest.Digest {
	var held []digest.Digest
	for _, pn := range r.nodes {
		for d := range pn.linked[repo] {
			held = append(held, d)
		}
		for d := range pn.records[repo] {
			held = append(held, d)
			held = append(held, r.manifests[d].needs()...)
		}
	}
	if u := r.upstream[repo]; u != nil {
		held = append(held, slices.Collect(maps.Keys(u.blobs))...)
		held = append(held, slices.Collect(maps.Keys(u.manifests))...)
	}
	all := append(slices.Clone(r.blobList), r.manList...)
	if manifests {
		held = slices.DeleteFunc(held, func(d digest.Digest) bool { return r.manifests[d] == nil })
		all = slices.Clone(r.manList)
	}
	slices.Sort(held)
	held = slices.Compact(held)
	switch {
	case len(held) > 0 && r.rng.IntN(2) == 0:
		return pickOf(r, held)
	case len(all) > 0 && r.rng.IntN(8) > 0:
		return pickOf(r, all)
	}
	return propNeverStored
}

func (r *propRun) readBlob() {
	pn, c, repo := r.readTarget()
	d := r.readDigest(repo, false)
	method := http.MethodGet
	if r.rng.IntN(3) == 0 {
		method = http.MethodHead
	}
	storedBefore, heldBefore := r.stored(pn, d), r.holds(pn, repo, d)
	a, _ := r.read(pn, c, req{method: method, path: "/v2/" + repo + "/blobs/" + d.String()}, d, "BLOB_UNKNOWN",
		func() expect { return r.expectBlob(pn, repo, d) })
	if a.status == http.StatusOK && !propMirrored(repo) && !pn.local[repo] && storedBefore && !heldBefore {
		// Stored for something else: a peer confirmed that repo holds it,
		// and that is remembered.
		putIn(pn.linked, repo, d, true)
	}
	if a.status == http.StatusOK && method == http.MethodGet && !storedBefore {
		r.waitStored(pn, d)
	}
}

// waitStored waits until pn stores d, which it fetched to serve: the
// store commits a blob just after the last byte went out, and the next
// step must see it stored.
func (r *propRun) waitStored(pn *propNode, d digest.Digest) {
	for deadline := time.Now().Add(5 * time.Second); !r.stored(pn, d); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			r.failf("node%d did not store %s after serving it", r.nodeIndex(pn), short(d))
		}
	}
}

// readTogether reads a blob a node does not store through two
// repositories at once, one that shows it and one that does not: the
// store shares one transfer among everyone asking for a digest, and the
// second must not get it through the first's fetch.
func (r *propRun) readTogether() {
	pn, c := pickOf(r, r.nodes), r.caller()
	type pair struct {
		d          digest.Digest
		shows, not string
		e          expect
	}
	var pairs []pair
	for _, d := range r.blobList {
		if r.stored(pn, d) {
			continue
		}
		for _, shows := range propRepos {
			e := r.expectBlob(pn, shows, d)
			if e.v != serve || !r.allowed(c, policy.Pull, shows) {
				continue
			}
			for _, not := range propRepos {
				// Refused whether pn stores d or not.
				if r.expectBlob(pn, not, d).v == refuse && r.allowed(c, policy.Pull, not) &&
					(propMirrored(not) || pn.local[not] || !r.holds(pn, not, d)) {
					pairs = append(pairs, pair{d, shows, not, e})
				}
			}
		}
	}
	if len(pairs) == 0 {
		r.readBlob()
		return
	}
	p := pickOf(r, pairs)
	// Have the node check c's password first (send waits out its rate
	// limit), so that neither read below is refused for it.
	r.send(pn, c, req{path: "/v2/"})
	paths := []string{"/v2/" + p.shows + "/blobs/" + p.d.String(), "/v2/" + p.not + "/blobs/" + p.d.String()}
	var answers [2]answer
	var wg sync.WaitGroup
	r.up.slow.Store(true)
	defer r.up.slow.Store(false)
	for i, path := range paths {
		wg.Go(func() {
			w := serveReq(r.t, pn.n.Handler(), req{method: http.MethodGet, path: path, user: c.user, pass: c.pass, remote: c.remote})
			answers[i] = answer{status: w.Code, code: errCode(w)}
			if w.Code == http.StatusOK {
				answers[i].body = digest.FromBytes(w.Body.Bytes())
			}
		})
	}
	wg.Wait()
	r.logf("node%d %s GET %s and %s at once -> %s and %s (model: %s and refuse)", r.nodeIndex(pn), c.name, paths[0], paths[1], answers[0], answers[1], p.e)
	if !(expect{v: refuse}).matches(answers[1], p.d, "BLOB_UNKNOWN", false) {
		what := "not the answer the model expects"
		if answers[1].status == http.StatusOK {
			what = "returned content through a repository that does not hold it"
		}
		r.failf("node%d %s GET %s while %s was fetched: got %s, want refuse: %s", r.nodeIndex(pn), c.name, paths[1], paths[0], answers[1], what)
	}
	if !p.e.matches(answers[0], p.d, "BLOB_UNKNOWN", false) {
		// Only peers hold it, and their advertisement may not have
		// spread yet: read it again the ordinary way.
		answers[0], _ = r.read(pn, c, req{method: http.MethodGet, path: paths[0]}, p.d, "BLOB_UNKNOWN", func() expect { return r.expectBlob(pn, p.shows, p.d) })
	}
	r.count("read together", answers[0], p.e)
	if answers[0].status == http.StatusOK {
		r.waitStored(pn, p.d)
	}
}

func (r *propRun) readManifest() {
	pn, c, repo := r.readTarget()
	ref := r.readDigest(repo, true).String()
	if r.rng.IntN(3) == 0 {
		tags := propTags
		if propMirrored(repo) {
			tags = append(slices.Clone(r.upTags), propTags...)
		}
		ref = pickOf(r, tags)
	}
	want, err := digest.Parse(ref)
	if err != nil {
		want = "" // a tag
	}
	a, _ := r.read(pn, c, req{method: http.MethodGet, path: "/v2/" + repo + "/manifests/" + ref}, want, "MANIFEST_UNKNOWN",
		func() expect { return r.expectManifest(pn, repo, ref) })
	if a.status == http.StatusOK && !pn.local[repo] {
		// Fetched into repo here (or already there).
		putIn(pn.records, repo, a.body, true)
		putIn(pn.linked, repo, a.body, true)
		if want == "" {
			putIn(pn.tags, repo, ref, a.body)
		}
	}
}
