package sandbox

import (
	"maps"
	"net/http"
	"reflect"
	"slices"
	"strings"

	"github.com/elimity-com/scim"
	scimerr "github.com/elimity-com/scim/errors"
	efilter "github.com/elimity-com/scim/filter"
	"github.com/elimity-com/scim/schema"
	"github.com/scim2/filter-parser/v2"
)

// The library has parsed and validated each operation against the schemas;
// what is left is to apply it to the stored attributes (RFC 7644 3.5.2).

// apply applies one PATCH operation to attrs, a private copy of a resource.
func (h *resources) apply(attrs map[string]any, op scim.PatchOperation) error {
	if op.Path != nil {
		return h.applyPath(attrs, op.Op, *op.Path, op.Value)
	}
	// Without a path the value holds attribute paths and their values, as in
	// {"op": "replace", "value": {"active": false, "name.givenName": "Ann"}}.
	values, ok := op.Value.(map[string]any)
	if !ok {
		return invalidValue("an operation without a path needs an object value")
	}
	for _, k := range slices.Sorted(maps.Keys(values)) {
		v := values[k]
		if ext, ok := h.extension(k); ok {
			sub := asMap(v)
			for _, name := range slices.Sorted(maps.Keys(sub)) {
				if err := h.applyKey(attrs, op.Op, ext.ID+":"+name, sub[name]); err != nil {
					return err
				}
			}
			continue
		}
		if err := h.applyKey(attrs, op.Op, k, v); err != nil {
			return err
		}
	}
	return nil
}

func (h *resources) applyKey(attrs map[string]any, op, key string, value any) error {
	p, err := filter.ParsePath([]byte(key))
	if err != nil {
		return scimerr.ScimErrorInvalidPath
	}
	return h.applyPath(attrs, op, p, value)
}

func (h *resources) extension(id string) (schema.Schema, bool) {
	for _, e := range h.exts {
		if strings.EqualFold(e.ID, id) {
			return e, true
		}
	}
	return schema.Schema{}, false
}

// resolve finds the attribute a path names, and the URI of the extension that
// holds it ("" for the core schema).
func (h *resources) resolve(ap filter.AttributePath) (string, schema.CoreAttribute, error) {
	uri := ap.URI()
	if uri == "" || strings.EqualFold(uri, h.core.ID) {
		if attr, ok := h.core.Attributes.ContainsAttribute(ap.AttributeName); ok {
			return "", attr, nil
		}
	}
	for _, e := range h.exts {
		if uri != "" && !strings.EqualFold(uri, e.ID) {
			continue
		}
		if attr, ok := e.Attributes.ContainsAttribute(ap.AttributeName); ok {
			return e.ID, attr, nil
		}
	}
	return "", schema.CoreAttribute{}, scimerr.ScimErrorInvalidPath
}

func (h *resources) applyPath(attrs map[string]any, op string, p filter.Path, value any) error {
	ext, attr, err := h.resolve(p.AttributePath)
	if err != nil {
		return err
	}
	if attr.Mutability() == "readOnly" {
		return scimerr.ScimError{
			ScimType: scimerr.ScimTypeMutability,
			Detail:   attr.Name() + " is read-only",
			Status:   http.StatusBadRequest,
		}
	}
	container := attrs
	if ext != "" {
		container = asMap(attrs[ext])
		if container == nil {
			if op == scim.PatchOperationRemove {
				return nil
			}
			container = map[string]any{}
			attrs[ext] = container
		}
	}
	name := attr.Name()
	sub, err := subName(attr, p.AttributePath.SubAttributeName())
	if err != nil {
		return err
	}

	switch {
	case p.ValueExpression != nil:
		return applyFiltered(container, op, attr, p, value)
	case sub != "" && attr.MultiValued():
		// emails.type and the like: every value's sub-attribute.
		for _, e := range asList(container[name]) {
			setSub(asMap(e), op, sub, value)
		}
	case sub != "":
		m := asMap(container[name])
		if m == nil {
			if op == scim.PatchOperationRemove {
				return nil
			}
			m = map[string]any{}
			container[name] = m
		}
		setSub(m, op, sub, value)
		if len(m) == 0 {
			delete(container, name)
		}
	case op == scim.PatchOperationRemove && value != nil && attr.MultiValued():
		// Entra removes members this way: path "members", value [{"value": id}].
		var kept []any
		for _, e := range asList(container[name]) {
			if !slices.ContainsFunc(asList(value), func(v any) bool { return sameValue(e, v) }) {
				kept = append(kept, e)
			}
		}
		setList(container, name, kept)
	case op == scim.PatchOperationRemove:
		delete(container, name)
	case attr.MultiValued() && op == scim.PatchOperationAdd:
		list := asList(container[name])
		for _, v := range asList(value) {
			if !slices.ContainsFunc(list, func(e any) bool { return sameValue(e, v) }) {
				list = append(list, v)
			}
		}
		setList(container, name, list)
	case attr.MultiValued():
		setList(container, name, asList(value))
	case attr.AttributeType() == "complex":
		// Sub-attributes not given are left as they are (RFC 7644 3.5.2.3).
		m := asMap(container[name])
		if m == nil {
			m = map[string]any{}
			container[name] = m
		}
		for k, v := range asMap(value) {
			m[k] = v
		}
	default:
		container[name] = value
	}
	return nil
}

