package web

import (
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/tenure-io/tenure"
)

// runView is a run with whom it is for and its page in the Temporal UI.
type runView struct {
	tenure.Run
	Person string
	URL    string
}

// leaverView is a recent leaver and how long their access took to revoke: from
// the HR event arriving to every account disabled and read back.
type leaverView struct {
	runView
	TimeToRevoke time.Duration
}

type dashboardData struct {
	Running, Failed, Pending int
	// Holds and HeldPeople are what the blast-radius guard holds: a banner.
	Holds, HeldPeople  int
	InFlight, Failures []runView
	FailedAccounts     []tenure.Account
	Leavers            []leaverView
	Chart              chart
}

// holdsCounted is the most open holds the dashboard's banner adds up (the
// store's largest page).
const holdsCounted = 500

// dashboardRows bounds each list of the dashboard.
const dashboardRows = 10

// chartDays is how far back the lifecycle chart goes.
const chartDays = 30

func (c *console) dashboard(w http.ResponseWriter, r *http.Request, s *session) error {
	if s.User.Role == tenure.RoleManager {
		// A manager's home is their own reports and approvals.
		http.Redirect(w, r, "/approvals", http.StatusSeeOther)
		return nil
	}
	ctx := r.Context()
	var d dashboardData
	counts, err := c.store.CountRuns(ctx)
	if err != nil {
		return tenure.Unavailable("the store", err)
	}
	d.Running, d.Failed = counts[tenure.RunRunning], counts[tenure.RunFailed]
	if d.Pending, err = c.store.CountApprovals(ctx, tenure.ApprovalPending); err != nil {
		return tenure.Unavailable("the store", err)
	}
	held, err := c.guard.Holds(ctx, tenure.HoldFilter{Status: tenure.HoldOpen, Limit: holdsCounted})
	if err != nil {
		return tenure.Unavailable("the store", err)
	}
	for _, h := range held {
		d.Holds++
		d.HeldPeople += h.People
	}
	names := map[string]string{}
	view := func(run tenure.Run) runView {
		if _, ok := names[run.EmployeeID]; !ok {
			names[run.EmployeeID] = run.EmployeeID
			if e, err := c.store.GetEmployee(ctx, run.EmployeeID); err == nil {
				names[run.EmployeeID] = e.DisplayName()
			}
		}
		return runView{Run: run, Person: names[run.EmployeeID], URL: c.engine.RunURL(run.HistoryID())}
	}
	for _, q := range []struct {
		typ    string
		status tenure.RunStatus
		into   *[]runView
	}{
		{"", tenure.RunRunning, &d.InFlight},
		{"", tenure.RunFailed, &d.Failures},
	} {
		runs, err := c.store.ListRecentRuns(ctx, q.typ, q.status, dashboardRows)
		if err != nil {
			return tenure.Unavailable("the store", err)
		}
		for _, run := range runs {
			*q.into = append(*q.into, view(run))
		}
	}
	if d.FailedAccounts, err = c.store.ListFailedAccounts(ctx, dashboardRows); err != nil {
		return tenure.Unavailable("the store", err)
	}
	leavers, err := c.store.ListRecentRuns(ctx, "Leaver", tenure.RunCompleted, dashboardRows)
	if err != nil {
		return tenure.Unavailable("the store", err)
	}
	for _, run := range leavers {
		lv := leaverView{runView: view(run)}
		start := run.StartedAt
		if ev, err := c.store.GetEvent(ctx, run.EventID); err == nil {
			start = ev.ReceivedAt
		}
		if run.ClosedAt != nil {
			lv.TimeToRevoke = run.ClosedAt.Sub(start)
		}
		d.Leavers = append(d.Leavers, lv)
	}
	today := time.Date(c.now().UTC().Year(), c.now().UTC().Month(), c.now().UTC().Day(), 0, 0, 0, 0, time.UTC)
	since := today.AddDate(0, 0, -(chartDays - 1))
	perDay, err := c.store.RunsPerDay(ctx, since)
	if err != nil {
		return tenure.Unavailable("the store", err)
	}
	d.Chart = lifecycleChart(since, chartDays, perDay)
	c.render(w, r, s, http.StatusOK, "dashboard", "Dashboard", d)
	return nil
}

// chart is the lifecycle chart: an SVG, and the same numbers as a table for
// screen readers and for anyone who wants the figures.
type chart struct {
	SVG                      template.HTML
	Days                     []chartDay
	Joiners, Movers, Leavers int
}

type chartDay struct {
	Day                      string
	Joiners, Movers, Leavers int
}

// The series of the chart, in drawing order: run type, CSS class.
var chartSeries = [3][2]string{{"Joiner", "joiner"}, {"Mover", "mover"}, {"Leaver", "leaver"}}

// lifecycleChart draws joiners, movers and leavers per day as grouped bars. It is
// drawn on the server, so the console needs no charting script; the colours come
// from the stylesheet's classes, as the CSP allows no inline styles.
func lifecycleChart(since time.Time, days int, perDay map[string]map[string]int) chart {
	var ch chart
	peak := 1
	for i := range days {
		day := since.AddDate(0, 0, i).Format(tenure.DateLayout)
		n := perDay[day]
		cd := chartDay{Day: day, Joiners: n["Joiner"], Movers: n["Mover"], Leavers: n["Leaver"]}
		ch.Joiners += cd.Joiners
		ch.Movers += cd.Movers
		ch.Leavers += cd.Leavers
		peak = max(peak, cd.Joiners, cd.Movers, cd.Leavers)
		ch.Days = append(ch.Days, cd)
	}
	const (
		w, h       = 640, 180
		left, top  = 32, 10
		bottom     = 24
		slot       = (w - left) / chartDays
		bar        = (slot - 4) / 3
		plotHeight = h - top - bottom
	)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" role="img" aria-labelledby="chart-title"><title id="chart-title">Joiners, movers and leavers per day over the last %d days</title>`, w, h, days)
	fmt.Fprintf(&b, `<line class="axis" x1="%d" y1="%d" x2="%d" y2="%d"/>`, left, top+plotHeight, w, top+plotHeight)
	fmt.Fprintf(&b, `<text class="tick" x="%d" y="%d" text-anchor="end">%d</text>`, left-4, top+8, peak)
	fmt.Fprintf(&b, `<text class="tick" x="%d" y="%d" text-anchor="end">0</text>`, left-4, top+plotHeight)
	for i, cd := range ch.Days {
		x := left + i*slot + 2
		for j, v := range []int{cd.Joiners, cd.Movers, cd.Leavers} {
			if v == 0 {
				continue
			}
			bh := max(1, v*plotHeight/peak)
			fmt.Fprintf(&b, `<rect class="bar bar-%s" x="%d" y="%d" width="%d" height="%d"><title>%s: %d %ss</title></rect>`,
				chartSeries[j][1], x+j*bar, top+plotHeight-bh, bar, bh, cd.Day, v, strings.ToLower(chartSeries[j][0]))
		}
		if i == 0 || i == len(ch.Days)-1 || i == len(ch.Days)/2 {
			fmt.Fprintf(&b, `<text class="tick" x="%d" y="%d" text-anchor="middle">%s</text>`, x+slot/2, h-6, cd.Day[5:])
		}
	}
	b.WriteString(`</svg>`)
	// Every value written above is a number or a date this function made.
	ch.SVG = template.HTML(b.String())
	return ch
}
