package node

import (
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"sigs.k8s.io/yaml"

	"github.com/shoal-dev/shoal/oci/upstream/upstreamtest"
)

// The Grafana dashboard and the alert rules in deploy/grafana are
// checked here, against the /metrics of a node that has done the work
// that makes every labelled series appear: a query naming a metric the
// node does not export would draw nothing, and an alert on it would
// never fire.

const (
	dashboardPath = "../deploy/grafana/shoal.json"
	alertsPath    = "../deploy/grafana/alerts.yaml"
)

// grafanaDashboard is what Grafana needs of a dashboard to import it,
// and what each panel needs to query.
type grafanaDashboard struct {
	UID           string `json:"uid"`
	Title         string `json:"title"`
	SchemaVersion int    `json:"schemaVersion"`
	Templating    struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
	Panels []grafanaPanel `json:"panels"`
}

type grafanaPanel struct {
	ID         int                       `json:"id"`
	Type       string                    `json:"type"`
	Title      string                    `json:"title"`
	Datasource *grafanaDatasource        `json:"datasource"`
	GridPos    *struct{ H, W, X, Y int } `json:"gridPos"`
	Targets    []struct {
		RefID      string             `json:"refId"`
		Expr       string             `json:"expr"`
		Datasource *grafanaDatasource `json:"datasource"`
	} `json:"targets"`
	Panels []grafanaPanel `json:"panels"` // a collapsed row's
}

type grafanaDatasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// prometheusRules is a Prometheus rules file.
type prometheusRules struct {
	Groups []struct {
		Name  string `json:"name"`
		Rules []struct {
			Alert         string            `json:"alert"`
			Record        string            `json:"record"`
			Expr          string            `json:"expr"`
			For           string            `json:"for"`
			KeepFiringFor string            `json:"keep_firing_for"`
			Labels        map[string]string `json:"labels"`
			Annotations   map[string]string `json:"annotations"`
		} `json:"rules"`
	} `json:"groups"`
}

// dashboardQueries reads the dashboard, checks what Grafana needs of
// it, and returns every query, by where it is.
func dashboardQueries(t *testing.T) map[string]string {
	t.Helper()
	raw, err := os.ReadFile(dashboardPath)
	if err != nil {
		t.Fatal(err)
	}
	var d grafanaDashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("%s is not JSON of a dashboard: %v", dashboardPath, err)
	}
	if d.UID == "" || d.Title == "" || d.SchemaVersion < 36 {
		t.Fatalf("dashboard uid %q, title %q, schemaVersion %d: want a uid, a title and a schemaVersion of Grafana 9 or later (36+)", d.UID, d.Title, d.SchemaVersion)
	}
	vars := map[string]bool{}
	for _, v := range d.Templating.List {
		vars[v.Name] = true
	}
	if !vars["datasource"] || !vars["instance"] {
		t.Fatalf("dashboard variables %v, want datasource and instance", vars)
	}
	queries := map[string]string{}
	ids := map[int]bool{}
	var walk func(ps []grafanaPanel)
	walk = func(ps []grafanaPanel) {
		for _, p := range ps {
			where := fmt.Sprintf("panel %d %q", p.ID, p.Title)
			if ids[p.ID] || p.ID == 0 {
				t.Errorf("%s: panel ids must be unique and non-zero", where)
			}
			ids[p.ID] = true
			if p.GridPos == nil || p.GridPos.W <= 0 || p.GridPos.H <= 0 || p.GridPos.X+p.GridPos.W > 24 {
				t.Errorf("%s: gridPos %+v is not within Grafana's 24 columns", where, p.GridPos)
			}
			if p.Type == "row" {
				walk(p.Panels)
				continue
			}
			if p.Type == "" || p.Title == "" || len(p.Targets) == 0 {
				t.Errorf("%s: a panel needs a type, a title and targets", where)
			}
			if p.Datasource == nil || p.Datasource.Type != "prometheus" || p.Datasource.UID != "${datasource}" {
				t.Errorf("%s: datasource %+v, want the prometheus ${datasource}", where, p.Datasource)
			}
			for _, tg := range p.Targets {
				if tg.Expr == "" || tg.RefID == "" || tg.Datasource == nil || tg.Datasource.UID != "${datasource}" {
					t.Errorf("%s target %q: needs an expr, a refId and the ${datasource}", where, tg.RefID)
				}
				queries[where+" target "+tg.RefID] = tg.Expr
			}
		}
	}
	walk(d.Panels)
	if len(queries) == 0 {
		t.Fatal("the dashboard has no queries")
	}
	return queries
}

