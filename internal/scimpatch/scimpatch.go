// Package scimpatch applies SCIM PATCH operations (RFC 7644 section 3.5.2) to a
// resource's attributes. github.com/elimity-com/scim parses each operation and
// checks its path and value against the schemas, but leaves applying it to the
// resource handler; the sandbox SCIM apps and Tenure's inbound SCIM server both
// apply them here, so they read the RFC alike except where Options say not.
//
// A resource's attributes are decoded JSON: core attributes (externalId among
// them) at the top, and each extension's attributes in an object under the
// extension's URI.
package scimpatch

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

// Options are the points where servers part in reading RFC 7644 3.5.2. The zero
// value is the strict reading the sandbox apps use, as SaaS apps do.
type Options struct {
	// MergeMatched makes an add or replace whose path selects values by a
	// filter and names no sub-attribute (emails[type eq "work"]) merge the
	// given sub-attributes into each matched value, instead of replacing each
	// matched value whole.
	MergeMatched bool
	// CreateUnmatched makes an add or replace whose filter names exactly one
	// value (attr eq "string") and matches none create that value, instead of
	// failing with noTarget: Entra ID sets emails[type eq "work"].value on a
	// user who has no work email yet.
	CreateUnmatched bool
	// DropEmptyExtensions removes an extension's object once an operation
	// leaves it empty, instead of keeping it as {}.
	DropEmptyExtensions bool
}

// Patcher applies PATCH operations to the attributes of one resource type. It
// is not changed after New, so one Patcher may serve concurrent requests.
type Patcher struct {
	core schema.Schema
	exts []schema.Schema
	opts Options
}

// New returns a Patcher for resources of the core schema and its extensions.
// externalId, a common attribute (RFC 7643 3.1) that a PATCH may set, resolves
// as a core attribute whether or not core lists it.
func New(core schema.Schema, exts []schema.Schema, opts Options) *Patcher {
	if _, ok := core.Attributes.ContainsAttribute("externalId"); !ok {
		core.Attributes = append(slices.Clone(core.Attributes), schema.SimpleCoreAttribute(schema.SimpleStringParams(schema.StringParams{
			Name:      "externalId",
			CaseExact: true,
		})))
	}
	return &Patcher{core: core, exts: slices.Clone(exts), opts: opts}
}

