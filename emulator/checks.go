package emulator

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/go-github/v62/github"
)

// GitHub's limits on check runs.
const (
	maxOutputChars        = 65535 // summary and text, each
	maxAnnotationsPerCall = 50
	maxActions            = 3
)

var (
	checkStatuses    = []string{"queued", "in_progress", "completed"}
	checkConclusions = []string{"action_required", "cancelled", "failure", "neutral", "success", "skipped", "stale", "timed_out"}
	annotationLevels = []string{"notice", "warning", "failure"}
)

type checkRun struct {
	id, suiteID            int64
	name, headSHA          string
	status, conclusion     string
	externalID, detailsURL string
	startedAt, completedAt time.Time
	title, summary, text   string
	annotations            []github.CheckRunAnnotation
	actions                []github.CheckRunAction
}

// checkRunRequest covers both POST and PATCH bodies; pointers tell
// "absent" from "empty" so an update touches only what it names.
type checkRunRequest struct {
	Name        *string                  `json:"name"`
	HeadSHA     *string                  `json:"head_sha"`
	DetailsURL  *string                  `json:"details_url"`
	ExternalID  *string                  `json:"external_id"`
	Status      *string                  `json:"status"`
	Conclusion  *string                  `json:"conclusion"`
	StartedAt   *github.Timestamp        `json:"started_at"`
	CompletedAt *github.Timestamp        `json:"completed_at"`
	Output      *github.CheckRunOutput   `json:"output"`
	Actions     *[]github.CheckRunAction `json:"actions"`
}

// invalid is GitHub's 422 for a body that breaks the endpoint's schema.
func invalid(w http.ResponseWriter, detail string) {
	writeError(w, http.StatusUnprocessableEntity, "Invalid request.\n\n"+detail)
}

// validate checks a request against GitHub's schema and limits; it returns
// the detail for a 422, or "".
func (req *checkRunRequest) validate(creating bool, current *checkRun) string {
	if creating && (req.Name == nil || *req.Name == "") {
		return `"name" wasn't supplied.`
	}
	if creating && (req.HeadSHA == nil || *req.HeadSHA == "") {
		return `"head_sha" wasn't supplied.`
	}
	if req.Status != nil && !slices.Contains(checkStatuses, *req.Status) {
		return fmt.Sprintf("For 'properties/status', %q is not a member of enum.", *req.Status)
	}
	if req.Conclusion != nil && !slices.Contains(checkConclusions, *req.Conclusion) {
		return fmt.Sprintf("For 'properties/conclusion', %q is not a member of enum.", *req.Conclusion)
	}
	if req.Status != nil && *req.Status == "completed" && req.Conclusion == nil && (current == nil || current.conclusion == "") {
		return `"conclusion" wasn't supplied; it is required when "status" is "completed".`
	}
	if o := req.Output; o != nil {
		if o.GetTitle() == "" {
			return `"title" wasn't supplied.`
		}
		if o.Summary == nil {
			return `"summary" wasn't supplied.`
		}
		for field, v := range map[string]string{"summary": o.GetSummary(), "text": o.GetText()} {
			if n := utf8.RuneCountInString(v); n > maxOutputChars {
				return fmt.Sprintf("Only %d characters are allowed in output.%s; %d were supplied.", maxOutputChars, field, n)
			}
		}
		if len(o.Annotations) > maxAnnotationsPerCall {
			return fmt.Sprintf("For 'properties/annotations', %d items is more than the maximum of %d.", len(o.Annotations), maxAnnotationsPerCall)
		}
		for i, a := range o.Annotations {
			if a == nil || a.GetPath() == "" || a.StartLine == nil || a.EndLine == nil || a.GetMessage() == "" {
				return fmt.Sprintf("annotations[%d] needs path, start_line, end_line, annotation_level and message.", i)
			}
			if !slices.Contains(annotationLevels, a.GetAnnotationLevel()) {
				return fmt.Sprintf("For 'items', %q is not a member of enum annotation_level.", a.GetAnnotationLevel())
			}
		}
	}
	if req.Actions != nil {
		if len(*req.Actions) > maxActions {
			return fmt.Sprintf("For 'properties/actions', %d items is more than the maximum of %d.", len(*req.Actions), maxActions)
		}
		for _, a := range *req.Actions {
			if a.Label == "" || utf8.RuneCountInString(a.Label) > 20 || a.Identifier == "" || utf8.RuneCountInString(a.Identifier) > 20 || utf8.RuneCountInString(a.Description) > 40 {
				return "Each action needs a label and identifier of at most 20 characters and a description of at most 40."
			}
		}
	}
	return ""
}

