package scimserver

import (
	"net/http"

	scimerr "github.com/elimity-com/scim/errors"

	"github.com/tenure-io/tenure/internal/scimpatch"
)

// PATCH (RFC 7644 3.5.2) is applied by internal/scimpatch, which the sandbox
// apps share. This server is written to by identity providers, so it takes the
// readings they rely on: Entra ID sets emails[type eq "work"].value on a user
// with no work email yet, which makes that email; a value for a filtered path
// such as emails[type eq "work"] is merged into the matched values, so a client
// that sends only what changes keeps the rest. An extension a PATCH empties is
// dropped, so a user reads the same whether its last enterprise attribute was
// removed or never set.
var patchOptions = scimpatch.Options{MergeMatched: true, CreateUnmatched: true, DropEmptyExtensions: true}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

// asList reads a multi-valued attribute by the patcher's rule: a lone value is
// a list of one.
func asList(v any) []any { return scimpatch.List(v) }

func invalidValue(detail string) error {
	return scimerr.ScimError{ScimType: scimerr.ScimTypeInvalidValue, Detail: detail, Status: http.StatusBadRequest}
}
