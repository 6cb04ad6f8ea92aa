package googletest

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"
)

// datatransfer serves /admin/datatransfer/v1/...: applications, transfers and
// transfers/{id}. Callers hold s.mu.
func (s *Server) datatransfer(w http.ResponseWriter, r *http.Request, g grant, seg []string) {
	read := func() bool { return allowed(w, g, ScopeDataTransfer, ScopeDataTransferRO) }
	switch {
	case len(seg) == 1 && seg[0] == "applications" && r.Method == http.MethodGet:
		if read() {
			writeJSON(w, http.StatusOK, map[string]any{
				"kind": "admin#datatransfer#applicationsList", "etag": etag("applications"),
				"applications": []map[string]any{
					{"kind": "admin#datatransfer#ApplicationResource", "id": DriveApplicationID, "name": "Drive and Docs",
						"transferParams": []map[string]any{{"key": "PRIVACY_LEVEL", "value": []string{"PRIVATE", "SHARED"}}}},
					{"kind": "admin#datatransfer#ApplicationResource", "id": CalendarApplicationID, "name": "Calendar",
						"transferParams": []map[string]any{{"key": "RELEASE_RESOURCES", "value": []string{"TRUE"}}}},
				},
			})
		}
	case len(seg) == 1 && seg[0] == "transfers" && r.Method == http.MethodGet:
		if read() {
			s.listTransfers(w, r.URL.Query())
		}
	case len(seg) == 1 && seg[0] == "transfers" && r.Method == http.MethodPost:
		if allowed(w, g, ScopeDataTransfer) {
			s.insertTransfer(w, r)
		}
	case len(seg) == 2 && seg[0] == "transfers" && r.Method == http.MethodGet:
		if !read() {
			return
		}
		for _, t := range s.transfers {
			if t.ID == seg[1] {
				s.advance(t)
				writeJSON(w, http.StatusOK, transferJSON(t))
				return
			}
		}
		notFound(w, "dataTransferId")
	default:
		writeError(w, http.StatusNotFound, "notFound", "global", "Not Found")
	}
}

