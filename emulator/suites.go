package emulator

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-github/v62/github"
	"github.com/gorilla/mux"
)

// Check suites of other apps (a CI), in GitHub's REST shapes:
//
//	GET /repos/{o}/{r}/commits/{ref}/check-suites       the suites on a commit, with their app
//	GET /repos/{o}/{r}/check-suites/{id}/check-runs     a suite's check runs, with output
//	GET /repos/{o}/{r}/check-runs/{id}/annotations      (checks.go; also serves these runs)
//
// CompleteSuite stands in for a CI app: it records a suite with its check
// runs on a commit and fires check_suite.completed. specloop's own check
// runs stay in checks.go, in one suite per commit.

type suite struct {
	id         int64
	appID      int64
	headSHA    string
	headBranch string
	conclusion string
	createdAt  time.Time
	runs       []int64
}

type appCheckRun struct {
	id, suiteID        int64
	name, headSHA      string
	conclusion         string
	title, summary     string
	text               string
	annotations        []*github.CheckRunAnnotation
	startedAt, endedAt time.Time
}

// SuiteRun is one check run of a CI suite made by CompleteSuite.
type SuiteRun struct {
	Name        string
	Conclusion  string // success, failure, …
	Title       string
	Summary     string
	Text        string
	Annotations []*github.CheckRunAnnotation
}

// CIApp is the app that owns the suites CompleteSuite makes.
const (
	CIAppID   = 2
	CIAppSlug = "ci"
)

// CompleteSuite records a completed check suite of the CI app on headSHA
// of branch, with runs, and fires check_suite.completed (conclusion
// failure when any run failed, else success). It returns the suite's id.
func (s *Server) CompleteSuite(owner, repoName, branch, headSHA string, runs []SuiteRun) (int64, error) {
	s.mu.Lock()
	rp := s.repoLocked(owner, repoName)
	if rp == nil {
		s.mu.Unlock()
		return 0, fmt.Errorf("emulator: complete suite: no repo %s/%s", owner, repoName)
	}
	ld := rp.loopLocked()
	now := s.now()
	su := &suite{id: s.newID(), appID: CIAppID, headSHA: headSHA, headBranch: branch, conclusion: "success", createdAt: now}
	for _, r := range runs {
		cr := &appCheckRun{id: s.newID(), suiteID: su.id, name: r.Name, headSHA: headSHA, conclusion: r.Conclusion,
			title: r.Title, summary: r.Summary, text: r.Text, annotations: r.Annotations, startedAt: now, endedAt: now}
		ld.appRuns[cr.id] = cr
		su.runs = append(su.runs, cr.id)
		if r.Conclusion == "failure" || r.Conclusion == "timed_out" || r.Conclusion == "cancelled" || r.Conclusion == "action_required" {
			su.conclusion = "failure"
		}
	}
	ld.suites[su.id] = su
	ev := &github.CheckSuiteEvent{
		Action: github.String("completed"), CheckSuite: s.suiteJSON(rp, su), Repo: s.repoJSON(rp),
		Sender: s.userJSON(s.bot), Installation: hookInstallation(s.installationForLocked(rp)),
	}
	ev.Sender.Login = github.String(CIAppSlug + "[bot]")
	s.mu.Unlock()
	s.hooks.send("check_suite", rp.key(), ev)
	return su.id, nil
}

func (s *Server) ciAppJSON() *github.App {
	return &github.App{ID: github.Int64(CIAppID), Slug: github.String(CIAppSlug), Name: github.String("CI"),
		NodeID: github.String(nodeID("App", CIAppID))}
}

// suiteJSON is a suite as GitHub shows it; call with s.mu held.
func (s *Server) suiteJSON(rp *repo, su *suite) *github.CheckSuite {
	api := s.url + "/repos/" + rp.fullName()
	out := &github.CheckSuite{
		ID: github.Int64(su.id), NodeID: github.String(nodeID("CheckSuite", su.id)), HeadBranch: github.String(su.headBranch),
		HeadSHA: github.String(su.headSHA), Status: github.String("completed"), Conclusion: github.String(su.conclusion),
		URL: github.String(fmt.Sprintf("%s/check-suites/%d", api, su.id)), App: s.ciAppJSON(),
		CreatedAt: &github.Timestamp{Time: su.createdAt}, UpdatedAt: &github.Timestamp{Time: su.createdAt},
		Repository: s.repoJSON(rp), PullRequests: []*github.PullRequest{},
	}
	for _, p := range rp.pulls {
		if p.issue.state == "open" && p.headRef == su.headBranch {
			out.PullRequests = append(out.PullRequests, &github.PullRequest{
				ID: github.Int64(p.id), Number: github.Int(p.issue.number), URL: github.String(fmt.Sprintf("%s/pulls/%d", api, p.issue.number)),
				Head: &github.PullRequestBranch{Ref: github.String(p.headRef), SHA: github.String(su.headSHA)},
				Base: &github.PullRequestBranch{Ref: github.String(p.baseRef), SHA: github.String(p.baseSHA)},
			})
		}
	}
	return out
}

