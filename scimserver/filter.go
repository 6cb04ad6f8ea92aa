package scimserver

import (
	"fmt"
	"strings"
	"time"

	efilter "github.com/elimity-com/scim/filter"
	"github.com/elimity-com/scim/schema"
	"github.com/scim2/filter-parser/v2"

	"github.com/tenure-io/tenure/scimserver/directory"
)

// A list request's filter is parsed and checked against the schemas by the
// library. Tenure narrows the rows it reads with the equality filters identity
// providers send to find a user (userName eq, externalId eq), then judges every
// row it read with the whole filter, so narrowing can only save work, never
// change the answer.

// userFilterSchema is the User schema as the library checks filters against it:
// with the common attributes (id, externalId, meta).
var userFilterSchema = func() schema.Schema {
	s := userSchema
	s.Attributes = append(append(schema.Attributes{}, userSchema.Attributes...), schema.CommonAttributes()...)
	return s
}()

// parseUserFilter parses and checks a Users filter as the library does for GET
// /Users; the fuzz target drives this path.
func parseUserFilter(raw string) (*efilter.Validator, error) {
	v, err := efilter.NewValidator(raw, userFilterSchema, enterpriseSchema, tenureSchema)
	if err != nil {
		return nil, err
	}
	if err := v.Validate(); err != nil {
		return nil, err
	}
	return &v, nil
}

// planUsers returns the store query that finds every user the filter can match:
// an equality on userName or externalId, alone or as one side of an "and".
func planUsers(e filter.Expression) directory.UserQuery {
	switch e := e.(type) {
	case *filter.AttributeExpression:
		want, ok := e.CompareValue.(string)
		p := e.AttributePath
		if !ok || e.Operator != filter.EQ || p.SubAttribute != nil || want == "" {
			return directory.UserQuery{}
		}
		if uri := p.URI(); uri != "" && uri != userSchema.ID {
			return directory.UserQuery{}
		}
		switch {
		case strings.EqualFold(p.AttributeName, "userName"):
			return directory.UserQuery{UserName: want}
		case strings.EqualFold(p.AttributeName, "externalId"):
			return directory.UserQuery{ExternalID: want}
		}
	case *filter.LogicalExpression:
		if e.Operator != filter.AND {
			return directory.UserQuery{}
		}
		if q := planUsers(e.Left); q != (directory.UserQuery{}) {
			return q
		}
		return planUsers(e.Right)
	}
	return directory.UserQuery{}
}

// planGroups is planUsers for groups: displayName eq or externalId eq.
func planGroups(e filter.Expression) directory.GroupQuery {
	switch e := e.(type) {
	case *filter.AttributeExpression:
		want, ok := e.CompareValue.(string)
		p := e.AttributePath
		if !ok || e.Operator != filter.EQ || p.SubAttribute != nil || want == "" {
			return directory.GroupQuery{}
		}
		if uri := p.URI(); uri != "" && uri != groupSchema.ID {
			return directory.GroupQuery{}
		}
		switch {
		case strings.EqualFold(p.AttributeName, "displayName"):
			return directory.GroupQuery{DisplayName: want}
		case strings.EqualFold(p.AttributeName, "externalId"):
			return directory.GroupQuery{ExternalID: want}
		}
	case *filter.LogicalExpression:
		if e.Operator != filter.AND {
			return directory.GroupQuery{}
		}
		if q := planGroups(e.Left); q != (directory.GroupQuery{}) {
			return q
		}
		return planGroups(e.Right)
	}
	return directory.GroupQuery{}
}

// matches reports whether a resource, as filterView shows it, passes the filter.
func matches(v *efilter.Validator, s schema.Schema, exts []schema.Schema, view map[string]any) (ok bool) {
	// The library panics on values of shapes it does not expect; such a
	// resource does not match.
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	e := valuePaths(v.GetFilter(), s, exts)
	return efilter.NewFilterValidator(e, s, exts...).PassesFilter(view) == nil
}

