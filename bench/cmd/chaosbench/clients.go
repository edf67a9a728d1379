package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/shoal-dev/shoal/bench/internal/benchrun"
	"github.com/shoal-dev/shoal/integration/harness"
)

// The operations the clients count.
const (
	opPullUpstream = "pull of an upstream image"
	opPullLocal    = "pull of a pushed image"
	opPush         = "push to a node"
)

// nodeDownNote marks a failure whose node a fault had down (killed or
// disconnected) at some point of the call: no fleet could have answered
// through it, so it starts no failing streak.
const nodeDownNote = " [its node was killed or disconnected]"

// tally is what the clients did, behind one lock.
type tally struct {
	mu                  sync.Mutex
	attempted, ok, fail map[string]int
	reasons             map[string]map[string]int
	wrong               []string
	pushed              []image
	pat                 *reasonPatterns
	longest             map[string]streak // by operation
	open                []streak          // still failing when the run ended
	// notFoundAge counts pushed images answered 404 through a node no
	// fault had down, by how long before the pull they were pushed, and
	// whether through the node pushed to.
	notFoundAge map[string]int
}

// ageBucket names how long ago an image was pushed.
func ageBucket(d time.Duration) string {
	switch {
	case d < time.Second:
		return "< 1 s"
	case d < 5*time.Second:
		return "1–5 s"
	case d < 30*time.Second:
		return "5–30 s"
	default:
		return "≥ 30 s"
	}
}

func (t *tally) notFound(im image, through int, age time.Duration, ownerDown bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	where := "another node"
	switch {
	case through == im.node:
		where = "the node pushed to"
	case ownerDown:
		// Only the node pushed to may know the tag: with it down or cut
		// off, a 404 is the answer the fleet can give.
		where = "another node while the node pushed to was down"
	}
	t.notFoundAge[fmt.Sprintf("through %s, pushed %s before", where, ageBucket(age))]++
}

// streak is a time a client kept failing to pull one image through nodes
// no fault had down, until its next success of the same image.
type streak struct {
	op       string
	dur      time.Duration
	client   int
	image    string
	failures int
	last     string
}

func newTally() *tally {
	return &tally{
		attempted: map[string]int{}, ok: map[string]int{}, fail: map[string]int{},
		reasons: map[string]map[string]int{}, pat: newReasonPatterns(), longest: map[string]streak{}, notFoundAge: map[string]int{},
	}
}

func (t *tally) record(op string, err error, nodeDown bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.attempted[op]++
	if err == nil {
		t.ok[op]++
		return
	}
	t.fail[op]++
	r := t.pat.reason(err)
	if nodeDown {
		r += nodeDownNote
	}
	if t.reasons[op] == nil {
		t.reasons[op] = map[string]int{}
	}
	t.reasons[op][r]++
	var pe *pullError
	if errors.As(err, &pe) && pe.wrong {
		t.wrong = append(t.wrong, err.Error())
		benchrun.Logf("%v", err)
	}
}

func (t *tally) endStreak(s streak) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if s.dur > t.longest[s.op].dur {
		t.longest[s.op] = s
	}
}

func (t *tally) addPushed(im image) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.pushed = append(t.pushed, im)
}

func (t *tally) pick(rng *rand.Rand) (image, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.pushed) == 0 {
		return image{}, false
	}
	return t.pushed[rng.IntN(len(t.pushed))], true
}

// clients share the fleet view, the images on the upstream and the tally.
type clients struct {
	o        options
	c        *chaosFleet
	upstream []image
	t        *tally
	hc       *http.Client
}

// pickNode is a random node no fault has down, as a load balancer that
// checks readiness would route; any node if all are down.
func (cl *clients) pickNode(rng *rand.Rand) nodeView {
	var up []nodeView
	for i := range cl.o.nodes {
		if v := cl.c.view(i); !v.down {
			up = append(up, v)
		}
	}
	if len(up) == 0 {
		return cl.c.view(rng.IntN(cl.o.nodes))
	}
	return up[rng.IntN(len(up))]
}

// downDuring says whether node i was down, or had a fault injected or
// healed, between before and now.
func (cl *clients) downDuring(before nodeView) bool {
	after := cl.c.view(before.i)
	return before.down || after.down || after.epoch != before.epoch
}

