package gate

import (
	"encoding/json"
	"net/http"

	"github.com/shoal-dev/shoal/adminapi"
	"github.com/shoal-dev/shoal/oci"
)

// HandleGetChecks serves GET /shoal/v1/signatures/{digest}: the image's
// last signature checks, in the repositories mayPull lets the caller
// pull. What the caller may not pull does not exist for it.
func (s *Signatures) HandleGetChecks(mayPull func(r *http.Request, repo string) bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		d, err := oci.ParseDigest(r.PathValue("digest"))
		if err != nil {
			oci.WriteError(w, oci.ErrDigestInvalid.WithMessage("%q is not a digest", r.PathValue("digest")))
			return
		}
		doc := adminapi.SignatureChecks{Digest: d.String(), Checks: []adminapi.SignatureCheck{}}
		for _, c := range s.Checks(d) {
			if !mayPull(r, c.Repository) {
				continue
			}
			doc.Checks = append(doc.Checks, adminapi.SignatureCheck{Repository: c.Repository, State: c.State,
				Rule: c.Rule, Mode: c.Mode, Reason: c.Reason, At: c.At.UTC()})
		}
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(doc)
	}
}
