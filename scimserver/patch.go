package scimserver

import (
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

// The library has parsed each PATCH operation and checked its path and value
// against the schemas; patcher applies it (RFC 7644 3.5.2) to a private copy of
// the resource's attributes, where core attributes sit at the top and each
// extension's attributes in a map under its URI.

type patcher struct {
	core schema.Schema // with externalId, which a PATCH may set
	exts []schema.Schema
}

func newPatcher(core schema.Schema, exts ...schema.Schema) patcher {
	core.Attributes = append(append(schema.Attributes{}, core.Attributes...),
		schema.SimpleCoreAttribute(schema.SimpleStringParams(schema.StringParams{Name: "externalId", CaseExact: true})))
	return patcher{core: core, exts: exts}
}

func (p patcher) apply(doc map[string]any, op scim.PatchOperation) error {
	if op.Path != nil {
		return p.applyPath(doc, op.Op, *op.Path, op.Value)
	}
	// Without a path the value maps attribute paths (or an extension's URI) to
	// values, as Okta sends {"op": "replace", "value": {"active": false}}.
	values, ok := op.Value.(map[string]any)
	if !ok {
		return invalidValue("an operation without a path needs an object as its value")
	}
	for _, k := range sortedKeys(values) {
		if ext, ok := p.extension(k); ok {
			sub, ok := values[k].(map[string]any)
			if !ok {
				return invalidValue(k + " needs an object as its value")
			}
			for _, name := range sortedKeys(sub) {
				if err := p.applyKey(doc, op.Op, ext.ID+":"+name, sub[name]); err != nil {
					return err
				}
			}
			continue
		}
		if err := p.applyKey(doc, op.Op, k, values[k]); err != nil {
			return err
		}
	}
	return nil
}

func (p patcher) applyKey(doc map[string]any, op, key string, value any) error {
	path, err := filter.ParsePath([]byte(key))
	if err != nil {
		return scimerr.ScimErrorInvalidPath
	}
	return p.applyPath(doc, op, path, value)
}

func (p patcher) extension(id string) (schema.Schema, bool) {
	for _, e := range p.exts {
		if strings.EqualFold(e.ID, id) {
			return e, true
		}
	}
	return schema.Schema{}, false
}

// resolve finds the attribute a path names and the URI of the extension that
// holds it ("" for the core schema).
func (p patcher) resolve(ap filter.AttributePath) (string, schema.CoreAttribute, error) {
	uri := ap.URI()
	if uri == "" || strings.EqualFold(uri, p.core.ID) {
		if attr, ok := p.core.Attributes.ContainsAttribute(ap.AttributeName); ok {
			return "", attr, nil
		}
	}
	for _, e := range p.exts {
		if uri != "" && !strings.EqualFold(uri, e.ID) {
			continue
		}
		if attr, ok := e.Attributes.ContainsAttribute(ap.AttributeName); ok {
			return e.ID, attr, nil
		}
	}
	return "", schema.CoreAttribute{}, scimerr.ScimErrorInvalidPath
}

func (p patcher) applyPath(doc map[string]any, op string, path filter.Path, value any) error {
	ext, attr, err := p.resolve(path.AttributePath)
	if err != nil {
		return err
	}
	if attr.Mutability() == "readOnly" {
		return scimerr.ScimError{ScimType: scimerr.ScimTypeMutability, Detail: attr.Name() + " is read-only", Status: http.StatusBadRequest}
	}
	container := doc
	if ext != "" {
		container, _ = doc[ext].(map[string]any)
		if container == nil {
			if op == scim.PatchOperationRemove {
				return nil
			}
			container = map[string]any{}
			doc[ext] = container
		}
	}
	name := attr.Name()
	sub, err := subAttribute(attr, path.AttributePath.SubAttributeName())
	if err != nil {
		return err
	}
	switch {
	case path.ValueExpression != nil:
		return applyFiltered(container, op, attr, path, value)
	case sub != "" && attr.MultiValued():
		// emails.type and the like: that sub-attribute of every value.
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
		// Entra removes members so: path "members", value [{"value": id}].
		kept := slices.DeleteFunc(slices.Clone(asList(container[name])), func(e any) bool {
			return slices.ContainsFunc(asList(value), func(v any) bool { return sameValue(e, v) })
		})
		setList(container, name, kept)
	case op == scim.PatchOperationRemove:
		delete(container, name)
	case attr.MultiValued() && op == scim.PatchOperationAdd:
		list := slices.Clone(asList(container[name]))
		for _, v := range asList(value) {
			if !slices.ContainsFunc(list, func(e any) bool { return sameValue(e, v) }) {
				list = append(list, v)
			}
		}
		setList(container, name, list)
	case attr.MultiValued():
		setList(container, name, asList(value))
	case attr.AttributeType() == "complex":
		// Sub-attributes not given keep their values (RFC 7644 3.5.2.3).
		m := asMap(container[name])
		if m == nil {
			m = map[string]any{}
			container[name] = m
		}
		for k, v := range asMap(value) {
			m[k] = v
		}
	case value == nil:
		delete(container, name)
	default:
		container[name] = value
	}
	if ext != "" && len(container) == 0 {
		delete(doc, ext)
	}
	return nil
}

// applyFiltered applies an operation whose path selects values of a
// multi-valued attribute, as members[value eq "id"] or emails[type eq "work"].value.
func applyFiltered(container map[string]any, op string, attr schema.CoreAttribute, path filter.Path, value any) error {
	sub, err := subAttribute(attr, path.SubAttributeName())
	if err != nil {
		return err
	}
	match := efilter.NewFilterValidator(path.ValueExpression, schema.Schema{Attributes: efilter.MultiValuedFilterAttributes(attr)})
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
		default:
			for k, v := range asMap(value) {
				m[k] = v
			}
		}
		out = append(out, m)
	}
	if matched == 0 && op != scim.PatchOperationRemove {
		// Entra replaces emails[type eq "work"].value on a user who has no work
		// email yet: a filter that names one value makes that value.
		e, ok := path.ValueExpression.(*filter.AttributeExpression)
		key, isString := "", false
		if ok {
			_, isString = e.CompareValue.(string)
			key, _ = subAttribute(attr, e.AttributePath.AttributeName)
		}
		if !ok || e.Operator != filter.EQ || !isString || key == "" || e.AttributePath.SubAttribute != nil {
			return scimerr.ScimErrorNoTarget
		}
		m := map[string]any{key: e.CompareValue}
		if sub != "" {
			m[sub] = value
		} else {
			for k, v := range asMap(value) {
				m[k] = v
			}
		}
		out = append(out, m)
	}
	setList(container, attr.Name(), out)
	return nil
}

