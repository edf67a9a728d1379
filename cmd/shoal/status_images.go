package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/opencontainers/go-digest"

	"github.com/shoal-dev/shoal/adminapi"
	"github.com/shoal-dev/shoal/signature"
)

// maxStatusImages bounds the images one snapshot lists (each costs a
// manifest and a report request), so --watch stays light on a node that
// holds thousands.
const maxStatusImages = 100

// maxIndexReports bounds the platform reports read for one index.
const maxIndexReports = 8

// imageFacts is one tag the node lists.
type imageFacts struct {
	Repository string `json:"repository"`
	Tag        string `json:"tag"`
	Digest     string `json:"digest,omitempty"`
	// Size is the image's config and layers in bytes; 0 for an index
	// (its platforms may not all be held) or when not known.
	Size int64 `json:"size,omitempty"`
	// Platforms is how many platform manifests an index lists; 0 for an
	// image.
	Platforms int `json:"platforms,omitempty"`
	// Source is the upstream rule the repository is mirrored by, or
	// "local".
	Source string `json:"source"`
	// Scan is the worst severity of the reports the node holds on the
	// image (on its platforms, for an index), "none" when they found
	// nothing, "" when it holds none.
	Scan string `json:"scan,omitempty"`
	// ScanTrusted is false when a report is held but its signer is not
	// one the node trusts.
	ScanTrusted bool `json:"scan_trusted,omitempty"`
	// Signature is "cosign .sig tag" when the repository has cosign's
	// signature tag for the digest; "" when it has none (a signature
	// stored as a referrer is not looked for). The node, not this
	// command, verifies signatures, when a pull meets a policy rule.
	Signature string `json:"signature,omitempty"`
	// SignatureCheck is the node's last signature check of the image in
	// this repository (or another holding it); nil when it made none or
	// does not say (a node older than GET /shoal/v1/signatures/<digest>).
	SignatureCheck *adminapi.SignatureCheck `json:"signature_check,omitempty"`
	// SignatureChecked says the node answered whether it checked: false
	// for an older node, so that "not checked" is said only when true.
	SignatureChecked bool `json:"signature_checked,omitempty"`
	// Error says why the tag's manifest could not be read.
	Error string `json:"error,omitempty"`
}

// imageLister lists the images a node holds.
type imageLister interface {
	list(ctx context.Context, upstreams []string) ([]imageFacts, error)
}

// registryImages lists a node's images through its registry API
// (catalog, tag lists, manifests) as any client may, with the caller's
// docker credentials for the node's host, and asks its admin API for
// scan reports.
type registryImages struct {
	host     string
	nameOpts []name.Option
	opts     []remote.Option
	api      *adminapi.Client
}

func newRegistryImages(base *url.URL, api *adminapi.Client) *registryImages {
	r := &registryImages{
		host: base.Host,
		api:  api,
		opts: []remote.Option{remote.WithAuthFromKeychain(authn.DefaultKeychain), remote.WithUserAgent("shoal/" + shoalVersion())},
	}
	if base.Scheme == "http" {
		r.nameOpts = append(r.nameOpts, name.Insecure)
	}
	return r
}

func (r *registryImages) list(ctx context.Context, upstreams []string) ([]imageFacts, error) {
	reg, err := name.NewRegistry(r.host, r.nameOpts...)
	if err != nil {
		return nil, err
	}
	opts := append([]remote.Option{remote.WithContext(ctx)}, r.opts...)
	repos, err := remote.Catalog(ctx, reg, opts...)
	if err != nil {
		return nil, registryError(r.host, "listing repositories", err)
	}
	var out []imageFacts
	for _, repoName := range repos {
		repo, err := name.NewRepository(r.host+"/"+repoName, r.nameOpts...)
		if err != nil {
			continue
		}
		tags, err := remote.List(repo, opts...)
		if err != nil {
			out = append(out, imageFacts{Repository: repoName, Source: imageSource(repoName, upstreams), Error: registryError(r.host, "listing tags", err).Error()})
			continue
		}
		// cosign's companion tags are about images, not images: they
		// show as the signature column of the image they sign.
		companions := map[string]bool{}
		for _, tag := range tags {
			if signature.IsCosignTag(tag) {
				companions[tag] = true
			}
		}
		for _, tag := range tags {
			if companions[tag] {
				continue
			}
			if len(out) == maxStatusImages {
				return out, fmt.Errorf("only the first %d images are listed", maxStatusImages)
			}
			f := r.image(ctx, repo.Tag(tag), repoName, upstreams, opts)
			if d, err := digest.Parse(f.Digest); err == nil && companions[signature.SignatureTag(d)] {
				f.Signature = "cosign .sig tag"
			}
			out = append(out, f)
		}
	}
	return out, nil
}

