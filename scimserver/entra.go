package scimserver

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
)

// Entra ID sends booleans as strings in PATCH ({"op": "Replace", "path":
// "active", "value": "False"}) and the enterprise manager as a bare id string.
// The library refuses both, and its switch for string booleans is global, which
// would loosen the sandbox apps too; so this server rewrites just these values in
// its own request bodies before the library sees them.

const managerPath = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager"

// normalizeBody returns body with Entra's string booleans for active and bare
// manager ids made proper JSON; any other body comes back as it was.
func normalizeBody(body []byte) []byte {
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	var doc map[string]any
	if d.Decode(&doc) != nil {
		return body // the library reports the syntax error
	}
	changed := fixValues(doc)
	if ops, ok := doc["Operations"].([]any); ok {
		for _, o := range ops {
			op, _ := o.(map[string]any)
			if op == nil {
				continue
			}
			path, _ := op["path"].(string)
			switch {
			case strings.EqualFold(path, "active"):
				if b, ok := stringBool(op["value"]); ok {
					op["value"], changed = b, true
				}
			case strings.EqualFold(path, managerPath):
				if s, ok := op["value"].(string); ok {
					op["value"], changed = map[string]any{"value": s}, true
				}
			case path == "":
				if m, ok := op["value"].(map[string]any); ok && fixValues(m) {
					changed = true
				}
			}
		}
	}
	if !changed {
		return body
	}
	out, err := json.Marshal(doc)
	if err != nil {
		return body
	}
	return out
}

// fixValues rewrites a string active and a bare manager id in an object of
// attributes, and reports whether it changed anything.
func fixValues(m map[string]any) bool {
	changed := false
	for k, v := range m {
		switch {
		case strings.EqualFold(k, "active"):
			if b, ok := stringBool(v); ok {
				m[k], changed = b, true
			}
		case strings.EqualFold(k, managerPath):
			if s, ok := v.(string); ok {
				m[k], changed = map[string]any{"value": s}, true
			}
		case strings.EqualFold(k, enterpriseSchema.ID):
			if ext, ok := v.(map[string]any); ok {
				for ek, ev := range ext {
					if s, ok := ev.(string); ok && strings.EqualFold(ek, "manager") {
						ext[ek], changed = map[string]any{"value": s}, true
					}
				}
			}
		}
	}
	return changed
}

func stringBool(v any) (bool, bool) {
	s, ok := v.(string)
	if !ok {
		return false, false
	}
	b, err := strconv.ParseBool(strings.ToLower(s))
	return b, err == nil
}
