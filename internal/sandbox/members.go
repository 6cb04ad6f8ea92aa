package sandbox

import (
	"maps"
	"strings"
	"time"

	"github.com/elimity-com/scim"
)

// addMembers applies a PATCH that only adds members to a group, in the form
// Tenure's client and most others send ({"op": "add", "path": "members",
// "value": [{"value": id}]}), touching only the members it adds. The general
// path copies, checks and relinks every member and compares the whole group
// before and after, so with one group of everyone (a bulk onboarding's) each
// add costs as much as the group is big, which no real app's does. ok is
// false for any other PATCH, and under any dialect but patchNoContent: those take the general
// path, which this one agrees with (TestAddMembersAgreesWithTheGeneralPatch).
// The caller holds a.mu.
func (h *resources) addMembers(old *record, ops []scim.PatchOperation) (rec *record, ok bool, err error) {
	// Any dialect but the answer's form takes the general path.
	d := h.a.getDialect()
	d.PatchNoContent = false
	if !h.group || d != (Dialect{}) {
		return nil, false, nil
	}
	var added []any
	seen := map[string]bool{}
	for _, op := range ops {
		if !strings.EqualFold(op.Op, "add") || op.Path == nil || op.Path.ValueExpression != nil || op.Path.SubAttribute != nil ||
			op.Path.AttributePath.SubAttribute != nil || !equalFold(op.Path.AttributePath.AttributeName, "members") {
			return nil, false, nil
		}
		values, isList := op.Value.([]any)
		if !isList {
			return nil, false, nil
		}
		for _, v := range values {
			m, isMap := v.(map[string]any)
			id, isString := m["value"].(string)
			if !isMap || len(m) != 1 || !isString {
				return nil, false, nil
			}
			if err := h.memberProblem(id, old.ID); err != nil {
				return nil, true, err
			}
			if seen[id] || h.a.memberOf[id][old.ID] {
				continue
			}
			seen[id] = true
			added = append(added, m)
		}
	}
	if len(added) == 0 {
		return old, true, nil
	}
	attrs := maps.Clone(old.Attrs)
	members := asList(old.Attrs["members"])
	// Appended where the list has room, so that adding one member to a
	// group of n is not a copy of n: the old record's readers see only its own
	// length, and every change starts from the current record, under a.mu, so
	// nothing else writes past it.
	setList(attrs, "members", append(members, added...))
	rec = &record{ID: old.ID, ExternalID: old.ExternalID, Attrs: attrs,
		Created: old.Created, Modified: time.Now().UTC(), Version: old.Version + 1}
	h.table().put(rec, h.key())
	for id := range seen {
		h.a.link(id, rec.ID)
	}
	h.a.changed()
	return rec, true, nil
}