// apply writes a validated request into a check run.
func (req *checkRunRequest) apply(cr *checkRun, now time.Time) {
	if req.Name != nil && *req.Name != "" {
		cr.name = *req.Name
	}
	if req.DetailsURL != nil {
		cr.detailsURL = *req.DetailsURL
	}
	if req.ExternalID != nil {
		cr.externalID = *req.ExternalID
	}
	if req.StartedAt != nil {
		cr.startedAt = req.StartedAt.Time
	}
	if req.Status != nil {
		cr.status = *req.Status
	}
	// A conclusion completes the run, as GitHub documents.
	if req.Conclusion != nil {
		cr.conclusion = *req.Conclusion
		cr.status = "completed"
	}
	if cr.status == "completed" && cr.completedAt.IsZero() {
		cr.completedAt = now
	}
	if req.CompletedAt != nil {
		cr.completedAt = req.CompletedAt.Time
	}
	if o := req.Output; o != nil {
		cr.title, cr.summary = o.GetTitle(), o.GetSummary()
		if o.Text != nil {
			cr.text = *o.Text
		}
		// Annotations add up across updates; GitHub never replaces them.
		for _, a := range o.Annotations {
			cr.annotations = append(cr.annotations, *a)
		}
	}
	if req.Actions != nil {
		cr.actions = slices.Clone(*req.Actions)
	}
}

func (s *Server) checkRunJSON(rp *repo, cr *checkRun) *github.CheckRun {
	api := s.url + "/repos/" + rp.fullName()
	out := &github.CheckRun{
		ID:         github.Int64(cr.id),
		NodeID:     github.String(nodeID("CheckRun", cr.id)),
		Name:       github.String(cr.name),
		HeadSHA:    github.String(cr.headSHA),
		Status:     github.String(cr.status),
		ExternalID: github.String(cr.externalID),
		DetailsURL: github.String(cr.detailsURL),
		URL:        github.String(fmt.Sprintf("%s/check-runs/%d", api, cr.id)),
		HTMLURL:    github.String(fmt.Sprintf("%s/%s/runs/%d", s.url, rp.fullName(), cr.id)),
		StartedAt:  &github.Timestamp{Time: cr.startedAt},
		CheckSuite: s.checkSuiteJSON(rp, cr.suiteID, cr.headSHA),
		App:        s.appJSON(),
		Output: &github.CheckRunOutput{
			Title:            github.String(cr.title),
			Summary:          github.String(cr.summary),
			Text:             github.String(cr.text),
			AnnotationsCount: github.Int(len(cr.annotations)),
			AnnotationsURL:   github.String(fmt.Sprintf("%s/check-runs/%d/annotations", api, cr.id)),
		},
		PullRequests: []*github.PullRequest{},
	}
	if cr.conclusion != "" {
		out.Conclusion = github.String(cr.conclusion)
	}
	if !cr.completedAt.IsZero() {
		out.CompletedAt = &github.Timestamp{Time: cr.completedAt}
	}
	for _, p := range rp.pulls {
		if p.issue.state == "open" && p.headSHA == cr.headSHA {
			out.PullRequests = append(out.PullRequests, s.checkPullJSON(rp, p))
		}
	}
	return out
}

func optInt(p *int) any {
	if p == nil {
		return nil
	}
	return *p
}

func optString(p *string) any {
	if p == nil {
		return nil
	}
	return *p
}

// checkPullJSON is the short form of a PR that check runs and suites list.
func (s *Server) checkPullJSON(rp *repo, p *pull) *github.PullRequest {
	api := s.url + "/repos/" + rp.fullName()
	short := &github.Repository{ID: github.Int64(rp.id), URL: github.String(api), Name: github.String(rp.name)}
	return &github.PullRequest{
		ID: github.Int64(p.id), Number: github.Int(p.issue.number),
		URL:  github.String(fmt.Sprintf("%s/pulls/%d", api, p.issue.number)),
		Head: &github.PullRequestBranch{Ref: github.String(p.headRef), SHA: github.String(p.headSHA), Repo: short},
		Base: &github.PullRequestBranch{Ref: github.String(p.baseRef), SHA: github.String(p.baseSHA), Repo: short},
	}
}