// valuePaths rewrites "emails.value eq x" as the equivalent "emails[value eq x]":
// the library compares a sub-attribute of a multi-valued attribute only in the
// second form, and identity providers send the first.
func valuePaths(e filter.Expression, s schema.Schema, exts []schema.Schema) filter.Expression {
	switch e := e.(type) {
	case *filter.AttributeExpression:
		p := e.AttributePath
		if p.SubAttribute == nil {
			return e
		}
		for _, sc := range append([]schema.Schema{s}, exts...) {
			if uri := p.URI(); uri != "" && uri != sc.ID {
				continue
			}
			attr, ok := sc.Attributes.ContainsAttribute(p.AttributeName)
			if !ok {
				continue
			}
			if !attr.MultiValued() {
				return e
			}
			sub := *p.SubAttribute
			return &filter.ValuePath{
				AttributePath: filter.AttributePath{URIPrefix: p.URIPrefix, AttributeName: p.AttributeName},
				ValueFilter: &filter.AttributeExpression{
					AttributePath: filter.AttributePath{AttributeName: sub},
					Operator:      e.Operator,
					CompareValue:  e.CompareValue,
				},
			}
		}
		return e
	case *filter.LogicalExpression:
		return &filter.LogicalExpression{Left: valuePaths(e.Left, s, exts), Right: valuePaths(e.Right, s, exts), Operator: e.Operator}
	case *filter.NotExpression:
		return &filter.NotExpression{Expression: valuePaths(e.Expression, s, exts)}
	}
	return e
}

// userView is a user as a filter sees it: the stored attributes, extension
// attributes under "<schema URI>:<name>", and the common and read-only ones.
func userView(u directory.User, status string) map[string]any {
	m := make(map[string]any, len(u.Attributes)+6)
	for k, v := range u.Attributes {
		if ext, ok := v.(map[string]any); ok && strings.HasPrefix(k, "urn:") {
			for name, ev := range ext {
				m[k+":"+name] = ev
			}
			continue
		}
		m[k] = v
	}
	m["id"] = u.ID
	if u.ExternalID != "" {
		m["externalId"] = u.ExternalID
	}
	if groups := groupsAttr(u); len(groups) > 0 {
		m["groups"] = groups
	}
	m[TenureSchemaID+":hrId"] = u.HRID
	if status != "" {
		m[TenureSchemaID+":status"] = status
	}
	m["meta"] = metaView("User", u.CreatedAt, u.UpdatedAt, u.Version)
	return m
}

// groupView is a group as a filter sees it.
func groupView(g directory.Group, names map[string]string) map[string]any {
	m := groupAttrs(g, names)
	m["id"] = g.ID
	if g.ExternalID != "" {
		m["externalId"] = g.ExternalID
	}
	m["meta"] = metaView("Group", g.CreatedAt, g.UpdatedAt, g.Version)
	return m
}

func metaView(typ string, created, modified time.Time, version int) map[string]any {
	return map[string]any{
		"resourceType": typ,
		"created":      created.UTC().Format(time.RFC3339),
		"lastModified": modified.UTC().Format(time.RFC3339),
		"version":      etag(version),
	}
}

// etag is a resource version as meta.version and the ETag header carry it.
func etag(version int) string { return fmt.Sprintf("W/%q", fmt.Sprint(version)) }

// groupsAttr is a user's read-only groups attribute (RFC 7643 4.1.2).
func groupsAttr(u directory.User) []any {
	out := make([]any, 0, len(u.Groups))
	for _, g := range u.Groups {
		out = append(out, map[string]any{"value": g.ID, "display": g.Name, "type": "direct"})
	}
	return out
}

// groupAttrs is a group's attributes; names gives members' display names.
func groupAttrs(g directory.Group, names map[string]string) map[string]any {
	m := map[string]any{"displayName": g.DisplayName}
	if len(g.Members) > 0 {
		members := make([]any, 0, len(g.Members))
		for _, id := range g.Members {
			mem := map[string]any{"value": id, "type": "User"}
			if n := names[id]; n != "" {
				mem["display"] = n
			}
			members = append(members, mem)
		}
		m["members"] = members
	}
	return m
}
