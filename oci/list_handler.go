package oci

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// page applies the n and last parameters to a sorted list. next is true when
// entries remain after the page. Without n the whole rest is returned.
func page(list []string, q url.Values) (out []string, next bool, err error) {
	if !slices.IsSorted(list) {
		list = slices.Clone(list)
		slices.Sort(list)
	}
	if q.Has("last") {
		last := q.Get("last")
		i, found := slices.BinarySearch(list, last)
		if found {
			i++
		}
		list = list[i:]
	}
	if !q.Has("n") {
		return list, false, nil
	}
	n, perr := strconv.Atoi(q.Get("n"))
	if perr != nil || n < 0 {
		return nil, false, ErrPaginationInvalid.With(map[string]any{"n": truncate(q.Get("n"), 32)})
	}
	if n < len(list) {
		return list[:n], n > 0, nil
	}
	return list, false, nil
}

// setNextLink sends the Link header for the page after one ending at last.
func setNextLink(w http.ResponseWriter, path string, r *request, last string) {
	q := url.Values{"n": {r.query.Get("n")}, "last": {last}}
	if r.repo.NS != "" {
		q.Set("ns", r.repo.NS)
	}
	w.Header().Set("Link", "<"+path+"?"+q.Encode()+`>; rel="next"`)
}

func (h *handler) tags(w *responseWriter, r *request) error {
	all, err := h.reg.Tags(r.Context(), r.repo)
	if err != nil {
		return err
	}
	tags, next, err := page(all, r.query)
	if err != nil {
		return err
	}
	if tags == nil {
		tags = []string{}
	}
	if next {
		setNextLink(w, "/v2/"+r.repo.Name+"/tags/list", r, tags[len(tags)-1])
	}
	writeJSON(w, http.StatusOK, "application/json", struct {
		Name string   `json:"name"`
		Tags []string `json:"tags"`
	}{r.repo.Name, tags})
	return nil
}

func (h *handler) catalog(w *responseWriter, r *request) error {
	all, err := h.reg.Catalog(r.Context())
	if err != nil {
		return err
	}
	if h.opts.FilterCatalog != nil {
		all = h.opts.FilterCatalog(r.Request, all)
	}
	repos, next, err := page(all, r.query)
	if err != nil {
		return err
	}
	if repos == nil {
		repos = []string{}
	}
	if next {
		setNextLink(w, "/v2/_catalog", r, repos[len(repos)-1])
	}
	writeJSON(w, http.StatusOK, "application/json", struct {
		Repositories []string `json:"repositories"`
	}{repos})
	return nil
}

// referrers answers with an OCI index of the manifests whose subject is the
// given digest, filtered by ?artifactType= when given.
func (h *handler) referrers(w *responseWriter, r *request) error {
	d, err := ParseDigest(r.arg)
	if err != nil {
		return err
	}
	descs, err := h.reg.Referrers(r.Context(), r.repo, d)
	if err != nil {
		return err
	}
	out := make([]ocispec.Descriptor, 0, len(descs))
	if at := r.query.Get("artifactType"); at != "" {
		for _, desc := range descs {
			if desc.ArtifactType == at {
				out = append(out, desc)
			}
		}
		w.Header().Set("OCI-Filters-Applied", "artifactType")
	} else {
		out = append(out, descs...)
	}
	idx := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: out}
	idx.SchemaVersion = 2
	writeJSON(w, http.StatusOK, ocispec.MediaTypeImageIndex, idx)
	return nil
}
