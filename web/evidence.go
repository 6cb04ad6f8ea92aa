package web

import (
	"encoding/json"
	"net/http"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/intake"
)

// evidenceFile downloads a leaver's signed evidence: the same document the API
// answers, from the same builder, under the same rules of who may have it.
// It is indented for reading; the signature covers the compact JSON, so the
// file still verifies.
func (c *console) evidenceFile(w http.ResponseWriter, r *http.Request, s *session) error {
	id := r.PathValue("id")
	if !intake.ValidHRID(id) {
		return tenure.Errorf(tenure.ENOTFOUND, "there is no person %q", id)
	}
	env, err := c.evidence.Signed(r.Context(), s.User.principal(), id)
	if err != nil {
		return err
	}
	body, err := json.MarshalIndent(env, "", "  ")
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	// The HR ID is letters, digits and . _ - only (intake.ValidHRID): safe in a file name.
	w.Header().Set("Content-Disposition", `attachment; filename="tenure-evidence-`+id+`-`+c.now().UTC().Format("20060102-150405")+`.json"`)
	w.Write(append(body, '\n'))
	return nil
}