// Apply applies ops in order to a copy of doc and returns the copy. doc itself
// is never changed, so a PATCH whose third operation fails leaves no trace of
// the first two. The errors are the library's SCIM errors, ready to answer with.
func (p *Patcher) Apply(doc map[string]any, ops []scim.PatchOperation) (map[string]any, error) {
	out, _ := deepCopy(doc).(map[string]any)
	if out == nil {
		out = map[string]any{}
	}
	for _, op := range ops {
		if err := p.apply(out, op); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (p *Patcher) apply(doc map[string]any, op scim.PatchOperation) error {
	if op.Path != nil {
		return p.applyPath(doc, op.Op, *op.Path, op.Value)
	}
	// Without a path the value maps attribute paths, or an extension's URI, to
	// values, as Okta sends {"op": "replace", "value": {"active": false}}.
	values, ok := op.Value.(map[string]any)
	if !ok {
		return invalidValue("an operation without a path needs an object as its value")
	}
	for _, k := range slices.Sorted(maps.Keys(values)) {
		ext, ok := p.extension(k)
		if !ok {
			if err := p.applyKey(doc, op.Op, k, values[k]); err != nil {
				return err
			}
			continue
		}
		sub, ok := values[k].(map[string]any)
		if !ok {
			return invalidValue(k + " needs an object as its value")
		}
		for _, name := range slices.Sorted(maps.Keys(sub)) {
			if err := p.applyKey(doc, op.Op, ext.ID+":"+name, sub[name]); err != nil {
				return err
			}
		}
	}
	return nil
}

func (p *Patcher) applyKey(doc map[string]any, op, key string, value any) error {
	path, err := filter.ParsePath([]byte(key))
	if err != nil {
		return scimerr.ScimErrorInvalidPath
	}
	return p.applyPath(doc, op, path, value)
}

func (p *Patcher) extension(uri string) (schema.Schema, bool) {
	for _, e := range p.exts {
		if strings.EqualFold(e.ID, uri) {
			return e, true
		}
	}
	return schema.Schema{}, false
}

// resolve finds the attribute a path names and the URI of the extension that
// holds it ("" for the core schema). A name without a URI is looked for in the
// core schema first, then in each extension.
func (p *Patcher) resolve(ap filter.AttributePath) (string, schema.CoreAttribute, error) {
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

func (p *Patcher) applyPath(doc map[string]any, op string, path filter.Path, value any) error {
	ext, attr, err := p.resolve(path.AttributePath)
	if err != nil {
		return err
	}
	if attr.Mutability() == "readOnly" {
		return scimerr.ScimError{ScimType: scimerr.ScimTypeMutability, Detail: attr.Name() + " is read-only", Status: http.StatusBadRequest}
	}
	container := doc
	if ext != "" {
		container = asMap(doc[ext])
		if container == nil {
			if op == scim.PatchOperationRemove {
				return nil // nothing there to remove
			}
			container = map[string]any{}
			doc[ext] = container
		}
	}
	if err := p.applyIn(container, op, attr, path, value); err != nil {
		return err
	}
	if ext != "" && len(container) == 0 && p.opts.DropEmptyExtensions {
		delete(doc, ext)
	}
	return nil
}

// applyIn applies an operation on attr to container, the object that holds
// attr: the resource itself or an extension's object.
func (p *Patcher) applyIn(container map[string]any, op string, attr schema.CoreAttribute, path filter.Path, value any) error {
	name := attr.Name()
	sub, err := subAttribute(attr, path.AttributePath.SubAttributeName())
	if err != nil {
		return err
	}
	switch {
	case path.ValueExpression != nil:
		return p.applyFiltered(container, op, attr, path, value)
	case sub != "" && attr.MultiValued():
		// emails.type and the like: that sub-attribute of every value.
		for _, e := range List(container[name]) {
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
		kept := slices.DeleteFunc(slices.Clone(List(container[name])), func(e any) bool {
			return slices.ContainsFunc(List(value), func(v any) bool { return sameValue(e, v) })
		})
		SetList(container, name, kept)
	case op == scim.PatchOperationRemove:
		delete(container, name)
	case attr.MultiValued() && op == scim.PatchOperationAdd:
		list := slices.Clone(List(container[name]))
		for _, v := range List(value) {
			if !slices.ContainsFunc(list, func(e any) bool { return sameValue(e, v) }) {
				list = append(list, v)
			}
		}
		SetList(container, name, list)
	case attr.MultiValued():
		SetList(container, name, List(value))
	case attr.AttributeType() == "complex":
		// Sub-attributes not given keep their values (RFC 7644 3.5.2.3).
		m := asMap(container[name])
		if m == nil {
			m = map[string]any{}
			container[name] = m
		}
		maps.Copy(m, asMap(value))
	case value == nil:
		delete(container, name)
	default:
		container[name] = value
	}
	return nil
}

// applyFiltered applies an operation whose path selects values of a
// multi-valued attribute, as members[value eq "id"] or emails[type eq "work"].value.
func (p *Patcher) applyFiltered(container map[string]any, op string, attr schema.CoreAttribute, path filter.Path, value any) error {
	sub, err := subAttribute(attr, path.SubAttributeName())
	if err != nil {
		return err
	}
	match := efilter.NewFilterValidator(path.ValueExpression, schema.Schema{Attributes: efilter.MultiValuedFilterAttributes(attr)})
	matched := 0
	var out []any
	for _, e := range List(container[attr.Name()]) {
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
		case p.opts.MergeMatched:
			maps.Copy(m, asMap(value))
		case asMap(value) != nil:
			// Each matched value gets a copy of its own, so that a later
			// operation on one of them leaves the others alone.
			m = deepCopy(value).(map[string]any)
		}
		out = append(out, m)
	}
	if matched == 0 && op != scim.PatchOperationRemove {
		// Removing what is already gone is done; changing it is not.
		m, ok := p.created(attr, path, sub, value)
		if !ok {
			return scimerr.ScimErrorNoTarget
		}
		out = append(out, m)
	}
	SetList(container, attr.Name(), out)
	return nil
}

// created is the value that an add or replace whose filter matched nothing
// makes, when Options.CreateUnmatched allows it and the filter names one value:
// emails[type eq "work"].value makes {"type": "work", "value": value}.
func (p *Patcher) created(attr schema.CoreAttribute, path filter.Path, sub string, value any) (map[string]any, bool) {
	if !p.opts.CreateUnmatched {
		return nil, false
	}
	e, ok := path.ValueExpression.(*filter.AttributeExpression)
	if !ok || e.Operator != filter.EQ || e.AttributePath.SubAttribute != nil {
		return nil, false
	}
	want, ok := e.CompareValue.(string)
	key, _ := subAttribute(attr, e.AttributePath.AttributeName)
	if !ok || key == "" {
		return nil, false
	}
	m := map[string]any{key: want}
	if sub != "" {
		m[sub] = value
	} else {
		maps.Copy(m, asMap(value))
	}
	return m, true
}

// passes reports whether a value of a multi-valued attribute passes a filter.
// The library panics on values of unexpected shapes; one it cannot judge does
// not match.
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

// List reads a multi-valued attribute's value as Apply does: a lone value is a
// list of one, and an absent attribute an empty list. Handlers read the
// attributes Apply returns by the same rule.
func List(v any) []any {
	switch v := v.(type) {
	case []any:
		return v
	case nil:
		return nil
	}
	return []any{v}
}

// SetList stores a multi-valued attribute in doc as Apply does: an empty list
// removes it, as SCIM makes no difference between an empty list and an absent
// attribute.
func SetList(doc map[string]any, name string, list []any) {
	if len(list) == 0 {
		delete(doc, name)
		return
	}
	doc[name] = list
}

// deepCopy copies decoded JSON, so a patch never touches the caller's values.
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