// puller pulls until ctx ends: upstream images and pushed ones, through
// random nodes, timing how long each image keeps failing.
func (cl *clients) puller(ctx context.Context, id int) {
	rng := rand.New(rand.NewPCG(cl.o.seed, uint64(1000+id)))
	failingSince := map[string]time.Time{}
	failures := map[string]int{}
	lastErr := map[string]string{}
	ops := map[string]string{}
	for ctx.Err() == nil {
		im := cl.upstream[rng.IntN(len(cl.upstream))]
		op := opPullUpstream
		if rng.IntN(10) < 4 {
			if p, ok := cl.t.pick(rng); ok {
				im, op = p, opPullLocal
			}
		}
		v := cl.pickNode(rng)
		var owner nodeView
		if op == opPullLocal && im.node >= 0 {
			owner = cl.c.view(im.node)
		}
		pctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		err := pull(pctx, cl.hc, v.addr, im)
		cancel()
		if ctx.Err() != nil {
			break // the run ended mid-pull: not a result
		}
		down := cl.downDuring(v)
		cl.t.record(op, err, down)
		key := im.String()
		ops[key] = op
		switch {
		case err == nil:
			if since, ok := failingSince[key]; ok {
				cl.t.endStreak(streak{op: op, dur: time.Since(since), client: id, image: key, failures: failures[key], last: lastErr[key]})
				delete(failingSince, key)
			}
		case !down:
			if op == opPullLocal && strings.Contains(err.Error(), "404") {
				cl.t.notFound(im, v.i, time.Since(im.pushedAt), im.node >= 0 && cl.downDuring(owner))
			}
			if _, ok := failingSince[key]; !ok {
				failingSince[key] = time.Now()
				failures[key] = 0
			}
			failures[key]++
			lastErr[key] = fmt.Sprintf("n%d: %v", v.i, err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
	cl.t.mu.Lock()
	defer cl.t.mu.Unlock()
	for key, since := range failingSince {
		cl.t.open = append(cl.t.open, streak{op: ops[key], dur: time.Since(since), client: id, image: key, failures: failures[key], last: lastErr[key]})
	}
}

// pusher pushes small random images to random nodes' local repositories
// until ctx ends, recording each one a node accepted.
func (cl *clients) pusher(ctx context.Context, id int) {
	rng := rand.New(rand.NewPCG(cl.o.seed, uint64(2000+id)))
	for n := 0; ctx.Err() == nil; n++ {
		sizes := []int64{int64(8+rng.IntN(88)) * kib}
		if rng.IntN(2) == 0 {
			sizes = append(sizes, int64(8+rng.IntN(40))*kib)
		}
		seed := cl.o.seed*1_000_000 + uint64(id)*100_000 + uint64(n)
		img, err := harness.TarImage(v1.Platform{OS: "linux", Architecture: "amd64"}, seed, sizes...)
		if err != nil {
			benchrun.Logf("pusher %d: %v", id, err)
			return
		}
		im, err := describe(img, fmt.Sprintf("chaos/p%d-%d", id, n), "1")
		if err != nil {
			benchrun.Logf("pusher %d: %v", id, err)
			return
		}
		v := cl.pickNode(rng)
		im.node = v.i
		pctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		err = harness.PushImage(pctx, v.addr+"/"+im.String(), img)
		cancel()
		if ctx.Err() != nil {
			break
		}
		cl.t.record(opPush, err, cl.downDuring(v))
		if err == nil {
			im.pushedAt = time.Now()
			cl.t.addPushed(im)
		}
		select {
		case <-ctx.Done():
		case <-time.After(400 * time.Millisecond):
		}
	}
}

// describe is what pulling img as repo:tag must get.
func describe(img v1.Image, repo, tag string) (image, error) {
	d, err := img.Digest()
	if err != nil {
		return image{}, err
	}
	m, err := img.Manifest()
	if err != nil {
		return image{}, err
	}
	im := image{repo: repo, tag: tag, digest: d.String(), node: -1, blobs: []string{m.Config.Digest.String()}}
	for _, l := range m.Layers {
		im.blobs = append(im.blobs, l.Digest.String())
	}
	return im, nil
}
