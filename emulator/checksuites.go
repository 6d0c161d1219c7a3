package emulator

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/google/go-github/v62/github"
	"github.com/gorilla/mux"
)

// rerequestCheckSuite plays "Re-run all checks": it fires check_suite
// rerequested for the suite's head commit, as GitHub does for the app
// that owns the suite.
func (s *Server) rerequestCheckSuite(w http.ResponseWriter, r *http.Request) {
	rp, c, ok := s.repoAccess(w, r, "write")
	if !ok {
		return
	}
	id, _ := strconv.ParseInt(mux.Vars(r)["id"], 10, 64)
	s.mu.Lock()
	for h, sid := range rp.suites {
		if sid == id {
			s.mu.Unlock()
			head, err := readCommit(rp, h)
			if err != nil {
				writeError(w, http.StatusInternalServerError, "git: "+err.Error())
				return
			}
			s.mu.Lock()
			s.headCommits[h] = head
		}
	}
	var sha string
	for h, sid := range rp.suites {
		if sid == id {
			sha = h
		}
	}
	if sha == "" {
		s.mu.Unlock()
		writeError(w, http.StatusNotFound, "Not Found")
		return
	}
	ev, err := s.checkSuiteEvent(rp, id, sha, "rerequested", c.user)
	s.mu.Unlock()
	if err != nil {
		writeError(w, http.StatusInternalServerError, "emulator: "+err.Error())
		return
	}
	s.hooks.send("check_suite", rp.key(), ev)
	writeJSON(w, http.StatusCreated, struct{}{})
}

// checkSuiteEvent builds a check_suite payload: the suite as webhooks
// carry it (with its head commit, without its repository); call with s.mu
// held, after the head commit was read into s.headCommits.
func (s *Server) checkSuiteEvent(rp *repo, id int64, sha, action string, sender *user) (map[string]any, error) {
	suite := s.checkSuiteJSON(rp, id, sha)
	m, err := toMap(suite)
	if err != nil {
		return nil, err
	}
	n := 0
	for _, cr := range rp.checkRuns {
		if cr.suiteID == id {
			n++
		}
	}
	m["latest_check_runs_count"] = n
	m["check_runs_url"] = fmt.Sprintf("%s/repos/%s/check-suites/%d/check-runs", s.url, rp.fullName(), id)
	m["head_commit"] = nil
	if c := s.headCommits[sha]; c != nil {
		m["head_commit"] = map[string]any{
			"id": c.sha, "tree_id": c.tree, "message": c.message, "timestamp": c.committerDate.UTC().Format(time.RFC3339),
			"author":    map[string]any{"name": c.authorName, "email": c.authorEmail},
			"committer": map[string]any{"name": c.committerName, "email": c.committerEmail},
		}
	}
	return map[string]any{
		"action": action, "check_suite": m, "repository": s.repoJSON(rp), "sender": s.userJSON(sender),
		"installation": hookInstallation(s.installationForLocked(rp)),
	}, nil
}

// checkSuiteJSON describes a suite from its runs; call with s.mu held.
func (s *Server) checkSuiteJSON(rp *repo, id int64, sha string) *github.CheckSuite {
	status, conclusion := "completed", ""
	var latest *checkRun
	var created, updated time.Time
	rank := map[string]int{"": 0, "success": 1, "skipped": 1, "neutral": 1, "stale": 2, "cancelled": 3, "timed_out": 4, "action_required": 5, "failure": 6}
	for _, cr := range rp.checkRuns {
		if cr.suiteID != id {
			continue
		}
		if latest == nil || cr.id > latest.id {
			latest = cr
		}
		if created.IsZero() || cr.startedAt.Before(created) {
			created = cr.startedAt
		}
		for _, t := range []time.Time{cr.startedAt, cr.completedAt} {
			if t.After(updated) {
				updated = t
			}
		}
		if cr.status != "completed" {
			status = "in_progress"
		}
		if rank[cr.conclusion] > rank[conclusion] {
			conclusion = cr.conclusion
		}
	}
	api := s.url + "/repos/" + rp.fullName()
	out := &github.CheckSuite{
		ID: github.Int64(id), NodeID: github.String(nodeID("CheckSuite", id)), HeadSHA: github.String(sha),
		Status: github.String(status), URL: github.String(api + "/check-suites/" + strconv.FormatInt(id, 10)),
		App: s.appJSON(), PullRequests: []*github.PullRequest{},
		BeforeSHA: github.String(zeroSHA), AfterSHA: github.String(sha),
		CreatedAt: &github.Timestamp{Time: created}, UpdatedAt: &github.Timestamp{Time: updated},
	}
	if status == "completed" && conclusion != "" {
		out.Conclusion = github.String(conclusion)
	}
	for _, p := range rp.pulls {
		if p.issue.state == "open" && p.headSHA == sha {
			out.HeadBranch = github.String(p.headRef)
			out.PullRequests = append(out.PullRequests, s.checkPullJSON(rp, p))
		}
	}
	return out
}
