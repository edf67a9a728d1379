// Package interop holds tests that sign images with the real sigstore
// libraries (sigstore-go's bundle signer, sigstore/sigstore's cosign
// payload and signers) and check that package signature accepts what
// they make. It is a module of its own so that the server's go.mod does
// not carry those libraries.
package interop
