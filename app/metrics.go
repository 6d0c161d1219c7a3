package app

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

const (
	requestsName = "specloop_github_requests_total"
	requestsHelp = "GitHub API requests sent, by route (method and OpenAPI path template, or other), " +
		"installation (its id, or app for JWT requests) and code (HTTP status, or error without a response)."
	// appInstallation labels requests authenticated as the app (JWT).
	appInstallation = "app"
	// otherRoute labels requests matching no template in githubRoutes.
	otherRoute = "other"
)

// githubRoutes are the GitHub API operations specloop calls, named as in
// GitHub's OpenAPI description (go-github's //meta:operation comments). With
// "other" they are the only route label values, so a repository name or an
// id never becomes one. "{name...}" spans one or more segments, because refs
// and file paths hold slashes; the label drops the dots.
var githubRoutes = []string{
	"GET /app",
	"GET /apps/{app_slug}",
	"POST /app/installations/{installation_id}/access_tokens",
	"POST /app-manifests/{code}/conversions",
	"GET /repos/{owner}/{repo}",
	"GET /repos/{owner}/{repo}/installation",
	"GET /repos/{owner}/{repo}/contents/{path...}",
	"GET /repos/{owner}/{repo}/collaborators/{username}/permission",
	"GET /repos/{owner}/{repo}/git/ref/{ref...}",
	"POST /repos/{owner}/{repo}/check-runs",
	"PATCH /repos/{owner}/{repo}/check-runs/{check_run_id}",
	"GET /repos/{owner}/{repo}/commits/{ref...}/check-runs",
	"POST /repos/{owner}/{repo}/issues",
	"GET /repos/{owner}/{repo}/issues/{issue_number}",
	"PATCH /repos/{owner}/{repo}/issues/{issue_number}",
	"POST /repos/{owner}/{repo}/issues/{issue_number}/labels",
	"GET /repos/{owner}/{repo}/issues/comments",
	"GET /repos/{owner}/{repo}/issues/{issue_number}/comments",
	"POST /repos/{owner}/{repo}/issues/{issue_number}/comments",
	"POST /repos/{owner}/{repo}/issues/comments/{comment_id}/reactions",
	"GET /repos/{owner}/{repo}/pulls",
	"POST /repos/{owner}/{repo}/pulls",
	"GET /repos/{owner}/{repo}/pulls/{pull_number}",
	"PATCH /repos/{owner}/{repo}/pulls/{pull_number}",
	"POST /graphql",
}

// newRequestCounter makes specloop_github_requests_total and registers it
// with reg, if given.
func newRequestCounter(reg prometheus.Registerer) (*prometheus.CounterVec, error) {
	vec := prometheus.NewCounterVec(prometheus.CounterOpts{Name: requestsName, Help: requestsHelp},
		[]string{"route", "installation", "code"})
	if reg == nil {
		return vec, nil
	}
	if err := reg.Register(vec); err != nil {
		// A second factory on the same registry adds to the first one's series.
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(*prometheus.CounterVec); ok {
				return existing, nil
			}
		}
		return nil, fmt.Errorf("register %s: %w", requestsName, err)
	}
	return vec, nil
}

// Request is one series of specloop_github_requests_total, codes summed.
type Request struct {
	Route        string // e.g. "POST /repos/{owner}/{repo}/check-runs", or "other"
	Installation string // the installation id, or "app"
}

// Requests reads the request counts back as /metrics shows them, summed
// over status codes, for tests and benchmarks. Factories sharing a registry
// share these counts.
func (c *Clients) Requests() map[Request]int {
	ch := make(chan prometheus.Metric)
	go func() {
		c.requests.Collect(ch)
		close(ch)
	}()
	out := map[Request]int{}
	for m := range ch {
		var d dto.Metric
		if err := m.Write(&d); err != nil {
			continue
		}
		var k Request
		for _, l := range d.GetLabel() {
			switch l.GetName() {
			case "route":
				k.Route = l.GetValue()
			case "installation":
				k.Installation = l.GetValue()
			}
		}
		out[k] += int(d.GetCounter().GetValue())
	}
	return out
}

