package upstream

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"

	// Link the hashes go-digest verifies with.
	_ "crypto/sha512"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/shoal-dev/shoal/repository"
)

// maxManifestBytes is the largest manifest accepted from an upstream.
const maxManifestBytes = 4 << 20

const (
	mediaTypeDockerList     = "application/vnd.docker.distribution.manifest.list.v2+json"
	mediaTypeDockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
)

// manifestAccept is sent on every manifest request. It is the full list, never
// a client's narrower one, so a multi-arch tag resolves to its index and not
// to one platform's manifest.
var manifestAccept = joinAccept(
	ocispec.MediaTypeImageIndex,
	ocispec.MediaTypeImageManifest,
	mediaTypeDockerList,
	mediaTypeDockerManifest,
	"*/*",
)

// Resolve asks upstream which manifest tag names now: a HEAD with the full
// Accept list, falling back to a GET of the manifest when the HEAD does not
// say the digest, media type and size.
func (c *Client) Resolve(ctx context.Context, repo repository.Name, tag string) (ocispec.Descriptor, error) {
	r, err := c.lookup(repo.Rule)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	cl := call{method: http.MethodHead, url: r.endpoint(repo.Path, "manifests/"+tag), accept: manifestAccept, what: "manifest " + repo.Path + ":" + tag}
	resp, err := c.do(ctx, r, repo.Path, cl)
	if err != nil {
		var se *StatusError
		if !errors.As(err, &se) || (se.Status != http.StatusMethodNotAllowed && se.Status != http.StatusNotImplemented) {
			return ocispec.Descriptor{}, err
		}
	} else {
		resp.Body.Close()
		d, derr := digest.Parse(resp.Header.Get("Docker-Content-Digest"))
		mt := contentType(resp.Header)
		if derr == nil && mt != "" && !genericType(mt) && resp.ContentLength >= 0 {
			return ocispec.Descriptor{MediaType: mt, Digest: d, Size: resp.ContentLength}, nil
		}
		c.log.Debug("upstream HEAD incomplete, falling back to GET", "rule", r.Name, "what", cl.what)
	}
	mt, body, d, err := c.Manifest(ctx, repo, tag)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	return ocispec.Descriptor{MediaType: mt, Digest: d, Size: int64(len(body))}, nil
}

// Manifest fetches a manifest by tag or digest with the full Accept list.
// For a digest reference the body is checked against it (sha256 or sha512);
// for a tag the returned digest is the body's sha256, checked against the
// upstream's Docker-Content-Digest when it sent one. Bodies over 4 MiB are
// refused.
func (c *Client) Manifest(ctx context.Context, repo repository.Name, ref string) (mediaType string, body []byte, d digest.Digest, err error) {
	r, err := c.lookup(repo.Rule)
	if err != nil {
		return "", nil, "", err
	}
	want, isDigest := parseDigestRef(ref)
	if isDigest {
		if err := want.Validate(); err != nil {
			return "", nil, "", fmt.Errorf("upstream: manifest reference %q: %w", ref, err)
		}
	}
	sep := ":"
	if isDigest {
		sep = "@"
	}
	what := "manifest " + repo.Path + sep + ref
	resp, err := c.do(ctx, r, repo.Path, call{method: http.MethodGet, url: r.endpoint(repo.Path, "manifests/"+ref), accept: manifestAccept, what: what})
	if err != nil {
		return "", nil, "", err
	}
	defer resp.Body.Close()
	if resp.ContentLength > maxManifestBytes {
		return "", nil, "", fmt.Errorf("upstream %s: %s: %d bytes is over the %d byte manifest limit", r.Name, what, resp.ContentLength, maxManifestBytes)
	}
	body, err = readLimited(resp.Body, maxManifestBytes)
	if err != nil {
		return "", nil, "", fmt.Errorf("upstream %s: %s: %w", r.Name, what, err)
	}

	if isDigest {
		if got := want.Algorithm().FromBytes(body); got != want {
			return "", nil, "", fmt.Errorf("upstream %s: %s: body digest is %s", r.Name, what, got)
		}
		d = want
	} else {
		d = digest.NewDigestFromBytes(digest.SHA256, sha256Sum(body))
		if h := resp.Header.Get("Docker-Content-Digest"); h != "" {
			claimed, err := digest.Parse(h)
			if err != nil {
				return "", nil, "", fmt.Errorf("upstream %s: %s: bad Docker-Content-Digest %q: %w", r.Name, what, h, err)
			}
			if claimed.Algorithm().FromBytes(body) != claimed {
				return "", nil, "", fmt.Errorf("upstream %s: %s: body does not match Docker-Content-Digest %s", r.Name, what, claimed)
			}
		}
	}

	mediaType = manifestMediaType(resp.Header, body)
	if mediaType == "" {
		return "", nil, "", fmt.Errorf("upstream %s: %s: no media type in Content-Type or body", r.Name, what)
	}
	return mediaType, body, d, nil
}

// parseDigestRef reports whether ref is a digest rather than a tag (tags
// cannot contain ':').
func parseDigestRef(ref string) (digest.Digest, bool) {
	if !strings.Contains(ref, ":") {
		return "", false
	}
	return digest.Digest(ref), true
}

func sha256Sum(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}

// manifestMediaType is the manifest's own mediaType field when it has one
// (it is covered by the digest; the header is not), else the Content-Type.
func manifestMediaType(h http.Header, body []byte) string {
	var m struct {
		MediaType string `json:"mediaType"`
	}
	if json.Unmarshal(body, &m) == nil && m.MediaType != "" {
		return m.MediaType
	}
	if mt := contentType(h); !genericType(mt) {
		return mt
	}
	return ""
}

// contentType is the Content-Type without parameters.
func contentType(h http.Header) string {
	v := h.Get("Content-Type")
	if v == "" {
		return ""
	}
	mt, _, err := mime.ParseMediaType(v)
	if err != nil {
		return ""
	}
	return mt
}

// genericType reports media types that say nothing about a manifest's kind.
func genericType(mt string) bool {
	switch mt {
	case "", "application/json", "text/plain", "application/octet-stream":
		return true
	}
	return false
}
