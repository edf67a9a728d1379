package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// statusNow is the clock of the status tests: two hours after the
// canned node started.
var statusNow = time.Date(2026, 12, 4, 20, 0, 0, 0, time.UTC)

// runStatusAt runs `shoal status` against the node at base as of
// statusNow and returns its output with runs of spaces made one, so
// that tests need not spell out column widths.
func runStatusAt(t *testing.T, base string, opts statusOptions) (string, error) {
	t.Helper()
	api := testClient(t, mustURL(t, base))
	src := statusSource{api: api, images: newRegistryImages(api.BaseURL(), api), now: func() time.Time { return statusNow }}
	var out bytes.Buffer
	err := runStatus(context.Background(), src, opts, &out)
	return oneSpace(out.String()), err
}

func oneSpace(s string) string {
	for strings.Contains(s, "  ") {
		s = strings.ReplaceAll(s, "  ", " ")
	}
	return s
}

// cannedNode is a fake node for `shoal status`: fixed answers to the
// status, metrics, registry and scan endpoints.
type cannedNode struct {
	statusCode int
	status     string
	metrics    string
	// metricsCode, unless 0, is the answer to /metrics.
	metricsCode int
	// catalogCode, unless 0, is the answer to /v2/_catalog.
	catalogCode int
	// tags maps repository to tag to manifest.
	tags map[string]map[string]string
	// reports maps a manifest digest to its report.
	reports map[string]string
	// signatures maps a manifest digest to its signature checks; nil
	// for a node older than the endpoint (404).
	signatures map[string]string
}

func (c cannedNode) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	switch {
	case p == "/shoal/v1/status":
		if c.statusCode != 0 {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(c.statusCode)
			fmt.Fprint(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`)
			return
		}
		fmt.Fprint(w, c.status)
	case p == "/metrics":
		if c.metricsCode != 0 {
			w.WriteHeader(c.metricsCode)
			return
		}
		fmt.Fprint(w, c.metrics)
	case p == "/v2/":
		fmt.Fprint(w, "{}")
	case p == "/v2/_catalog":
		if c.catalogCode != 0 {
			w.WriteHeader(c.catalogCode)
			fmt.Fprint(w, `{"errors":[{"code":"DENIED","message":"denied"}]}`)
			return
		}
		var names []string
		for repo := range c.tags {
			names = append(names, `"`+repo+`"`)
		}
		fmt.Fprintf(w, `{"repositories":[%s]}`, strings.Join(names, ","))
	case strings.HasPrefix(p, "/shoal/v1/signatures/"):
		d := strings.TrimPrefix(p, "/shoal/v1/signatures/")
		if c.signatures == nil {
			http.NotFound(w, r)
			return
		}
		checks, ok := c.signatures[d]
		if !ok {
			checks = "[]"
		}
		fmt.Fprintf(w, `{"digest":%q,"checks":%s}`, d, checks)
	case strings.HasPrefix(p, "/shoal/v1/scans/"):
		rep, ok := c.reports[strings.TrimPrefix(p, "/shoal/v1/scans/")]
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"errors":[{"code":"NOT_FOUND","message":"no report"}]}`)
			return
		}
		fmt.Fprint(w, rep)
	default:
		for repo, tags := range c.tags {
			if p == "/v2/"+repo+"/tags/list" {
				var names []string
				for tag := range tags {
					names = append(names, `"`+tag+`"`)
				}
				fmt.Fprintf(w, `{"name":%q,"tags":[%s]}`, repo, strings.Join(names, ","))
				return
			}
			for tag, m := range tags {
				if p == "/v2/"+repo+"/manifests/"+tag || p == "/v2/"+repo+"/manifests/"+manifestDigest(m) {
					w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
					w.Header().Set("Docker-Content-Digest", manifestDigest(m))
					fmt.Fprint(w, m)
					return
				}
			}
		}
		http.NotFound(w, r)
	}
}

