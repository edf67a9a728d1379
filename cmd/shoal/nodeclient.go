package main

import (
	"errors"
	"fmt"
	"net/url"

	"github.com/shoal-dev/shoal/adminapi"
)

const defaultNodeURL = "http://127.0.0.1:5000"

// nodeEndpoint is the --node flag: the base URL of a running node.
func nodeEndpoint(raw string) (*url.URL, error) {
	u, err := adminapi.ParseBaseURL(raw)
	if err != nil {
		return nil, nodeFlagError(raw, err)
	}
	return u, nil
}

// nodeClient is a client of the admin API of the node at the --node URL.
func nodeClient(raw string) (*adminapi.Client, error) {
	c, err := adminapi.New(raw, nil)
	if err != nil {
		return nil, nodeFlagError(raw, err)
	}
	return c, nil
}

// nodeFlagError words a --node value adminapi refused.
func nodeFlagError(raw string, err error) error {
	var be *adminapi.BaseURLError
	if errors.As(err, &be) {
		return fmt.Errorf("--node %q: want the node's base URL, e.g. %s (%s)", raw, defaultNodeURL, be.Reason)
	}
	return fmt.Errorf("--node %q: %w", raw, err)
}

// notSent reports whether err is a request to the node that could not be
// made or answered (net/http's *url.Error), rather than the node's
// refusal or a bad answer.
func notSent(err error) bool {
	var ue *url.Error
	return errors.As(err, &ue)
}