func (s *Server) appCheckRunJSON(rp *repo, cr *appCheckRun) *github.CheckRun {
	api := s.url + "/repos/" + rp.fullName()
	return &github.CheckRun{
		ID: github.Int64(cr.id), NodeID: github.String(nodeID("CheckRun", cr.id)), Name: github.String(cr.name),
		HeadSHA: github.String(cr.headSHA), Status: github.String("completed"), Conclusion: github.String(cr.conclusion),
		StartedAt: &github.Timestamp{Time: cr.startedAt}, CompletedAt: &github.Timestamp{Time: cr.endedAt},
		URL:        github.String(fmt.Sprintf("%s/check-runs/%d", api, cr.id)),
		HTMLURL:    github.String(fmt.Sprintf("%s/%s/runs/%d", s.url, rp.fullName(), cr.id)),
		CheckSuite: &github.CheckSuite{ID: github.Int64(cr.suiteID)}, App: s.ciAppJSON(),
		Output: &github.CheckRunOutput{
			Title: github.String(cr.title), Summary: github.String(cr.summary), Text: github.String(cr.text),
			AnnotationsCount: github.Int(len(cr.annotations)),
			AnnotationsURL:   github.String(fmt.Sprintf("%s/check-runs/%d/annotations", api, cr.id)),
		},
		PullRequests: []*github.PullRequest{},
	}
}

func (s *Server) listSuitesForRef(w http.ResponseWriter, r *http.Request) {
	rp, sha, ok := s.commitFromPath(w, r)
	if !ok {
		return
	}
	appFilter, _ := strconv.ParseInt(r.URL.Query().Get("app_id"), 10, 64)
	s.mu.Lock()
	defer s.mu.Unlock()
	var list []*suite
	for _, su := range rp.loopLocked().suites {
		if su.headSHA == sha && (appFilter == 0 || su.appID == appFilter) {
			list = append(list, su)
		}
	}
	slices.SortFunc(list, func(a, b *suite) int { return int(a.id - b.id) })
	out := &github.ListCheckSuiteResults{Total: github.Int(len(list)), CheckSuites: []*github.CheckSuite{}}
	for _, su := range list {
		out.CheckSuites = append(out.CheckSuites, s.suiteJSON(rp, su))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) listSuiteRuns(w http.ResponseWriter, r *http.Request) {
	rp, _, ok := s.repoAccess(w, r, "read")
	if !ok {
		return
	}
	id, _ := strconv.ParseInt(mux.Vars(r)["id"], 10, 64)
	s.mu.Lock()
	defer s.mu.Unlock()
	ld := rp.loopLocked()
	su := ld.suites[id]
	if su == nil {
		writeError(w, http.StatusNotFound, "Not Found")
		return
	}
	filter := r.URL.Query().Get("status")
	out := &github.ListCheckRunsResults{CheckRuns: []*github.CheckRun{}}
	for _, rid := range su.runs {
		if filter != "" && filter != "completed" {
			continue
		}
		out.CheckRuns = append(out.CheckRuns, s.appCheckRunJSON(rp, ld.appRuns[rid]))
	}
	out.Total = github.Int(len(out.CheckRuns))
	writeJSON(w, http.StatusOK, out)
}

// appRunAnnotations answers GET .../check-runs/{id}/annotations for a CI
// app's run; false when id is not one (checks.go answers).
func (s *Server) appRunAnnotations(w http.ResponseWriter, rp *repo, id int64) bool {
	cr := rp.loopLocked().appRuns[id]
	if cr == nil {
		return false
	}
	out := []*github.CheckRunAnnotation{}
	out = append(out, cr.annotations...)
	writeJSON(w, http.StatusOK, out)
	return true
}

// loopRoutes registers the endpoints of reviews.go and suites.go.
func (s *Server) loopRoutes(h func(method, path string, f http.HandlerFunc)) {
	h("GET", "/repos/{owner}/{repo}/commits/{ref}/check-suites", s.listSuitesForRef)
	h("GET", "/repos/{owner}/{repo}/check-suites/{id:[0-9]+}/check-runs", s.listSuiteRuns)
	h("GET", "/repos/{owner}/{repo}/pulls/{number:[0-9]+}/reviews", s.listReviews)
	h("POST", "/repos/{owner}/{repo}/pulls/{number:[0-9]+}/reviews", s.createReview)
	h("GET", "/repos/{owner}/{repo}/pulls/{number:[0-9]+}/comments", s.listReviewComments)
	h("POST", "/repos/{owner}/{repo}/pulls/{number:[0-9]+}/comments", s.createReviewComment)
	h("POST", "/repos/{owner}/{repo}/pulls/{number:[0-9]+}/comments/{id:[0-9]+}/replies", s.replyReviewComment)
	h("GET", "/repos/{owner}/{repo}/check-runs/{id:[0-9]+}/annotations", s.listRunAnnotations)
}

// listRunAnnotations serves annotations of both specloop's check runs and
// the CI app's.
func (s *Server) listRunAnnotations(w http.ResponseWriter, r *http.Request) {
	id, _ := strconv.ParseInt(mux.Vars(r)["id"], 10, 64)
	s.mu.Lock()
	rp := s.repos[strings.ToLower(mux.Vars(r)["owner"]+"/"+mux.Vars(r)["repo"])]
	isApp := rp != nil && rp.loopLocked().appRuns[id] != nil
	s.mu.Unlock()
	if !isApp {
		s.listAnnotations(w, r)
		return
	}
	rp, _, ok := s.repoAccess(w, r, "read")
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.appRunAnnotations(w, rp, id)
}