// countingTransport counts every request it sends, as whoever it is given
// to authenticates it: installation is fixed per transport.
type countingTransport struct {
	next         http.RoundTripper
	routes       *routeTable
	installation string
	requests     *prometheus.CounterVec
}

func (t *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	route := t.routes.route(req)
	resp, err := t.next.RoundTrip(req)
	code := "error"
	if err == nil {
		code = strconv.Itoa(resp.StatusCode)
	}
	t.requests.WithLabelValues(route, t.installation, code).Inc()
	return resp, err
}

// routeTable names requests to one GitHub API by their route template.
type routeTable struct {
	host    string
	prefix  string // the API's base path, e.g. "/" or "/api/v3/" (Enterprise)
	graphql string // Enterprise's GraphQL path beside the REST API, if any
	root    routeNode
}

// routeNode is a trie over the method and the path's segments.
type routeNode struct {
	route string // the label, where a template ends
	lit   map[string]*routeNode
	one   *routeNode // {name}
	many  *routeNode // {name...}
}

func newRouteTable(base *url.URL, templates []string) *routeTable {
	rt := &routeTable{host: base.Host, prefix: base.Path}
	if !strings.HasSuffix(rt.prefix, "/") {
		rt.prefix += "/"
	}
	// Enterprise serves REST at /api/v3/ and GraphQL at /api/graphql.
	if parent, ok := strings.CutSuffix(rt.prefix, "/v3/"); ok {
		rt.graphql = parent + "/graphql"
	}
	for _, t := range templates {
		method, path, _ := strings.Cut(t, " ")
		rt.root.add(append([]string{method}, strings.Split(strings.TrimPrefix(path, "/"), "/")...),
			strings.ReplaceAll(t, "...}", "}"))
	}
	return rt
}

func (n *routeNode) add(segs []string, route string) {
	for _, s := range segs {
		var next **routeNode
		switch {
		case strings.HasPrefix(s, "{") && strings.HasSuffix(s, "...}"):
			next = &n.many
		case strings.HasPrefix(s, "{"):
			next = &n.one
		default:
			if n.lit == nil {
				n.lit = map[string]*routeNode{}
			}
			if n.lit[s] == nil {
				n.lit[s] = &routeNode{}
			}
			n = n.lit[s]
			continue
		}
		if *next == nil {
			*next = &routeNode{}
		}
		n = *next
	}
	n.route = route
}

// route is req's label: its template, or "other" for anything else,
// including other hosts (redirects) and paths outside the API's base.
func (rt *routeTable) route(req *http.Request) string {
	if !strings.EqualFold(req.URL.Host, rt.host) {
		return otherRoute
	}
	p := req.URL.EscapedPath()
	if rest, ok := strings.CutPrefix(p, rt.prefix); ok {
		p = rest
	} else if rt.graphql != "" && p == rt.graphql {
		p = "graphql"
	} else {
		return otherRoute
	}
	if r := rt.root.match(append([]string{req.Method}, strings.Split(p, "/")...)); r != "" {
		return r
	}
	return otherRoute
}

// match tries literal segments before parameters, so that
// /issues/comments is not taken for /issues/{issue_number}. Parameters
// match non-empty segments only.
func (n *routeNode) match(segs []string) string {
	if len(segs) == 0 {
		return n.route
	}
	if c := n.lit[segs[0]]; c != nil {
		if r := c.match(segs[1:]); r != "" {
			return r
		}
	}
	if n.one != nil && segs[0] != "" {
		if r := n.one.match(segs[1:]); r != "" {
			return r
		}
	}
	if n.many != nil {
		for i := 1; i <= len(segs) && segs[i-1] != ""; i++ {
			if r := n.many.match(segs[i:]); r != "" {
				return r
			}
		}
	}
	return ""
}
