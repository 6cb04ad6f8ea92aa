// Package sandbox serves Tenure's sandbox apps: small SCIM 2.0 services that
// stand in for SaaS apps in dev mode and in tests, at /sandbox/<app>/scim/v2.
// They give the demo and the connector and end-to-end tests real targets over
// real HTTP, with bearer-token auth like a SaaS.
//
// The SCIM protocol itself (routing, request parsing, schema validation, filters,
// ListResponse and the SCIM error schema) comes from github.com/elimity-com/scim;
// this package supplies its resource handlers: an in-memory store per app with
// uniqueness rules, group membership, RFC 7644 PATCH and state that survives a
// restart when a data directory is given.
//
// Each app can also be told to misbehave (latency, 5xx, 429 with Retry-After, or
// a run of failures with a chosen status) through SetFaults or
// PUT /sandbox/<app>/_faults, so retries and failure handling can be shown and
// tested against something real. Each app can also speak the SCIM dialect of
// some real service (no groups on the User, no members on the Group, no
// filters on Groups, no group creation, no active attribute, one PATCH form
// only, required ETags, a fixed page size) through SetDialect or
// PUT /sandbox/<app>/_dialect; the default is unchanged. POST
// /sandbox/<app>/_reset empties an app.
package sandbox
