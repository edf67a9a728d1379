package oci

import (
	// go-digest only knows the algorithms whose hash is linked in.
	_ "crypto/sha256"
	_ "crypto/sha512"
	"strings"

	"github.com/opencontainers/go-digest"
)

const (
	// MaxNameLength caps a repository name, as most clients cap host plus name.
	MaxNameLength = 255
	maxTagLength  = 128
	// maxDigestLength is longer than any sha512 digest, so that a huge
	// reference is refused before go-digest looks at it.
	maxDigestLength   = 7 + 1 + 128
	maxUploadIDLength = 256
	maxNSLength       = 255
)

// ValidateName checks a repository name against the OCI grammar
// [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*
// and the length limit. The error is a NAME_INVALID *Error.
func ValidateName(name string) error {
	if name == "" {
		return ErrNameInvalid.WithMessage("repository name is empty")
	}
	if len(name) > MaxNameLength {
		return ErrNameInvalid.WithMessage("repository name is longer than %d characters", MaxNameLength).With(map[string]any{"length": len(name)})
	}
	for c := range strings.SplitSeq(name, "/") {
		if !validNameComponent(c) {
			return ErrNameInvalid.With(map[string]any{"name": name, "component": c})
		}
	}
	return nil
}

func isLowerAlnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }

// validNameComponent matches [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*.
func validNameComponent(c string) bool {
	i := 0
	for {
		start := i
		for i < len(c) && isLowerAlnum(c[i]) {
			i++
		}
		if i == start {
			return false // empty component, leading or doubled separator
		}
		if i == len(c) {
			return true
		}
		switch c[i] {
		case '.':
			i++
		case '_':
			i++
			if i < len(c) && c[i] == '_' {
				i++
			}
		case '-':
			for i < len(c) && c[i] == '-' {
				i++
			}
		default:
			return false
		}
	}
}

// ValidateTag checks a tag against [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}. The
// error is a MANIFEST_INVALID *Error: the spec has no code for a bad tag.
func ValidateTag(tag string) error {
	if !validTag(tag) {
		return ErrManifestInvalid.WithMessage("invalid tag: a tag must match [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}").With(map[string]any{"tag": truncate(tag, 256)})
	}
	return nil
}

func validTag(tag string) bool {
	if tag == "" || len(tag) > maxTagLength {
		return false
	}
	for i := 0; i < len(tag); i++ {
		c := tag[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_':
		case (c == '.' || c == '-') && i > 0:
		default:
			return false
		}
	}
	return true
}

// ParseDigest parses a digest, accepting only sha256 and sha512 in their
// canonical (lower-case hex) form. The error is a DIGEST_INVALID *Error.
func ParseDigest(s string) (digest.Digest, error) {
	if len(s) > maxDigestLength {
		return "", ErrDigestInvalid.WithMessage("invalid digest: too long")
	}
	d, err := digest.Parse(s)
	if err != nil {
		return "", ErrDigestInvalid.WithMessage("invalid digest: %v", err).With(map[string]any{"digest": s})
	}
	if a := d.Algorithm(); a != digest.SHA256 && a != digest.SHA512 {
		return "", ErrDigestInvalid.WithMessage("unsupported digest algorithm %q: use sha256 or sha512", string(a)).With(map[string]any{"digest": s})
	}
	return d, nil
}

// reference is a manifest reference: exactly one of tag and digest is set.
type reference struct {
	tag    string
	digest digest.Digest
}

func (r reference) String() string {
	if r.tag != "" {
		return r.tag
	}
	return r.digest.String()
}

// parseReference reads a manifest reference: a digest when it has a colon
// (which a tag cannot), else a tag.
func parseReference(s string) (reference, error) {
	if strings.Contains(s, ":") {
		d, err := ParseDigest(s)
		return reference{digest: d}, err
	}
	if err := ValidateTag(s); err != nil {
		return reference{}, err
	}
	return reference{tag: s}, nil
}

// validUploadID accepts the ids a Registry hands out: path-safe characters only.
func validUploadID(id string) bool {
	if id == "" || len(id) > maxUploadIDLength {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '-', c == '_', c == '.', c == '~', c == '=', c == '+':
		default:
			return false
		}
	}
	return true
}

// validNS accepts what containerd sends as ns: a registry host, optionally
// with a port or as a bracketed IPv6 literal. The Registry decides whether
// it is allowed.
func validNS(ns string) bool {
	if len(ns) > maxNSLength {
		return false
	}
	for i := 0; i < len(ns); i++ {
		c := ns[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '-', c == '.', c == ':', c == '[', c == ']', c == '_':
		default:
			return false
		}
	}
	return true
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