// checkRunEvent builds a "check_run" payload; call with s.mu held.
func (s *Server) checkRunEvent(rp *repo, cr *checkRun, action string, sender *user) *github.CheckRunEvent {
	return &github.CheckRunEvent{
		Action: github.String(action), CheckRun: s.checkRunJSON(rp, cr), Repo: s.repoJSON(rp),
		Sender: s.userJSON(sender), Installation: hookInstallation(s.installationForLocked(rp)),
	}
}

// appOnly answers 403 as GitHub does when a person's token tries to write
// check runs, which only GitHub Apps may do.
func appOnly(w http.ResponseWriter, c *caller) bool {
	if !c.isApp() {
		writeError(w, http.StatusForbidden, "You must authenticate via a GitHub App.")
		return false
	}
	return true
}

func (s *Server) createCheckRun(w http.ResponseWriter, r *http.Request) {
	rp, c, ok := s.repoAccess(w, r, "read")
	if !ok || !appOnly(w, c) {
		return
	}
	var req checkRunRequest
	if !decodeBody(w, r, &req) {
		return
	}
	if msg := req.validate(true, nil); msg != "" {
		invalid(w, msg)
		return
	}
	sha, ok := resolveCommit(rp, *req.HeadSHA)
	if !ok || !strings.HasPrefix(sha, strings.ToLower(*req.HeadSHA)) {
		validationFailed(w, fieldError{Resource: "CheckRun", Field: "head_sha", Code: "invalid", Message: "No commit found for SHA: " + *req.HeadSHA})
		return
	}
	s.mu.Lock()
	now := s.now()
	cr := &checkRun{id: s.newID(), headSHA: sha, status: "queued", startedAt: now}
	if cr.suiteID = rp.suites[sha]; cr.suiteID == 0 {
		cr.suiteID = s.newID()
		rp.suites[sha] = cr.suiteID
	}
	req.apply(cr, now)
	rp.checkRuns[cr.id] = cr
	out := s.checkRunJSON(rp, cr)
	events := []any{s.checkRunEvent(rp, cr, "created", c.user)}
	if cr.status == "completed" {
		events = append(events, s.checkRunEvent(rp, cr, "completed", c.user))
	}
	s.mu.Unlock()
	for _, ev := range events {
		s.hooks.send("check_run", rp.key(), ev)
	}
	writeJSON(w, http.StatusCreated, out)
}

func checkRunFromPath(w http.ResponseWriter, r *http.Request, rp *repo) (*checkRun, bool) {
	return fromPath(w, r, "id", rp.checkRuns)
}

