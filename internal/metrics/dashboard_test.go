package metrics

import (
	"encoding/json"
	"go/ast"
	"go/constant"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The Grafana dashboard queries only metrics that exist: Tenure's own, and the
// Temporal SDK's as this package exports them (a counter as <name>_total, a
// timer as the histogram <name>). The SDK's names are read from the SDK's own
// source, in the version go.mod requires, so a rename there fails here.
func TestDashboardQueriesExportedMetrics(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "deploy", "grafana", "tenure.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title  string
		Panels []struct {
			Title   string
			Type    string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("the dashboard is not JSON: %v", err)
	}
	sdk := sdkMetricNames(t)
	ours := map[string]bool{}
	for _, n := range Names {
		ours[n] = true
	}
	name := regexp.MustCompile(`\b(?:tenure|temporal)_[a-z0-9_]+\b`)
	used := map[string]bool{}
	for _, p := range dash.Panels {
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, q := range p.Targets {
			found := name.FindAllString(q.Expr, -1)
			if len(found) == 0 {
				t.Errorf("panel %q: query %q names no Tenure or Temporal metric", p.Title, q.Expr)
			}
			for _, m := range found {
				used[m] = true
				if !exported(m, ours, sdk) {
					t.Errorf("panel %q queries %s, which nothing exports", p.Title, m)
				}
			}
		}
	}
	// Every metric Tenure exports is on the dashboard.
	for n := range ours {
		if !used[n] && !used[n+"_bucket"] {
			t.Errorf("no panel shows %s", n)
		}
	}
}

// exported reports whether a queried series name is one Tenure or the SDK
// exports: a histogram's _bucket, _sum or _count, or a counter's _total.
func exported(m string, ours, sdk map[string]bool) bool {
	if ours[m] {
		return true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(m, suffix); ok && (ours[base] || sdk[base]) {
			return true
		}
	}
	if base, ok := strings.CutSuffix(m, "_total"); ok && sdk[base] {
		return true
	}
	return sdk[m]
}

// sdkMetricNames are the metric names the Temporal SDK declares, evaluated
// from its source (internal/common/metrics/constants.go).
func sdkMetricNames(t *testing.T) map[string]bool {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "go.temporal.io/sdk").Output()
	if err != nil {
		t.Fatalf("finding the Temporal SDK's source: %v", err)
	}
	path := filepath.Join(strings.TrimSpace(string(out)), "internal", "common", "metrics", "constants.go")
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	pkg, err := (&types.Config{Importer: importer.Default()}).Check("metrics", fset, []*ast.File{f}, nil)
	if err != nil {
		t.Fatalf("type-checking %s: %v", path, err)
	}
	names := map[string]bool{}
	for _, id := range pkg.Scope().Names() {
		c, ok := pkg.Scope().Lookup(id).(*types.Const)
		if !ok || c.Val().Kind() != constant.String {
			continue
		}
		if v := constant.StringVal(c.Val()); strings.HasPrefix(v, "temporal_") && v != "temporal_" {
			names[v] = true
		}
	}
	if !names["temporal_workflow_task_schedule_to_start_latency"] {
		t.Fatalf("read %d names from %s, not the schedule-to-start latency", len(names), path)
	}
	return names
}
