// Package integration holds end-to-end tests that drive real processes: a
// shoal node built from this module, Debian's docker-registry as upstream,
// and real clients (skopeo, crane, containerd's ctr). Helpers that start
// those processes live in integration/harness, shared with bench/.
//
// A missing tool skips the tests that need it, except under CI=true, where
// it fails them. -short skips the heavy tests.
package integration