func (s *Server) updateCheckRun(w http.ResponseWriter, r *http.Request) {
	rp, c, ok := s.repoAccess(w, r, "read")
	if !ok || !appOnly(w, c) {
		return
	}
	var req checkRunRequest
	if !decodeBody(w, r, &req) {
		return
	}
	s.mu.Lock()
	cr, ok := checkRunFromPath(w, r, rp)
	if !ok {
		s.mu.Unlock()
		return
	}
	if msg := req.validate(false, cr); msg != "" {
		s.mu.Unlock()
		invalid(w, msg)
		return
	}
	wasCompleted := cr.status == "completed"
	req.apply(cr, s.now())
	out := s.checkRunJSON(rp, cr)
	var ev any
	if !wasCompleted && cr.status == "completed" {
		ev = s.checkRunEvent(rp, cr, "completed", c.user)
	}
	s.mu.Unlock()
	if ev != nil {
		s.hooks.send("check_run", rp.key(), ev)
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) listAnnotations(w http.ResponseWriter, r *http.Request) {
	listOf(s, w, r, checkRunFromPath, func(rp *repo, cr *checkRun) []map[string]any {
		// GitHub sends every key, null where unset, and a blob_href.
		out := []map[string]any{}
		for _, a := range cr.annotations {
			out = append(out, map[string]any{
				"path": a.GetPath(), "start_line": a.GetStartLine(), "end_line": a.GetEndLine(),
				"start_column": optInt(a.StartColumn), "end_column": optInt(a.EndColumn),
				"annotation_level": a.GetAnnotationLevel(), "message": a.GetMessage(),
				"title": optString(a.Title), "raw_details": optString(a.RawDetails),
				"blob_href": fmt.Sprintf("%s/%s/blob/%s/%s", s.url, rp.fullName(), cr.headSHA, a.GetPath()),
			})
		}
		return out
	})
}

func (s *Server) listCheckRunsForRef(w http.ResponseWriter, r *http.Request) {
	rp, sha, ok := s.commitFromPath(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	name, status, filter := q.Get("check_name"), q.Get("status"), q.Get("filter")
	s.mu.Lock()
	defer s.mu.Unlock()
	var list []*checkRun
	for _, cr := range rp.checkRuns {
		if cr.headSHA == sha && (name == "" || cr.name == name) && (status == "" || cr.status == status) {
			list = append(list, cr)
		}
	}
	slices.SortFunc(list, func(a, b *checkRun) int { return int(b.id - a.id) })
	if filter != "all" {
		// "latest", the default, keeps the newest run of each name.
		seen := map[string]bool{}
		list = slices.DeleteFunc(list, func(cr *checkRun) bool {
			dup := seen[cr.name]
			seen[cr.name] = true
			return dup
		})
	}
	out := &github.ListCheckRunsResults{Total: github.Int(len(list)), CheckRuns: []*github.CheckRun{}}
	for _, cr := range paginate(w, r, list) {
		out.CheckRuns = append(out.CheckRuns, s.checkRunJSON(rp, cr))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) rerequestCheckRun(w http.ResponseWriter, r *http.Request) {
	rp, c, ok := s.repoAccess(w, r, "write")
	if !ok {
		return
	}
	s.mu.Lock()
	cr, ok := checkRunFromPath(w, r, rp)
	if !ok {
		s.mu.Unlock()
		return
	}
	ev := s.checkRunEvent(rp, cr, "rerequested", c.user)
	s.mu.Unlock()
	s.hooks.send("check_run", rp.key(), ev)
	writeJSON(w, http.StatusCreated, struct{}{})
}

// RequestAction clicks one of a check run's action buttons as sender,
// firing check_run requested_action as GitHub does.
func (s *Server) RequestAction(owner, repoName string, checkRunID int64, identifier, sender string) error {
	s.mu.Lock()
	rp := s.repoLocked(owner, repoName)
	if rp == nil || rp.checkRuns[checkRunID] == nil {
		s.mu.Unlock()
		return fmt.Errorf("emulator: request action: no check run %d in %s/%s", checkRunID, owner, repoName)
	}
	cr := rp.checkRuns[checkRunID]
	if !slices.ContainsFunc(cr.actions, func(a github.CheckRunAction) bool { return a.Identifier == identifier }) {
		s.mu.Unlock()
		return errors.New("emulator: request action: check run has no action " + strconv.Quote(identifier))
	}
	u := s.users[strings.ToLower(sender)]
	if u == nil {
		s.mu.Unlock()
		return errors.New("emulator: request action: no user " + sender)
	}
	ev := s.checkRunEvent(rp, cr, "requested_action", u)
	ev.RequestedAction = &github.RequestedAction{Identifier: identifier}
	s.mu.Unlock()
	s.hooks.send("check_run", rp.key(), ev)
	return nil
}

// CheckRuns returns copies of a repo's check runs, oldest first, each with
// every annotation it has accumulated in Output.Annotations.
func (s *Server) CheckRuns(owner, repoName string) []*github.CheckRun {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp := s.repoLocked(owner, repoName)
	if rp == nil {
		return nil
	}
	var list []*checkRun
	for _, cr := range rp.checkRuns {
		list = append(list, cr)
	}
	slices.SortFunc(list, func(a, b *checkRun) int { return int(a.id - b.id) })
	out := []*github.CheckRun{}
	for _, cr := range list {
		j := s.checkRunJSON(rp, cr)
		for _, a := range cr.annotations {
			j.Output.Annotations = append(j.Output.Annotations, &a)
		}
		out = append(out, j)
	}
	return out
}