// passes reports whether a value of a multi-valued attribute passes a filter.
func passes(v efilter.Validator, m map[string]any) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	return v.PassesFilter(m) == nil
}

// subAttribute is the canonical name of attr's sub-attribute name, or "".
func subAttribute(attr schema.CoreAttribute, name string) (string, error) {
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
	if op == scim.PatchOperationRemove || value == nil {
		delete(m, sub)
		return
	}
	m[sub] = value
}

// sameValue reports whether two values of a multi-valued attribute are one: by
// their "value" sub-attribute when both have one.
func sameValue(a, b any) bool {
	va, _ := asMap(a)["value"].(string)
	vb, _ := asMap(b)["value"].(string)
	if va != "" && vb != "" {
		return va == vb
	}
	return reflect.DeepEqual(a, b)
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func asList(v any) []any {
	switch v := v.(type) {
	case []any:
		return v
	case nil:
		return nil
	}
	return []any{v}
}

// setList stores a multi-valued attribute, or removes it when empty: SCIM treats
// an empty list and an absent attribute alike.
func setList(m map[string]any, name string, list []any) {
	if len(list) == 0 {
		delete(m, name)
		return
	}
	m[name] = list
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// deepCopy copies decoded JSON, so a patch never touches a stored value.
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

func invalidValue(detail string) error {
	return scimerr.ScimError{ScimType: scimerr.ScimTypeInvalidValue, Detail: detail, Status: http.StatusBadRequest}
}
