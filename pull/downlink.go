package pull

import "github.com/opencontainers/go-digest"

// Downlink is the node's download link as its swarm shares it (p2p's
// intake): a blob body read from upstream counts in it from its first
// byte to its close, so that the node's own piece requests to peers leave
// it room. A node that brings a blob into the fleet reads it from
// upstream while every other node waits on it.
type Downlink interface {
	// UpstreamStream counts one body of blob d from now until end; sent tells it
	// the bytes read. bringsIn marks a body the node reads for the
	// fleet (it found no peer with the blob, or fetches it as the
	// designated fetcher), which goes before the node's own piece
	// requests; a body it resumes from upstream for itself alone, after
	// its peers failed part way, does not.
	UpstreamStream(d digest.Digest, bringsIn bool) (sent func(n int), end func())
	// BringIn says whether this node reads blob d from upstream for the
	// fleet, as the node a peer asks to (true), or hands it on to the
	// next node in the fleet's order because it is bringing in another
	// blob (false; p2p's BringIn). The first answer for a blob stands.
	BringIn(d digest.Digest) bool
	// BringInFailed says that a body of blob d this node was to read for
	// the fleet did not open (upstream lacks it, or refused): the node
	// is not bringing d in after all, and its other blobs need not be
	// handed on on its account.
	BringInFailed(d digest.Digest)
}

// downlinkReader counts an upstream body in the node's Downlink until it
// is closed.
type downlinkReader struct {
	countingReader
	sent func(int)
	end  func()
}

func (r downlinkReader) Read(b []byte) (int, error) {
	n, err := r.countingReader.Read(b)
	r.sent(n)
	return n, err
}

func (r downlinkReader) Close() error {
	r.end()
	return r.countingReader.Close()
}
