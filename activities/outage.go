package activities

import (
	"sort"
	"sync"
	"time"
)

// Outages tracks, per app, the people whose steps are failing with transient
// faults and still retrying, so that IT hears once that an app is down ("github
// is failing for 13 people; still retrying") rather than once per person, or not
// at all while Temporal quietly rides the outage out. It is per worker process.
// It is safe for concurrent use.
type Outages struct {
	mu   sync.Mutex
	apps map[string]*outage
}

type outage struct {
	people    map[string]time.Time // employee ID -> when their failing step was first tried
	lastError string
	notified  bool
}

// NewOutages returns an empty tracker.
func NewOutages() *Outages { return &Outages{apps: map[string]*outage{}} }

// Failing records that the person's step in app failed transiently; since is
// when the step was first tried.
func (o *Outages) Failing(app, employeeID, errText string, since time.Time) {
	if o == nil {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	out := o.apps[app]
	if out == nil {
		out = &outage{people: map[string]time.Time{}}
		o.apps[app] = out
	}
	if _, ok := out.people[employeeID]; !ok {
		out.people[employeeID] = since
	}
	out.lastError = errText
}

// Recovered records that the person's step in app succeeded. When nobody is
// failing in the app any more, its outage is over, and a new one is announced
// again.
func (o *Outages) Recovered(app, employeeID string) {
	if o == nil {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	out := o.apps[app]
	if out == nil {
		return
	}
	delete(out.people, employeeID)
	if len(out.people) == 0 {
		delete(o.apps, app)
	}
}

// Outage is an app that has been failing for long enough to tell IT.
type Outage struct {
	App       string
	People    int    // how many people have a step failing and retrying
	LastError string // the app's own words, from the latest failure
	Since     time.Time
}

// Due returns the apps in which someone's step has been failing for longer than
// after, and that IT has not been told about yet; it marks them as told.
func (o *Outages) Due(now time.Time, after time.Duration) []Outage {
	if o == nil {
		return nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	var due []Outage
	for app, out := range o.apps {
		if out.notified {
			continue
		}
		first := now
		for _, since := range out.people {
			if since.Before(first) {
				first = since
			}
		}
		if now.Sub(first) < after {
			continue
		}
		out.notified = true
		due = append(due, Outage{App: app, People: len(out.people), LastError: out.lastError, Since: first})
	}
	sort.Slice(due, func(i, j int) bool { return due[i].App < due[j].App })
	return due
}
