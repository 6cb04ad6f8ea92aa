package sandbox

import (
	"maps"
	"strings"

	"github.com/elimity-com/scim"

	"github.com/tenure-io/tenure/internal/scimpatch"
)

// PATCH (RFC 7644 3.5.2) is applied by internal/scimpatch, which Tenure's
// inbound SCIM server shares. The sandbox takes its defaults, the strict
// reading of the RFC: a filtered path's value replaces each matched value whole,
// a filter that matches nothing is noTarget, and an extension emptied by a
// PATCH stays as {}.

// patch applies ops to a copy of rec's attributes with its externalId among
// them, which a PATCH may set; rec is left as it was.
func (h *resources) patch(rec *record, ops []scim.PatchOperation) (map[string]any, error) {
	attrs := make(map[string]any, len(rec.Attrs)+1)
	maps.Copy(attrs, rec.Attrs)
	if rec.ExternalID != "" {
		attrs["externalId"] = rec.ExternalID
	}
	out, err := h.patcher.Apply(attrs, ops)
	if err != nil || !h.group || !h.a.getDialect().DuplicateMembers {
		return out, err
	}
	// The patcher, like the RFC, adds a value that is already there once; the
	// duplicateMembers dialect plays a service that appends it all the same.
	for _, op := range ops {
		if !strings.EqualFold(op.Op, "add") {
			continue
		}
		var added any
		switch {
		case op.Path == nil:
			added = asMap(op.Value)["members"]
		case op.Path.ValueExpression == nil && op.Path.SubAttribute == nil && equalFold(op.Path.AttributePath.AttributeName, "members"):
			added = op.Value
		}
		members := asList(out["members"])
		for _, v := range asList(added) {
			for _, m := range memberIDs(rec) {
				if m == str(asMap(v), "value") {
					members = append(members, v)
					break
				}
			}
		}
		setList(out, "members", members)
	}
	return out, nil
}

// asList and setList read and write multi-valued attributes by the patcher's
// rules, so the sandbox's own edits of members agree with PATCH.
func asList(v any) []any { return scimpatch.List(v) }

func setList(m map[string]any, name string, list []any) { scimpatch.SetList(m, name, list) }

func equalFold(a, b string) bool { return strings.EqualFold(a, b) }

func lower(s string) string { return strings.ToLower(s) }