// alertQueries reads the alert rules and returns their expressions.
func alertQueries(t *testing.T) map[string]string {
	t.Helper()
	raw, err := os.ReadFile(alertsPath)
	if err != nil {
		t.Fatal(err)
	}
	var rules prometheusRules
	if err := yaml.UnmarshalStrict(raw, &rules, yaml.DisallowUnknownFields); err != nil {
		t.Fatalf("%s is not a Prometheus rules file: %v", alertsPath, err)
	}
	queries := map[string]string{}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" || r.Expr == "" {
				t.Errorf("%s group %s: a rule without an alert name or expr", alertsPath, g.Name)
			}
			queries["alert "+r.Alert] = r.Expr
		}
	}
	if len(queries) == 0 {
		t.Fatal("no alert rules")
	}
	return queries
}

// TestDashboardMetricsExported checks every metric the dashboard and the
// alert rules name against what a busy node's /metrics exports.
func TestDashboardMetricsExported(t *testing.T) {
	queries := dashboardQueries(t)
	for where, q := range alertQueries(t) {
		queries[where] = q
	}
	exported := busyNodeMetrics(t)
	var missing []string
	used := map[string]bool{}
	for where, q := range queries {
		names, err := promqlMetricNames(q)
		if err != nil {
			t.Errorf("%s: %v: %s", where, err, q)
			continue
		}
		if len(names) == 0 {
			t.Errorf("%s names no metric: %s", where, q)
		}
		for _, n := range names {
			used[n] = true
			if !exported[n] {
				missing = append(missing, fmt.Sprintf("%s (in %s)", n, where))
			}
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("metrics the node does not export:\n%s", strings.Join(missing, "\n"))
	}
	// The contract's series are on the dashboard.
	for _, n := range []string{"shoal_fetched_bytes_total", "shoal_served_bytes_total", "shoal_peers", "shoal_cache_bytes", "shoal_cache_limit_bytes",
		"shoal_upstream_errors_total", "shoal_policy_expiry_timestamp_seconds", "shoal_scans_total"} {
		if !used[n] {
			t.Errorf("nothing on the dashboard or in the alerts uses %s", n)
		}
	}
}

// busyNodeMetrics starts a node with an upstream and a policy, pulls an
// image through it, pushes and scans one, and returns the names of the
// series its /metrics exports (a histogram's as _bucket, _sum, _count).
func busyNodeMetrics(t *testing.T) map[string]bool {
	t.Helper()
	up := httptest.NewServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(up.Close)
	kit := newPolicyKit(t)
	n, err := New(Config{
		DataDir: filepath.Join(t.TempDir(), "data"), Upstreams: upstreamtest.Rules(t, "docker.io="+up.URL),
		PolicyRoots: rootKeys(t, kit.rootPEM), CacheMaxBytes: 1 << 30,
	}, "test")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(n.Handler())
	t.Cleanup(func() {
		srv.Close()
		n.Close()
	})
	tn := &scanTestNode{n: n, url: srv.URL, host: strings.TrimPrefix(srv.URL, "http://"), kit: kit}
	tn.applyPolicy(t, 1, nil)

	// A pull through the mirror: manifest and blobs from upstream.
	upRef, err := name.ParseReference(strings.TrimPrefix(up.URL, "http://")+"/library/app:1", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(upRef, alpineImage(t, "1.30.1-r1")); err != nil {
		t.Fatal(err)
	}
	pullImage(t, srv, "docker.io/library/app:1")
	// A push and a scan, with a database.
	tn.push(t, "team/app:1", alpineImage(t, "1.30.1-r1"))
	tn.importDB(t, filepath.Join("testdata", "vulndata", "alpine-secdb"))
	tn.scan(t, "team/app:1")

	resp := tn.do(t, http.MethodGet, "/metrics", nil)
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("/metrics: %v", err)
	}
	names := map[string]bool{}
	for name, f := range families {
		switch f.GetType() {
		case dto.MetricType_HISTOGRAM:
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				names[name+s] = true
			}
		case dto.MetricType_SUMMARY:
			for _, s := range []string{"", "_sum", "_count"} {
				names[name+s] = true
			}
		default:
			names[name] = true
		}
	}
	// The work above made the labelled series appear.
	for _, f := range []string{"shoal_http_requests_total", "shoal_http_request_duration_seconds", "shoal_vulndb_age_seconds"} {
		if families[f] == nil || len(families[f].GetMetric()) == 0 {
			t.Fatalf("/metrics has no %s series after pulls, a push and a scan", f)
		}
	}
	return names
}