// applyFiltered applies an operation whose path selects values of a
// multi-valued attribute, as in members[value eq "id"] or
// emails[type eq "work"].value.
func applyFiltered(container map[string]any, op string, attr schema.CoreAttribute, p filter.Path, value any) error {
	sub, err := subName(attr, p.SubAttributeName())
	if err != nil {
		return err
	}
	match := efilter.NewFilterValidator(p.ValueExpression, schema.Schema{
		Attributes: efilter.MultiValuedFilterAttributes(attr),
	})
	matched := 0
	var out []any
	for _, e := range asList(container[attr.Name()]) {
		m := asMap(e)
		if m == nil || !passes(match, m) {
			out = append(out, e)
			continue
		}
		matched++
		switch {
		case op == scim.PatchOperationRemove && sub == "":
			continue
		case sub != "":
			setSub(m, op, sub, value)
		case asMap(value) != nil:
			e = asMap(value)
		}
		out = append(out, e)
	}
	// Removing what is already gone is done; replacing it is an error.
	if matched == 0 && op != scim.PatchOperationRemove {
		return scimerr.ScimErrorNoTarget
	}
	setList(container, attr.Name(), out)
	return nil
}

// subName is the canonical name of attr's sub-attribute name, or "".
func subName(attr schema.CoreAttribute, name string) (string, error) {
	if name == "" {
		return "", nil
	}
	sub, ok := attr.SubAttributes().ContainsAttribute(name)
	if !ok {
		return "", scimerr.ScimErrorInvalidPath
	}
	return sub.Name(), nil
}

func setSub(m map[string]any, op, sub string, value any) {
	if m == nil {
		return
	}
	if op == scim.PatchOperationRemove {
		delete(m, sub)
		return
	}
	m[sub] = value
}

// sameValue reports whether two values of a multi-valued attribute are the
// same: by their "value" sub-attribute when both have one.
func sameValue(a, b any) bool {
	va, vb := str(asMap(a), "value"), str(asMap(b), "value")
	if va != "" && vb != "" {
		return va == vb
	}
	return reflect.DeepEqual(a, b)
}

func asList(v any) []any {
	switch v := v.(type) {
	case []any:
		return v
	case map[string]any:
		return []any{v}
	case nil:
		return nil
	}
	return []any{v}
}

// setList stores a multi-valued attribute, or removes it when empty, as SCIM
// treats an empty list and an absent attribute alike.
func setList(m map[string]any, name string, list []any) {
	if len(list) == 0 {
		delete(m, name)
		return
	}
	m[name] = list
}

func deepCopy(v any) any {
	switch v := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(v))
		for k, e := range v {
			m[k] = deepCopy(e)
		}
		return m
	case []any:
		l := make([]any, len(v))
		for i, e := range v {
			l[i] = deepCopy(e)
		}
		return l
	}
	return v
}

func equalFold(a, b string) bool { return strings.EqualFold(a, b) }

func lower(s string) string { return strings.ToLower(s) }