// image reads one tag's manifest and the scan reports held on it.
func (r *registryImages) image(ctx context.Context, ref name.Tag, repoName string, upstreams []string, opts []remote.Option) imageFacts {
	f := imageFacts{Repository: repoName, Tag: ref.TagStr(), Source: imageSource(repoName, upstreams)}
	desc, err := remote.Get(ref, opts...)
	if err != nil {
		f.Error = registryError(r.host, "reading the manifest", err).Error()
		return f
	}
	f.Digest = desc.Digest.String()
	var platforms []string
	if desc.MediaType.IsIndex() {
		idx, err := desc.ImageIndex()
		if err == nil {
			if im, err := idx.IndexManifest(); err == nil {
				f.Platforms = len(im.Manifests)
				for _, m := range im.Manifests {
					if m.MediaType.IsImage() && len(platforms) < maxIndexReports {
						platforms = append(platforms, m.Digest.String())
					}
				}
			}
		}
	} else {
		if img, err := desc.Image(); err == nil {
			if m, err := img.Manifest(); err == nil {
				f.Size = m.Config.Size
				for _, l := range m.Layers {
					f.Size += l.Size
				}
			}
		}
		platforms = []string{f.Digest}
	}
	f.Scan, f.ScanTrusted = r.worstFinding(ctx, platforms)
	if sc, err := r.api.SignatureChecks(ctx, f.Digest); err == nil {
		f.SignatureChecked = true
		for i, c := range sc.Checks {
			if c.Repository == repoName || f.SignatureCheck == nil {
				f.SignatureCheck = &sc.Checks[i]
			}
			if c.Repository == repoName {
				break
			}
		}
	}
	return f
}

// worstFinding is the worst severity over the reports held on digests,
// "none" when they found nothing and "" when none is held; trusted is
// whether every report held is signed by a scanner the node trusts.
func (r *registryImages) worstFinding(ctx context.Context, digests []string) (worst string, trusted bool) {
	rank := -1
	trusted = true
	for _, d := range digests {
		rv, err := r.api.Report(ctx, d)
		if err != nil || rv.Report == nil {
			continue
		}
		trusted = trusted && rv.Trusted
		if rank < 0 {
			worst, rank = "none", 0
		}
		if f, ok := rv.Worst(); ok && f.Severity.Rank() >= rank {
			worst, rank = string(f.Severity.Normal()), f.Severity.Rank()
		}
	}
	if worst == "" {
		return "", false
	}
	return worst, trusted
}

// imageSource is the upstream rule that mirrors repo (its first path
// element is the rule's name), or "local".
func imageSource(repo string, upstreams []string) string {
	first, _, _ := strings.Cut(repo, "/")
	for _, u := range upstreams {
		if rule, _, _ := strings.Cut(u, "="); rule == first {
			return rule
		}
	}
	return "local"
}

// registryError words a registry API failure; a 401 or 403 says how to
// become a caller that may list.
func registryError(host, doing string, err error) error {
	var te *transport.Error
	if errors.As(err, &te) && (te.StatusCode == http.StatusUnauthorized || te.StatusCode == http.StatusForbidden) {
		return fmt.Errorf("%s: the node answered %d %s: log in with `docker login %s` as an identity its policy lets list and pull", doing, te.StatusCode, http.StatusText(te.StatusCode), host)
	}
	return fmt.Errorf("%s: %w", doing, err)
}