func manifestDigest(m string) string {
	sum := sha256.Sum256([]byte(m))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// cannedManifest is an image manifest of a 1000-byte config and a
// 1048576-byte layer: 1.0 MiB in all.
const cannedManifest = `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",` +
	`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:1111111111111111111111111111111111111111111111111111111111111111","size":1000},` +
	`"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:2222222222222222222222222222222222222222222222222222222222222222","size":1048576}]}`

const healthyStatus = `{"version":"1.4.0","peer_id":"12D3KooWSelf","p2p_addrs":["/ip4/10.0.0.1/tcp/5001/p2p/12D3KooWSelf"],"peers":2,
"connected_peers":[{"id":"12D3KooWPeerA","addr":"/ip4/10.0.0.2/tcp/5001","connected_since":"2026-12-04T19:30:00Z"},{"id":"12D3KooWPeerB","addr":"/ip4/10.0.0.3/tcp/5001"}],
"cache":{"bytes":536870912,"blobs":42,"max_bytes":1073741824,"state":"ok"},"policy":{"version":3,"network":"prod","expires":"2026-12-05T16:00:00Z","signers":["k1","k2"],"membership":{"any_with_swarm_key":false,"allowed_peers":3}},
"upstreams":["docker.io=https://registry-1.docker.io"]}`

// olderStatus is a node from before connected_peers and the policy's
// details: the counts only, the expiry from /metrics.
const olderStatus = `{"version":"1.3.0","peer_id":"12D3KooWSelf","p2p_addrs":[],"peers":2,
"cache":{"bytes":0,"blobs":0,"max_bytes":0,"state":"ok"},"policy":{"version":3},"upstreams":[]}`

// fleetStatus is a node that knows three peers: two connected (one told
// its facts), one that left 10 minutes ago.
const fleetStatus = `{"version":"1.5.0","peer_id":"12D3KooWSelf","p2p_addrs":["/ip4/10.0.0.1/tcp/5001/p2p/12D3KooWSelf"],"peers":2,
"connected_peers":[{"id":"12D3KooWPeerA","addr":"/ip4/10.0.0.2/tcp/5001"},{"id":"12D3KooWPeerB","addr":"/ip4/10.0.0.3/tcp/5001"}],
"known_peers":[
{"peer_id":"12D3KooWPeerA","addrs":["/ip4/10.0.0.2/tcp/5001"],"connected":true,"connected_since":"2026-12-04T19:30:00Z","last_seen":"2026-12-04T20:00:00Z","version":"1.5.0",
 "told":{"store_bytes":2147483648,"blobs":120,"version":"1.5.0","at":"2026-12-04T19:59:50Z"}},
{"peer_id":"12D3KooWPeerB","addrs":["/ip4/10.0.0.3/tcp/5001"],"connected":true,"last_seen":"2026-12-04T20:00:00Z"},
{"peer_id":"12D3KooWPeerGone","addrs":["/ip4/10.0.0.9/tcp/5001"],"connected":false,"last_seen":"2026-12-04T19:50:00Z","version":"1.4.0",
 "told":{"store_bytes":1048576,"blobs":3,"version":"1.4.0","at":"2026-12-04T19:49:00Z"}}],
"cache":{"bytes":536870912,"blobs":42,"max_bytes":0,"state":"ok"},"policy":{"version":0},"upstreams":[]}`

const degradedStatus = `{"version":"1.4.0","peer_id":"12D3KooWSelf","p2p_addrs":[],"peers":0,
"cache":{"bytes":1073741824,"blobs":7,"max_bytes":0,"state":"degraded","reason":"no space left on device","degraded_since":"2026-12-04T19:00:00Z"},
"policy":{"version":0},"upstreams":[]}`

// healthyMetrics: 3 MiB served to clients, 1 MiB of it fetched from
// peers and 512 KiB from upstream; 1 MiB served to peers.
const healthyMetrics = `# HELP shoal_served_bytes_total Blob bytes this node sent out, by whom to.
# TYPE shoal_served_bytes_total counter
shoal_served_bytes_total{to="client"} 3.145728e+06
shoal_served_bytes_total{to="peer"} 1048576
shoal_fetched_bytes_total{source="peer"} 1048576
shoal_fetched_bytes_total{source="upstream"} 524288
process_start_time_seconds 1.7964072e+09
shoal_policy_version 3
shoal_policy_expiry_timestamp_seconds 1.7964864e+09
shoal_policy_expired 0
`

func TestStatusTables(t *testing.T) {
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	image := map[string]map[string]string{"docker.io/library/alpine": {"3.20": cannedManifest}}
	// A signed image: cosign's .sig tag for its digest, and an .att tag
	// of another digest, neither of them an image to list.
	signedImage := map[string]map[string]string{"team/app": {
		"1": cannedManifest,
		strings.Replace(manifestDigest(cannedManifest), ":", "-", 1) + ".sig": "{}",
		"sha256-" + strings.Repeat("3", 64) + ".att":                          "{}",
	}}
	for _, tt := range []struct {
		name    string
		node    cannedNode
		want    []string
		notWant []string
		err     string
	}{
		{
			name: "healthy node",
			node: cannedNode{status: healthyStatus, metrics: healthyMetrics, tags: image,
				reports: map[string]string{manifestDigest(cannedManifest): `{"image":"x","findings":[{"id":"CVE-1","severity":"MEDIUM"},{"id":"CVE-2","severity":"HIGH"}],"trusted":true}`}},
			want: []string{
				"version         1.4.0",
				"store           512.0 MiB of 1.0 GiB (50%), 42 blobs",
				"store state     ok",
				// 3 MiB to clients, 1.5 MiB fetched: 1.5 MiB from the store.
				"bytes from store 50%, peers 33%, upstream 17% (of 3.0 MiB)",
				// 3 MiB + 1 MiB served, 0.5 MiB fetched upstream.
				"upstream saved  3.5 MiB",
				"FLEET: 2 peer(s) connected",
				"12D3KooWSelf (this node)",
				"/ip4/10.0.0.1/tcp/5001/p2p/12D3KooWSelf",
				"IMAGES: 1",
				"docker.io/library/alpine  3.20",
				manifestDigest(cannedManifest)[:19] + "…",
				"1.0 MiB",
				"docker.io  HIGH",
				"version  3",
				"uptime 2h0m0s",
				"expires  2026-12-05T16:00:00Z (in 20h0m0s)",
			},
		},
		{
			name: "degraded store, no peers, no policy",
			node: cannedNode{status: degradedStatus, metrics: "", tags: map[string]map[string]string{}},
			want: []string{
				"store           1.0 GiB (no size limit), 7 blobs",
				"store state     DEGRADED since 2026-12-04T19:00:00Z: no space left on device",
				"bytes from store -, peers -, upstream - (nothing served or fetched yet)",
				"uptime          -",
				"FLEET: 0 peer(s) connected",
				"IMAGES: 0",
				"version  none: the node is open",
				"expires  -",
			},
			notWant: []string{"REPOSITORY"},
		},
		{
			name: "an image without a report, from a local repository",
			node: cannedNode{status: degradedStatus, metrics: healthyMetrics, tags: map[string]map[string]string{"team/app": {"1": cannedManifest}}},
			want: []string{"team/app 1 sha256:", "1.0 MiB local not scanned -"},
		},
		{
			name: "a signed image",
			node: cannedNode{status: degradedStatus, metrics: healthyMetrics, tags: signedImage},
			want: []string{"IMAGES: 1", "team/app 1 sha256:", "local not scanned cosign .sig tag"},
		},
		{
			name:    "a signed image no rule checked",
			node:    cannedNode{status: degradedStatus, metrics: healthyMetrics, tags: signedImage, signatures: map[string]string{}},
			want:    []string{"IMAGES: 1", "local not scanned not checked (cosign .sig tag)"},
			notWant: []string{"sha256-", ".att"},
		},
		{
			name: "every peer known, with the store it told and when last seen",
			node: cannedNode{status: fleetStatus, metrics: healthyMetrics, tags: map[string]map[string]string{}},
			want: []string{
				"FLEET: 2 peer(s) connected",
				"PEER ID ADDRESS LAST SEEN STORE BLOBS VERSION",
				"12D3KooWSelf (this node) /ip4/10.0.0.1/tcp/5001/p2p/12D3KooWSelf now 512.0 MiB 42 1.5.0",
				"12D3KooWPeerA /ip4/10.0.0.2/tcp/5001 now (connected 30m0s) 2.0 GiB 120 1.5.0",
				"12D3KooWPeerB /ip4/10.0.0.3/tcp/5001 now - - -",
				"12D3KooWPeerGone /ip4/10.0.0.9/tcp/5001 10m0s ago 1.0 MiB 3 1.4.0",
			},
			notWant: []string{"more connected"},
		},
		{
			name: "the node's signature checks",
			node: cannedNode{status: degradedStatus, metrics: healthyMetrics, tags: map[string]map[string]string{
				"team/app": {"1": cannedManifest}, "other/app": {"1": strings.Replace(cannedManifest, "1000", "1001", 1)},
				"free/app": {"1": strings.Replace(cannedManifest, "1000", "1002", 1)}},
				signatures: map[string]string{
					manifestDigest(cannedManifest): `[{"repository":"elsewhere/app","state":"unsigned","rule":"elsewhere/**","mode":"warn","reason":"no signature found","at":"2026-12-04T19:00:00Z"},` +
						`{"repository":"team/app","state":"verified","rule":"team/**","reason":"team/**: verified","at":"2026-12-04T19:00:00Z"}]`,
					manifestDigest(strings.Replace(cannedManifest, "1000", "1001", 1)): `[{"repository":"other/app","state":"failed","rule":"other/**","mode":"enforce","reason":"not signed by a trusted key","at":"2026-12-04T19:00:00Z"}]`,
				}},
			want: []string{"team/app 1 sha256:", "not scanned verified (team/**)", "not scanned failed (other/**, refused)", "free/app 1 sha256:", "not scanned not checked"},
		},
		{
			name: "metrics refused",
			node: cannedNode{status: healthyStatus, metricsCode: http.StatusForbidden},
			want: []string{
				"bytes from - (metrics: http://127.0.0.1:",
				"/metrics answered 403 Forbidden: this caller may not read it",
				"upstream saved -",
				"uptime -",
				"store state ok",
				// The status document still gives the expiry.
				"expires 2026-12-05T16:00:00Z (in 20h0m0s)",
			},
		},
		{
			name: "catalog refused",
			node: cannedNode{status: healthyStatus, metrics: healthyMetrics, catalogCode: http.StatusUnauthorized},
			want: []string{"IMAGES: 0", "listing repositories: the node answered 401 Unauthorized: log in with `docker login 127.0.0.1:", "store state     ok"},
		},
		{
			name: "status refused",
			node: cannedNode{statusCode: http.StatusUnauthorized},
			err:  "/shoal/v1/status answered 401 Unauthorized: this caller may not read it",
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.node)
			defer srv.Close()
			out, err := runStatusAt(t, srv.URL, statusOptions{format: "table"})
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want one saying %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if w = oneSpace(w); !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(out, w) {
					t.Errorf("output has %q:\n%s", w, out)
				}
			}
		})
	}
}

func mustURL(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
