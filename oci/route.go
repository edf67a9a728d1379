package oci

import (
	"net/url"
	"strings"
)

// routeKind is which endpoint of the distribution API a path addresses.
type routeKind int

const (
	routeUnknown routeKind = iota
	routeBase
	routeCatalog
	routeManifest
	routeBlob
	routeUploadStart
	routeUpload
	routeTags
	routeReferrers
)

// label is the fixed, low-cardinality name metrics see for a route.
func (k routeKind) label() string {
	switch k {
	case routeBase:
		return "base"
	case routeCatalog:
		return "catalog"
	case routeManifest:
		return "manifests"
	case routeBlob:
		return "blobs"
	case routeUploadStart, routeUpload:
		return "uploads"
	case routeTags:
		return "tags"
	case routeReferrers:
		return "referrers"
	}
	return "unknown"
}

// route is a parsed request path.
type route struct {
	kind routeKind
	// name is the repository name; set for every kind but base, catalog and unknown.
	name string
	// arg is the last path segment: a manifest reference, a blob or subject
	// digest, or an upload id. Not yet validated.
	arg string
}

// parseRoute splits an escaped request path into a route. Names contain
// slashes, so the endpoint is recognised by the path's last segments. Each
// segment is percent-decoded on its own, and a segment that is empty, "."
// or "..", or that decodes to something holding a slash, is refused: the
// repository name reaching the Registry is exactly what the grammar allows.
// The kind is set even when an error is returned, for metrics.
func parseRoute(escapedPath string) (route, error) {
	rest, ok := strings.CutPrefix(escapedPath, "/v2")
	if !ok {
		return route{}, errNoRoute
	}
	if rest == "" || rest == "/" {
		return route{kind: routeBase}, nil
	}
	rest, ok = strings.CutPrefix(rest, "/")
	if !ok {
		return route{}, errNoRoute
	}
	trailingSlash := strings.HasSuffix(rest, "/")
	rest = strings.TrimSuffix(rest, "/")

	raw := strings.Split(rest, "/")
	segs := make([]string, len(raw))
	for i, s := range raw {
		if s == "" {
			return route{}, ErrNameInvalid.WithMessage("invalid path: empty segment")
		}
		dec, err := url.PathUnescape(s)
		if err != nil {
			return route{}, ErrNameInvalid.WithMessage("invalid path: malformed percent-encoding")
		}
		if dec == "." || dec == ".." {
			return route{}, ErrNameInvalid.WithMessage("invalid path: dot segment")
		}
		if strings.ContainsAny(dec, "/\\") {
			return route{}, ErrNameInvalid.WithMessage("invalid path: encoded slash")
		}
		if strings.ContainsFunc(dec, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			return route{}, ErrNameInvalid.WithMessage("invalid path: control character")
		}
		segs[i] = dec
	}

	n := len(segs)
	var rt route
	nameEnd := 0
	switch {
	case n == 1 && segs[0] == "_catalog":
		rt.kind = routeCatalog
	case n >= 3 && segs[n-2] == "tags" && segs[n-1] == "list":
		rt.kind, nameEnd = routeTags, n-2
	case n >= 4 && segs[n-3] == "blobs" && segs[n-2] == "uploads":
		rt.kind, nameEnd = routeUpload, n-3
	case n >= 3 && segs[n-2] == "blobs" && segs[n-1] == "uploads":
		rt.kind, nameEnd = routeUploadStart, n-2
	case n >= 3 && segs[n-2] == "manifests":
		rt.kind, nameEnd = routeManifest, n-2
	case n >= 3 && segs[n-2] == "blobs":
		rt.kind, nameEnd = routeBlob, n-2
	case n >= 3 && segs[n-2] == "referrers":
		rt.kind, nameEnd = routeReferrers, n-2
	default:
		return route{}, errNoRoute
	}
	// Only the upload start endpoint is spelled with a trailing slash
	// (and is accepted without one).
	if trailingSlash && rt.kind != routeUploadStart {
		return route{}, errNoRoute
	}
	if rt.kind == routeCatalog {
		return rt, nil
	}
	rt.name = strings.Join(segs[:nameEnd], "/")
	if rt.kind != routeUploadStart {
		rt.arg = segs[n-1]
	}
	if err := ValidateName(rt.name); err != nil {
		return route{kind: rt.kind}, err
	}
	return rt, nil
}

var errNoRoute = ErrNameUnknown.WithMessage("no such endpoint of the distribution API")
