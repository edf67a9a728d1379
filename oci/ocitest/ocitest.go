// Package ocitest has assertions about OCI errors for the tests of the
// packages that answer with them.
package ocitest

import (
	"errors"
	"testing"

	"github.com/shoal-dev/shoal/oci"
)

// WantError checks that err carries an *oci.Error of that status and
// code, and returns it.
func WantError(t testing.TB, err error, status int, code string) *oci.Error {
	t.Helper()
	var oe *oci.Error
	if !errors.As(err, &oe) {
		t.Fatalf("err = %v (%T), want an *oci.Error %d %s", err, err, status, code)
	}
	if oe.Status != status || oe.Code != code {
		t.Fatalf("err = %d %s (%v), want %d %s", oe.Status, oe.Code, err, status, code)
	}
	return oe
}
