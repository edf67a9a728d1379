package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/shoal-dev/shoal/adminapi"
)

// none is what a table shows for a fact the node does not report.
const none = "-"

// writeStatusTables prints f as four sections: the node, its fleet, its
// images and its policy.
func writeStatusTables(w io.Writer, f *nodeFacts) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	st := f.Status
	row := func(cells ...string) { fmt.Fprintln(tw, strings.Join(cells, "\t")) }

	fmt.Fprintf(tw, "NODE %s at %s\n", f.Node, f.At.Format(time.RFC3339))
	row("  version", orNone(st.Version))
	row("  peer ID", orNone(st.PeerID))
	row("  uptime", uptime(f))
	row("  store", storeUsage(st.Cache))
	row("  store state", storeState(st.Cache))
	if f.Metrics != nil {
		sh := f.Metrics.shares()
		if sh.Total == 0 {
			row("  bytes from", "store -, peers -, upstream - (nothing served or fetched yet)")
		} else {
			row("  bytes from", fmt.Sprintf("store %s, peers %s, upstream %s (of %s)", percent(sh.Store), percent(sh.Peers), percent(sh.Upstream), formatBytes(sh.Total)))
		}
		row("  upstream saved", formatBytes(f.Metrics.upstreamSaved()))
	} else {
		row("  bytes from", none+" ("+f.MetricsError+")")
		row("  upstream saved", none)
	}
	row("  upstreams", orNone(strings.Join(st.Upstream, ", ")))
	fmt.Fprintln(tw)

	fmt.Fprintf(tw, "FLEET: %d peer(s) connected\n", st.Peers)
	row("  PEER ID", "ADDRESS", "LAST SEEN", "STORE", "BLOBS", "VERSION")
	row("  "+orNone(st.PeerID)+" (this node)", firstOrNone(st.P2PAddrs), "now", formatBytes(st.Cache.Bytes), fmt.Sprint(st.Cache.Blobs), orNone(st.Version))
	if st.KnownPeers != nil {
		// Every peer the node knows, with the store size it told (its
		// own claim) and when the node last saw it.
		connected := 0
		for _, p := range st.KnownPeers {
			store, blobs := none, none
			if p.Told != nil {
				store, blobs = formatBytes(p.Told.StoreBytes), fmt.Sprint(p.Told.Blobs)
			}
			if p.Connected {
				connected++
			}
			row("  "+p.PeerID, firstOrNone(p.Addrs), lastSeen(p, f.At), store, blobs, orNone(p.Version))
		}
		if connected < st.Peers {
			row(fmt.Sprintf("  (%d more connected, not listed yet)", st.Peers-connected))
		}
	} else {
		// A node older than known_peers: the connected peers, with the
		// version each told in libp2p's identify exchange.
		for _, p := range st.ConnectedPeers {
			row("  "+p.ID, orNone(p.Addr), connectedSince(p, f.At), none, none, orNone(p.Version))
		}
		if len(st.ConnectedPeers) < st.Peers {
			row(fmt.Sprintf("  (%d more: this node does not list its peers)", st.Peers-len(st.ConnectedPeers)))
		}
	}
	fmt.Fprintln(tw)

	fmt.Fprintf(tw, "IMAGES: %d\n", len(f.Images))
	if len(f.Images) > 0 {
		row("  REPOSITORY", "TAG", "DIGEST", "SIZE", "SOURCE", "SCAN", "SIGNATURE")
	}
	for _, im := range f.Images {
		if im.Error != "" {
			row("  "+im.Repository, orNone(im.Tag), none, none, im.Source, none, none+" ("+im.Error+")")
			continue
		}
		row("  "+im.Repository, orNone(im.Tag), orNone(shortDigest(im.Digest)), imageSize(im), im.Source, scanText(im), signatureText(im))
	}
	if f.ImagesError != "" {
		row("  (" + f.ImagesError + ")")
	}
	fmt.Fprintln(tw)

	fmt.Fprintln(tw, "POLICY")
	if st.Policy.Version == 0 {
		row("  version", "none: the node is open")
	} else {
		row("  version", fmt.Sprint(st.Policy.Version))
	}
	row("  network", orNone(st.Policy.Network))
	row("  expires", policyExpiry(f))
	row("  signers", orNone(strings.Join(st.Policy.Signers, ", ")))
	row("  membership", membership(st.Policy.Membership))
	return tw.Flush()
}

