// Package testpeer makes libp2p keys and peer IDs for tests of several
// packages (access, node, p2p, scan, scanning) that need peers they
// never dial, or signers.
package testpeer

import (
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Key is a new random Ed25519 key and its peer ID.
func Key(t testing.TB) (crypto.PrivKey, peer.ID) {
	t.Helper()
	k, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return k, id
}

// ID is the ID of a new random Ed25519 key.
func ID(t testing.TB) peer.ID {
	t.Helper()
	_, id := Key(t)
	return id
}