// promqlKeywords are PromQL's words that are no metric name; the
// grouping ones are followed by a list of label names in parentheses.
var (
	promqlKeywords = []string{"and", "or", "unless", "bool", "offset", "inf", "nan", "atan2"}
	promqlGrouping = []string{"by", "without", "on", "ignoring", "group_left", "group_right"}
)

// promqlMetricNames returns the metric names a PromQL expression (with
// Grafana's $variables in it) selects: the identifiers that are not
// functions or aggregations (followed by "("), keywords, label names in
// a grouping list, or inside a {…} matcher, a […] range, a string or a
// $variable. The Prometheus parser would do it exactly, but its module
// brings hundreds of others into go.sum; this covers the language the
// dashboard uses, and TestPromQLMetricNames holds it to its cases. A
// selector by {__name__=…} is refused rather than read wrong.
func promqlMetricNames(expr string) ([]string, error) {
	var names []string
	isIdentStart := func(c byte) bool { return c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
	isIdent := func(c byte) bool { return isIdentStart(c) || c >= '0' && c <= '9' }
	// skipTo returns the index after the close that ends what opens at i,
	// stepping over strings.
	skipTo := func(i int, close byte) (int, error) {
		open := expr[i]
		for j := i + 1; j < len(expr); j++ {
			switch c := expr[j]; c {
			case '"', '\'', '`':
				end, err := skipString(expr, j)
				if err != nil {
					return 0, err
				}
				j = end - 1
			case close:
				return j + 1, nil
			}
		}
		return 0, fmt.Errorf("%c at %d is not closed", open, i)
	}
	nextNonSpace := func(i int) int {
		for i < len(expr) && strings.ContainsRune(" \t\r\n", rune(expr[i])) {
			i++
		}
		return i
	}
	for i := 0; i < len(expr); {
		c := expr[i]
		switch {
		case c == '"' || c == '\'' || c == '`':
			end, err := skipString(expr, i)
			if err != nil {
				return nil, err
			}
			i = end
		case c == '{':
			end, err := skipTo(i, '}')
			if err != nil {
				return nil, err
			}
			if strings.Contains(expr[i:end], "__name__") {
				return nil, fmt.Errorf("a selector by __name__ at %d: name the metric", i)
			}
			i = end
		case c == '[':
			end, err := skipTo(i, ']')
			if err != nil {
				return nil, err
			}
			i = end
		case c == '#':
			for i < len(expr) && expr[i] != '\n' {
				i++
			}
		case c == '$':
			// A Grafana variable: $name or ${name}.
			i++
			if i < len(expr) && expr[i] == '{' {
				end, err := skipTo(i, '}')
				if err != nil {
					return nil, err
				}
				i = end
				continue
			}
			for i < len(expr) && isIdent(expr[i]) {
				i++
			}
		case c >= '0' && c <= '9' || c == '.':
			// A number or a duration (5m, 1e3, 0x1f).
			for i < len(expr) && (isIdent(expr[i]) || expr[i] == '.') {
				i++
			}
		case isIdentStart(c):
			start := i
			for i < len(expr) && isIdent(expr[i]) {
				i++
			}
			word := expr[start:i]
			next := nextNonSpace(i)
			switch {
			case slices.Contains(promqlGrouping, strings.ToLower(word)):
				if next < len(expr) && expr[next] == '(' {
					end, err := skipTo(next, ')')
					if err != nil {
						return nil, err
					}
					i = end
				}
			case slices.Contains(promqlKeywords, strings.ToLower(word)):
			case next < len(expr) && expr[next] == '(':
				// a function or an aggregation
			case followedBy(expr[next:], "by", "without"):
				// an aggregation with its grouping first: sum by (x) (…)
			default:
				if !slices.Contains(names, word) {
					names = append(names, word)
				}
			}
		default:
			i++
		}
	}
	return names, nil
}

// followedBy says whether s starts with one of words, as a whole word.
func followedBy(s string, words ...string) bool {
	for _, w := range words {
		if len(s) > len(w) && strings.EqualFold(s[:len(w)], w) && strings.ContainsRune(" \t\r\n(", rune(s[len(w)])) {
			return true
		}
	}
	return false
}

// skipString returns the index after the string literal that opens at i.
func skipString(s string, i int) (int, error) {
	q := s[i]
	for j := i + 1; j < len(s); j++ {
		switch {
		case s[j] == '\\' && q != '`':
			j++
		case s[j] == q:
			return j + 1, nil
		}
	}
	return 0, fmt.Errorf("string at %d is not closed", i)
}

func TestPromQLMetricNames(t *testing.T) {
	for _, tt := range []struct {
		expr string
		want []string
		err  string
	}{
		{expr: `shoal_peers`, want: []string{"shoal_peers"}},
		{expr: `shoal_peers{instance=~"$instance"} == 0`, want: []string{"shoal_peers"}},
		{expr: `sum by (le, route) (rate(shoal_http_request_duration_seconds_bucket{instance=~"$instance"}[$__rate_interval]))`,
			want: []string{"shoal_http_request_duration_seconds_bucket"}},
		{expr: `sum(rate(a_total{x="}]) by (y"}[5m])) without (instance) / on (job) group_left(team) b offset 1h`, want: []string{"a_total", "b"}},
		{expr: `(shoal_policy_expiry_timestamp_seconds > 0) - time() < 24 * 3600`, want: []string{"shoal_policy_expiry_timestamp_seconds"}},
		{expr: `up and on() vector(1) or nan > bool inf`, want: []string{"up"}},
		{expr: `count_values("severity", x{a='it\'s'}) unless y:recorded:rate5m`, want: []string{"x", "y:recorded:rate5m"}},
		{expr: `histogram_quantile(0.99, sum by (le) (rate(h_bucket[${__rate_interval}])))`, want: []string{"h_bucket"}},
		{expr: `1 + 2e3 - 0x1f`, want: nil},
		{expr: `sum without(instance)(by_total) / byte_count`, want: []string{"by_total", "byte_count"}},
		{expr: `{__name__="shoal_peers"}`, err: "__name__"},
		{expr: `shoal_peers{instance="x}`, err: "not closed"},
		{expr: `rate(x[5m)`, err: "not closed"},
	} {
		got, err := promqlMetricNames(tt.expr)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s: err %v, want %q", tt.expr, err, tt.err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("%s: %q, %v; want %q", tt.expr, got, err, tt.want)
		}
	}
}
