package main

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/shoal-dev/shoal/bench/internal/benchrun"
)

type report struct {
	o                     options
	cmd                   string
	env                   benchrun.Environment
	loadBefore, loadAfter string
	upstream              []image
	t                     *tally
	in                    *injector
	chaos                 time.Duration
	final                 finalResult
}

func (r *report) markdown(runErr error) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("## chaosbench: %d node containers, %v of faults under %d pulling and %d pushing clients\n\n", r.o.nodes, r.o.duration, r.o.pullers, r.o.pushers)
	w("Command: `%s`\n\n", r.cmd)
	e := r.env
	w("Machine: %d × %s (nproc %d), %s RAM, Linux %s, docker %s, %s, docker-registry %s, shoal `%s`. Load average before the chaos %s, after %s.\n\n",
		e.CPUs, e.Model, e.CPUs, e.MemTotal, e.Kernel, e.Docker, e.Go, e.Registry, e.Shoal, r.loadBefore, r.loadAfter)
	w("Setup: each node's /data is a %d MiB tmpfs on the host bind-mounted into its FROM scratch container (so a killed node restarts with its store); "+
		"the upstream is docker-registry in a container with its storage in a host directory, holding %d images of 1–3 random layers (256 KiB–2 MiB). "+
		"Pullers GET the manifest by tag and every blob through a random node that no fault has down (as a readiness-checking load balancer would route), hashing every body; "+
		"4 in 10 pulls are of images pushed during the run (local repositories are fleet-wide). Pushers push images of 1–2 random layers (8–96 KiB) to a random node's local repository. "+
		"Seed %d; a fault step every %v on average; each fault lasts 3–15 s; at most one of each kind at once; a killed node is never also the disconnected one.\n\n",
		r.o.diskMiB, len(r.upstream), r.o.seed, r.o.faultEvery)
	if r.in != nil {
		w("### Faults (%v of chaos)\n\n| kind | injected | healed |\n| --- | ---: | ---: |\n", r.chaos.Round(time.Second))
		for _, k := range faultKinds() {
			w("| %s | %d | %d |\n", k, r.in.injected[k], r.in.healed[k])
		}
		w("\n")
		w("Nodes that crashed on their own (exited with no kill fault), each restarted by the injector: **%d**\n\n", len(r.in.crashes))
		for _, c := range r.in.crashes {
			w("- %s\n", c)
		}
		if len(r.in.crashes) > 0 {
			w("\n")
		}
		if len(r.in.errs) > 0 {
			w("The injector's own failures (docker commands):\n\n")
			for _, e := range r.in.errs {
				w("- %s\n", e)
			}
			w("\n")
		}
	}
	if t := r.t; t != nil {
		w("### Client operations\n\n| operation | attempted | succeeded | failed |\n| --- | ---: | ---: | ---: |\n")
		for _, op := range []string{opPullUpstream, opPullLocal, opPush} {
			w("| %s | %d | %d | %d |\n", op, t.attempted[op], t.ok[op], t.fail[op])
		}
		w("\nFailures by reason (%q marks a call during which a fault had its node down or changed its state):\n\n", strings.TrimSpace(nodeDownNote))
		for _, op := range []string{opPullUpstream, opPullLocal, opPush} {
			rs := t.reasons[op]
			keys := make([]string, 0, len(rs))
			for k := range rs {
				keys = append(keys, k)
			}
			sort.Slice(keys, func(i, j int) bool {
				return rs[keys[i]] > rs[keys[j]] || rs[keys[i]] == rs[keys[j]] && keys[i] < keys[j]
			})
			for _, k := range keys {
				w("- %s: %d × `%s`\n", op, rs[k], k)
			}
		}
		if len(t.notFoundAge) > 0 {
			keys := make([]string, 0, len(t.notFoundAge))
			for k := range t.notFoundAge {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			w("\nPushed images answered 404 through a node no fault had down, by how long after the push:\n\n")
			for _, k := range keys {
				w("- %s: %d\n", k, t.notFoundAge[k])
			}
		}
		w("\n**Wrong bytes served** (a 200 whose body is not the digest asked for), during the chaos: **%d**; in the final pulls: **%d**.\n\n", len(t.wrong), len(r.final.wrong))
		for _, s := range append(append([]string(nil), t.wrong...), r.final.wrong...) {
			w("- %s\n", s)
		}
		w("**Longest failing pull** (a client's first failure of an image through a node no fault had down, to that client's next success of the same image; "+
			"a client comes back to one of the %d upstream images every second or so, but to one of the many pushed images rarely, so for those this mostly measures how long until it tried again):\n\n", len(r.upstream))
		for _, op := range []string{opPullUpstream, opPullLocal} {
			if l := t.longest[op]; l.dur > 0 {
				w("- %s: **%.1f s**, client %d, %s, %d failures, the last: `%s`\n", op, l.dur.Seconds(), l.client, l.image, l.failures, t.pat.reason(fmt.Errorf("%s", l.last)))
			} else {
				w("- %s: none failed through a node no fault had down and then succeeded\n", op)
			}
		}
		w("\n")
		if len(t.open) > 0 {
			w("Still failing when the chaos ended (no later success of the same image by that client): %d client/image pairs", len(t.open))
			var longest streak
			for _, s := range t.open {
				if s.dur > longest.dur {
					longest = s
				}
			}
			w("; the longest: client %d, %s (%s), failing for %.1f s, %d failures, the last: `%s`.\n\n", longest.client, longest.image, longest.op, longest.dur.Seconds(), longest.failures, t.pat.reason(fmt.Errorf("%s", longest.last)))
		}
	}
	f := r.final
	if r.t != nil && runErr == nil {
		w("### After healing\n\n")
		if len(f.notReady) > 0 {
			w("Not ready 60 s after the last heal: %s\n\n", strings.Join(f.notReady, "; "))
		}
		if f.peersErr != "" {
			w("Peers after 60 s: %s\n\n", f.peersErr)
		}
		w("- Stored blobs re-hashed from the nodes' data dirs: %d files, %.1f MiB; **bad: %d**\n", f.blobFiles, float64(f.blobBytes)/mib, len(f.badBlobs))
		n := len(r.t.pushed)
		w("- Pushed images (%d accepted) pulled through the node they were pushed to: %d; **lost: %d**\n", n, f.pushedOwn, len(f.lostOwn))
		w("- … and through the next node (local repositories are fleet-wide): %d; failed: %d\n", f.pushedOther, len(f.lostOther))
		w("- Upstream images through every node: %d of %d\n", f.upstreamOK, len(r.upstream)*r.o.nodes)
		w("- Final pulls that needed a retry (up to 2 attempts, 1 s apart): %d\n\n", f.retried)
		w("**Content lost: %d** (pushed images not pullable through their node, plus stored blobs failing re-hash).\n\n", len(f.lostOwn)+len(f.badBlobs))
		for _, l := range [][]string{f.badBlobs, f.lostOwn, f.lostOther, f.upstreamFail} {
			for i, s := range l {
				if i == 10 {
					w("- … and %d more\n", len(l)-10)
					break
				}
				w("- %s\n", s)
			}
		}
		w("\n")
	}
	if r.in != nil {
		w("<details><summary>Fault log</summary>\n\n```\n%s\n```\n</details>\n\n", strings.Join(r.in.events, "\n"))
	}
	if runErr != nil {
		w("**The run stopped early:** %v\n", runErr)
	}
	return b.String()
}