func orNone(s string) string {
	if s == "" {
		return none
	}
	return s
}

func firstOrNone(ss []string) string {
	if len(ss) == 0 {
		return none
	}
	return ss[0]
}

func percent(r float64) string { return fmt.Sprintf("%.0f%%", 100*r) }

func uptime(f *nodeFacts) string {
	if f.Metrics == nil || f.Metrics.Started == nil {
		return none
	}
	return f.At.Sub(*f.Metrics.Started).Truncate(time.Second).String()
}

func storeUsage(c adminapi.CacheStatus) string {
	s := formatBytes(c.Bytes)
	if c.MaxBytes > 0 {
		s += fmt.Sprintf(" of %s (%s)", formatBytes(c.MaxBytes), percent(float64(c.Bytes)/float64(c.MaxBytes)))
	} else {
		s += " (no size limit)"
	}
	return s + fmt.Sprintf(", %d blobs", c.Blobs)
}

func storeState(c adminapi.CacheStatus) string {
	if c.State != adminapi.CacheDegraded {
		return orNone(c.State)
	}
	s := "DEGRADED"
	if c.DegradedSince != nil {
		s += " since " + c.DegradedSince.UTC().Format(time.RFC3339)
	}
	return s + ": " + orNone(c.Reason)
}

func imageSize(im imageFacts) string {
	if im.Platforms > 0 {
		return fmt.Sprintf("%s (index, %d platforms)", none, im.Platforms)
	}
	if im.Size <= 0 {
		return none
	}
	return formatBytes(im.Size)
}

func scanText(im imageFacts) string {
	switch {
	case im.Scan == "":
		return "not scanned"
	case !im.ScanTrusted:
		return im.Scan + " (untrusted)"
	}
	return im.Scan
}

// policyExpiry is the status document's policy.expires, or where the
// node is older than that field its shoal_policy_expiry_timestamp_seconds.
func policyExpiry(f *nodeFacts) string {
	expires := f.Status.Policy.Expires
	if expires == nil && f.Metrics != nil {
		expires = f.Metrics.PolicyExpires
	}
	if expires == nil {
		return none
	}
	s := expires.UTC().Format(time.RFC3339)
	if !f.At.Before(*expires) || (f.Metrics != nil && f.Metrics.PolicyExpired) {
		return s + " (EXPIRED)"
	}
	return s + " (in " + expires.Sub(f.At).Truncate(time.Minute).String() + ")"
}

// lastSeen is "now" for a connected peer (with how long it has been),
// else how long before at the node last saw it.
func lastSeen(p adminapi.KnownPeer, at time.Time) string {
	if p.Connected {
		if p.ConnectedSince == nil {
			return "now"
		}
		return "now (connected " + at.Sub(*p.ConnectedSince).Truncate(time.Second).String() + ")"
	}
	return at.Sub(p.LastSeen).Truncate(time.Second).String() + " ago"
}

// signatureText is the node's last signature check of the image, else
// whether the repository holds a cosign signature tag for it.
func signatureText(im imageFacts) string {
	c := im.SignatureCheck
	switch {
	case c == nil && im.SignatureChecked && im.Signature != "":
		return "not checked (" + im.Signature + ")"
	case c == nil && im.SignatureChecked:
		return "not checked"
	case c == nil:
		return orNone(im.Signature)
	case c.State == "verified":
		return "verified (" + c.Rule + ")"
	case c.Mode == "warn":
		return c.State + " (" + c.Rule + ", served: warn)"
	}
	return c.State + " (" + c.Rule + ", refused)"
}

func connectedSince(p adminapi.PeerStatus, at time.Time) string {
	if p.ConnectedSince == nil {
		return "now"
	}
	return "now (connected " + at.Sub(*p.ConnectedSince).Truncate(time.Second).String() + ")"
}

func membership(m *adminapi.PolicyMembership) string {
	switch {
	case m == nil:
		return none
	case m.AnyWithSwarmKey && m.AllowedPeers > 0:
		return fmt.Sprintf("any peer with the swarm key, and %d listed peer(s)", m.AllowedPeers)
	case m.AnyWithSwarmKey:
		return "any peer with the swarm key"
	}
	return fmt.Sprintf("%d listed peer(s)", m.AllowedPeers)
}
