package p2p

import (
	"encoding/hex"
	"fmt"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"
	"github.com/opencontainers/go-digest"
)

// CID is the DHT key of content with digest d: a CIDv1 (raw codec) whose
// multihash is the digest itself, so the key is the content address and a
// provider record can be checked against the bytes it leads to.
func CID(d digest.Digest) (cid.Cid, error) {
	// Validate first: go-digest's accessors panic on malformed digests.
	if err := d.Validate(); err != nil {
		return cid.Undef, err
	}
	var code uint64
	switch d.Algorithm() {
	case digest.SHA256:
		code = multihash.SHA2_256
	case digest.SHA512:
		code = multihash.SHA2_512
	default:
		return cid.Undef, fmt.Errorf("p2p: no multihash for digest algorithm %q", d.Algorithm())
	}
	raw, err := hex.DecodeString(d.Encoded())
	if err != nil {
		return cid.Undef, err
	}
	mh, err := multihash.Encode(raw, code)
	if err != nil {
		return cid.Undef, err
	}
	return cid.NewCidV1(cid.Raw, mh), nil
}

// Digest is the digest a CID made by CID stands for.
func Digest(c cid.Cid) (digest.Digest, error) {
	dec, err := multihash.Decode(c.Hash())
	if err != nil {
		return "", err
	}
	var alg digest.Algorithm
	switch dec.Code {
	case multihash.SHA2_256:
		alg = digest.SHA256
	case multihash.SHA2_512:
		alg = digest.SHA512
	default:
		return "", fmt.Errorf("p2p: multihash %s is not a digest", multihash.Codes[dec.Code])
	}
	d := digest.NewDigestFromEncoded(alg, hex.EncodeToString(dec.Digest))
	return d, d.Validate()
}
