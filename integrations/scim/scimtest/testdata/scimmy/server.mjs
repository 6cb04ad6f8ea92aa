// A SCIM 2.0 service built on SCIMMY and its Express routers, which
// scimtest.StartPeer runs for the scim connector's interop tests. SCIMMY does
// the protocol: routing, ServiceProviderConfig, ResourceTypes, Schemas,
// filters, PATCH, ListResponse paging and errors. This file only gives it
// somewhere to keep users and groups (in memory, as SCIMMY's own examples do)
// and, like SCIMMY by default, keeps memberships on the Group: the User's
// read-only groups attribute is never filled in, which is the case the
// connector's bug report was about.
//
// Usage: PEER_TOKEN=... node server.mjs   (prints "listening <port>" when ready)
// GET /_state (same bearer token) returns the stored users and groups as they
// are, so a test can check the peer's own state.
import crypto from "node:crypto";
import express from "express";
import SCIMMY from "scimmy";
import SCIMMYRouters from "scimmy-routers";

const token = process.env.PEER_TOKEN;
if (!token) {
	console.error("PEER_TOKEN is required");
	process.exit(2);
}

const users = new Map();
const groups = new Map();

function stamp(stored, resourceType) {
	const now = new Date().toISOString();
	const created = stored.meta?.created ?? now;
	return {...stored, meta: {resourceType, created, lastModified: now}};
}

// list returns the stored resources that pass the request's filter, using
// SCIMMY's own filter engine; SCIMMY's ListResponse applies startIndex and count.
function list(store, resource) {
	const all = [...store.values()];
	return resource.filter ? resource.filter.match(all) : all;
}

function one(store, resource) {
	const found = store.get(resource.id);
	if (!found) throw new SCIMMY.Types.Error(404, null, `Resource ${resource.id} not found`);
	return found;
}

function unique(store, attr, value, self) {
	for (const r of store.values()) {
		if (r.id !== self && String(r[attr]).toLowerCase() === String(value).toLowerCase()) {
			throw new SCIMMY.Types.Error(409, "uniqueness", `${attr} ${value} is already taken`);
		}
	}
}

SCIMMY.Resources.declare(SCIMMY.Resources.User)
	.egress((resource) => (resource.id ? one(users, resource) : list(users, resource)))
	.ingress((resource, instance) => {
		const id = resource.id ?? crypto.randomUUID();
		if (resource.id) one(users, resource);
		unique(users, "userName", instance.userName, id);
		const {groups: _readOnly, ...attrs} = JSON.parse(JSON.stringify(instance));
		const stored = stamp({...attrs, id, meta: users.get(id)?.meta}, "User");
		users.set(id, stored);
		return stored;
	})
	.degress((resource) => {
		one(users, resource);
		users.delete(resource.id);
		for (const g of groups.values()) {
			g.members = (g.members ?? []).filter((m) => m.value !== resource.id);
		}
	});

SCIMMY.Resources.declare(SCIMMY.Resources.Group)
	.egress((resource) => (resource.id ? one(groups, resource) : list(groups, resource)))
	.ingress((resource, instance) => {
		const id = resource.id ?? crypto.randomUUID();
		if (resource.id) one(groups, resource);
		unique(groups, "displayName", instance.displayName, id);
		const attrs = JSON.parse(JSON.stringify(instance));
		const stored = stamp({...attrs, id, meta: groups.get(id)?.meta}, "Group");
		groups.set(id, stored);
		return stored;
	})
	.degress((resource) => {
		one(groups, resource);
		groups.delete(resource.id);
	});

const app = express();
const bearer = (req) => req.header("Authorization") === `Bearer ${token}`;
app.get("/_state", (req, res) => {
	if (!bearer(req)) return res.status(401).end();
	res.json({users: [...users.values()], groups: [...groups.values()]});
});
app.use("/scim/v2", new SCIMMYRouters({
	type: "bearer",
	handler: (req) => {
		if (!bearer(req)) throw new Error("a valid bearer token is required");
		return "tenure";
	},
}));

const server = app.listen(0, "127.0.0.1", () => {
	console.log(`listening ${server.address().port}`);
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
