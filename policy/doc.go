// Package policy turns HR records into desired access. A policy file names the
// apps Tenure manages (which connector serves each, where, with which secrets)
// and the rules that map HR attributes to accounts and entitlements in them.
// Everything here is a pure function of the file and the HR record, so the
// workflows can call it deterministically and reconciliation can call it for
// every person at once.
//
// # File format
//
//	version: 1                 # required; the only version there is
//	retention: 720h            # delay before a leaver's accounts are deleted; default 720h
//	approvals:                 # defaults shown
//	  remind_after: 24h
//	  escalate_after: 48h
//	  expire_after: 168h       # both other delays must be shorter
//	  it_approver: it-security # decides `it` approvals and escalations with no manager's manager
//	reconcile: {every: 24h, mode: report} # scheduled reconciliation of apps without their own; every >= 15m
//	apps:
//	  - name: github           # [a-z0-9-]+, unique
//	    connector: scim        # one of the kinds the caller of Parse knows
//	    sandbox: true          # served by `tenure dev` at /sandbox/github/scim/v2
//	    owner: E1001           # the app owner's HR ID, for app_owner approvals
//	    settings: {create_groups: "true"}
//	  - name: salesforce
//	    connector: scim
//	    base_url: https://example.my.salesforce.com/scim/v2  # the kind's own keys, from its Spec
//	    token_env: SALESFORCE_SCIM_TOKEN   # a secret: <key>_env names a variable,
//	                                       # <key>_file an absolute path; never inline
//	    max_concurrent: 4                  # calls in flight per worker
//	    rate: 600/m                        # calls across workers, per s, m or h
//	    give_up_after: 24h                 # how long a step rides out an outage; default 24h
//	    ignore: ["svc-*"]                  # accounts reconciliation leaves alone (path.Match)
//	    orphans: report                    # or disable; what to do with accounts HR does not know
//	    reconcile: {every: 6h, mode: enforce} # this app's own schedule (mode: report or enforce)
//	rules:
//	  - name: senior-engineers # unique
//	    match:                 # required; match: {} matches everyone
//	      department: Engineering         # exact, case-insensitive
//	      title: {pattern: "*Senior*"}    # glob (path.Match), case-insensitive
//	      location: [London, Berlin]      # any of; items may be any of the three forms
//	      manager_id: {regex: "^E10"}     # RE2, as written (add (?i) to ignore case)
//	      attributes: {cost_center: CC-42}
//	    grant:
//	      - app: github
//	        entitlements: [engineering]
//	        approval: manager             # manager | app_owner | it
//
// An app takes the keys every app has and its kind's Spec.Keys, no others; a
// grant of entitlements needs a kind whose Spec.Can has Groups. Durations are Go
// durations (90m, 720h) or whole days (30d). All the keys of a
// match must hold. A person's missing field or attribute is the empty string.
// Unknown keys are errors, and so are aliases, merge keys and tags (a small file
// must not expand into a huge policy, and a policy has no use for them), a second
// YAML document, and nesting more than 64 deep. Every error is an *Error that
// names the file and the line at fault; docs/policy.md describes the format for
// people who write policies.
package policy
