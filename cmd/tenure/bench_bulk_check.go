package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/integrations"
)

// errBulkCheck marks a bulk or a rollout after which the apps or the read model
// are not what was asked for.
var errBulkCheck = errors.New("accounts lost, duplicated or not done")

// benchExamples is how many people a failed check names per problem.
const benchExamples = 5

// bulkCheck is what the apps' own state and the read model showed after a bulk.
type bulkCheck struct {
	hires, lockers int
	apps           []appCheck
	// readModel is the number of hires the read model shows active.
	readModel int
	err       error
}

// appCheck is one app's own state after a bulk.
type appCheck struct {
	app string
	// done counts the hires with exactly one account, active and holding their
	// entitlements.
	done int
	// missing are hires (and lockers) without an account, or hires whose one
	// account is not active with their entitlements; dups are people with more
	// than one account; strangers are accounts of no one the bench hired.
	missing, dups, strangers []string
	// earlier counts accounts of earlier bench runs in the same --data-dir.
	earlier int
}

// checkBulk reads every app's users page by page through the bench's own
// connector, and the read model through the API. An account belongs to a
// person when its externalId is their HR ID or, lacking one, when its userName
// is their email or HR ID (case-insensitively): an app that dropped the
// externalId still shows whose account it is.
func (b *benchRun) checkBulk(ctx context.Context, people bulkPeople) bulkCheck {
	c := bulkCheck{hires: len(people.hires), lockers: len(people.lockers)}
	isHire, ours, byName := map[string]bool{}, map[string]bool{}, map[string]string{}
	everyone := append(slices.Clone(people.hires), people.lockers...)
	for _, p := range everyone {
		ours[p.ID] = true
		byName[strings.ToLower(p.Email)], byName[strings.ToLower(p.ID)] = p.ID, p.ID
	}
	for _, p := range people.hires {
		isHire[p.ID] = true
	}
	want := b.appGrants(people.hires[0])
	var problems, errs []string
	for _, app := range slices.Sorted(maps.Keys(want)) {
		ac := appCheck{app: app}
		accounts, good := map[string]int{}, map[string]bool{}
		err := b.conns[app].List(ctx, func(a integrations.Account) bool {
			owner := a.ExternalID
			if owner == "" {
				owner = byName[strings.ToLower(a.UserName)]
			}
			if ours[owner] {
				accounts[owner]++
				good[owner] = a.Active && containsAll(a.Groups, want[app])
				return true
			}
			name := cmp.Or(a.ExternalID, a.UserName)
			if l := strings.ToLower(name); strings.HasPrefix(l, "bench-") && !strings.HasPrefix(l, strings.ToLower(b.prefix)+"-") {
				ac.earlier++ // a person an earlier run hired in this --data-dir
			} else {
				ac.strangers = append(ac.strangers, name)
			}
			return true
		})
		if err != nil {
			errs = append(errs, fmt.Sprintf("listing the users of %s: %v", app, err))
			continue
		}
		for _, p := range everyone {
			switch k := accounts[p.ID]; {
			case k > 1:
				ac.dups = append(ac.dups, fmt.Sprintf("%s (%d accounts)", p.ID, k))
			case k == 0:
				ac.missing = append(ac.missing, p.ID+" (no account)")
			case isHire[p.ID] && !good[p.ID]:
				ac.missing = append(ac.missing, p.ID+" (not active with "+strings.Join(want[app], ", ")+")")
			case isHire[p.ID]:
				ac.done++
			}
		}
		for _, f := range []struct {
			what string
			list []string
		}{{"missing or not done", ac.missing}, {"duplicated", ac.dups}, {"for someone not hired", ac.strangers}} {
			if len(f.list) > 0 {
				problems = append(problems, fmt.Sprintf("%s: %d %s, e.g. %s", app, len(f.list), f.what, strings.Join(f.list[:min(benchExamples, len(f.list))], ", ")))
			}
		}
		c.apps = append(c.apps, ac)
	}

	active, err := b.activeInReadModel(ctx, isHire)
	c.readModel = active
	switch {
	case err != nil:
		errs = append(errs, err.Error())
	case active != len(people.hires):
		problems = append(problems, fmt.Sprintf("the read model shows %d of the %d hires active", active, len(people.hires)))
	}
	if len(problems) > 0 {
		c.err = fmt.Errorf("%w: %s", errBulkCheck, strings.Join(problems, "; "))
	}
	if len(errs) > 0 {
		c.err = errors.Join(c.err, errors.New(strings.Join(errs, "; ")))
	}
	return c
}

// activeInReadModel counts the hires GET /api/v1/employees?status=active lists,
// page by page, waiting a little for the read model to catch up with the apps.
func (b *benchRun) activeInReadModel(ctx context.Context, isHire map[string]bool) (int, error) {
	deadline := time.Now().Add(benchStepTimeout + time.Duration(len(isHire))*10*time.Millisecond)
	for {
		count := 0
		for offset := 0; ; offset += 500 {
			res, err := b.do(ctx, http.MethodGet, fmt.Sprintf("/api/v1/employees?status=active&limit=500&offset=%d", offset), nil, nil)
			if err != nil {
				return 0, fmt.Errorf("reading the read model: %w", err)
			}
			var page struct {
				Employees []tenure.Employee `json:"employees"`
			}
			if res.status != http.StatusOK || json.Unmarshal(res.body, &page) != nil {
				return 0, fmt.Errorf("reading the read model: HTTP %d: %.300s", res.status, res.body)
			}
			for _, e := range page.Employees {
				if isHire[e.ID] {
					count++
				}
			}
			if len(page.Employees) < 500 {
				break
			}
		}
		if count == len(isHire) || time.Now().After(deadline) {
			return count, nil
		}
		if err := sleep(ctx, time.Second); err != nil {
			return count, err
		}
	}
}