// insertTransfer is transfers.insert: both owners must be users of the customer
// and every application one the API offers.
func (s *Server) insertTransfer(w http.ResponseWriter, r *http.Request) {
	var b struct {
		OldOwnerUserID           string `json:"oldOwnerUserId"`
		NewOwnerUserID           string `json:"newOwnerUserId"`
		ApplicationDataTransfers []struct {
			ApplicationID             string `json:"applicationId"`
			ApplicationTransferParams []struct {
				Key   string   `json:"key"`
				Value []string `json:"value"`
			} `json:"applicationTransferParams"`
		} `json:"applicationDataTransfers"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&b); err != nil {
		badRequest(w, "parseError", "Parse Error")
		return
	}
	from, to := s.userByID(b.OldOwnerUserID), s.userByID(b.NewOwnerUserID)
	switch {
	case from == nil:
		badRequest(w, "invalid", "Invalid Input: oldOwnerUserId")
		return
	case to == nil:
		badRequest(w, "invalid", "Invalid Input: newOwnerUserId")
		return
	case from == to:
		badRequest(w, "invalid", "Invalid Input: old and new owner are the same user")
		return
	case len(b.ApplicationDataTransfers) == 0:
		badRequest(w, "required", "Missing required field: applicationDataTransfers")
		return
	}
	t := &transfer{created: time.Now()}
	t.ID = "AKrEtIb" + strconv.Itoa(len(s.transfers)+1) + "fake"
	t.OldOwnerUserID, t.NewOwnerUserID, t.Status = from.ID, to.ID, "new"
	t.Params = map[string][]string{}
	for _, a := range b.ApplicationDataTransfers {
		if a.ApplicationID != DriveApplicationID && a.ApplicationID != CalendarApplicationID {
			badRequest(w, "invalid", "Invalid Input: applicationId")
			return
		}
		t.Applications = append(t.Applications, a.ApplicationID)
		if a.ApplicationID == DriveApplicationID {
			for _, p := range a.ApplicationTransferParams {
				t.Params[p.Key] = slices.Clone(p.Value)
			}
		}
	}
	s.transfers = append(s.transfers, t)
	writeJSON(w, http.StatusOK, transferJSON(t))
}

// advance moves a transfer on by one transfers.get: inProgress for the
// configured number of polls, then completed (its Drive files moved to the new
// owner) or failed.
func (s *Server) advance(t *transfer) {
	if t.Status == "completed" || t.Status == "failed" {
		return
	}
	t.polls++
	if t.polls <= s.transferSteps {
		t.Status = "inProgress"
		return
	}
	if s.failTransfers {
		t.Status = "failed"
		return
	}
	t.Status = "completed"
	if !slices.Contains(t.Applications, DriveApplicationID) {
		return
	}
	// Google moves shared files unless PRIVACY_LEVEL says otherwise.
	levels := t.Params["PRIVACY_LEVEL"]
	if len(levels) == 0 {
		levels = []string{"SHARED"}
	}
	var kept, moved []File
	for _, f := range s.files[t.OldOwnerUserID] {
		level := "PRIVATE"
		if f.Shared {
			level = "SHARED"
		}
		if slices.Contains(levels, level) {
			moved = append(moved, f)
		} else {
			kept = append(kept, f)
		}
	}
	s.files[t.OldOwnerUserID] = kept
	s.files[t.NewOwnerUserID] = append(s.files[t.NewOwnerUserID], moved...)
}

// listTransfers is transfers.list, filtered by owners and status.
func (s *Server) listTransfers(w http.ResponseWriter, q url.Values) {
	var found []*transfer
	for _, t := range s.transfers {
		if v := q.Get("oldOwnerUserId"); v != "" && v != t.OldOwnerUserID {
			continue
		}
		if v := q.Get("newOwnerUserId"); v != "" && v != t.NewOwnerUserID {
			continue
		}
		if v := q.Get("status"); v != "" && v != t.Status {
			continue
		}
		found = append(found, t)
	}
	pg, next, ok := page(w, q, found, 100, 500)
	if !ok {
		return
	}
	list := make([]any, 0, len(pg))
	for _, t := range pg {
		list = append(list, transferJSON(t))
	}
	out := map[string]any{"kind": "admin#datatransfer#dataTransfersList", "etag": etag("transfers")}
	if len(list) > 0 {
		out["dataTransfers"] = list
	}
	if next != "" {
		out["nextPageToken"] = next
	}
	writeJSON(w, http.StatusOK, out)
}

func transferJSON(t *transfer) map[string]any {
	apps := make([]map[string]any, 0, len(t.Applications))
	for _, a := range t.Applications {
		app := map[string]any{"applicationId": a, "applicationTransferStatus": t.Status}
		if a == DriveApplicationID && len(t.Params) > 0 {
			var params []map[string]any
			for k, v := range t.Params {
				params = append(params, map[string]any{"key": k, "value": v})
			}
			app["applicationTransferParams"] = params
		}
		apps = append(apps, app)
	}
	return map[string]any{
		"kind": "admin#datatransfer#DataTransfer", "etag": etag(t.ID), "id": t.ID,
		"oldOwnerUserId": t.OldOwnerUserID, "newOwnerUserId": t.NewOwnerUserID,
		"applicationDataTransfers": apps, "overallTransferStatusCode": t.Status,
		"requestTime": t.created.UTC().Format("2006-01-02T15:04:05.000Z"),
	}
}

// userByID finds a user by ID only, as the Data Transfer API takes profile IDs.
// Callers hold s.mu.
func (s *Server) userByID(id string) *user {
	for _, u := range s.users {
		if u.ID == id {
			return u
		}
	}
	return nil
}
