package emulator

import (
	"fmt"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-github/v62/github"
	"github.com/gorilla/mux"
)

// Pull request reviews and review comments, in GitHub's REST shapes:
//
//	POST /repos/{o}/{r}/pulls/{n}/reviews                    submit a review (APPROVE, REQUEST_CHANGES, COMMENT) with inline comments
//	GET  /repos/{o}/{r}/pulls/{n}/reviews                    list reviews
//	GET  /repos/{o}/{r}/pulls/{n}/comments                   list review comments
//	POST /repos/{o}/{r}/pulls/{n}/comments/{id}/replies      reply in a comment's thread
//
// Submitting fires pull_request_review_comment.created for each inline
// comment and pull_request_review.submitted, as GitHub does; a reply fires
// pull_request_review_comment.created.

// loopData holds a repo's reviews and other apps' check suites; nil until
// the first is made.
type loopData struct {
	reviews  map[int64]*review
	rcs      map[int64]*reviewComment
	suites   map[int64]*suite
	appRuns  map[int64]*appCheckRun
	appNames map[int64]string
}

func (rp *repo) loopLocked() *loopData {
	if rp.loop == nil {
		rp.loop = &loopData{reviews: map[int64]*review{}, rcs: map[int64]*reviewComment{}, suites: map[int64]*suite{},
			appRuns: map[int64]*appCheckRun{}, appNames: map[int64]string{}}
	}
	return rp.loop
}

type review struct {
	id          int64
	pr          int
	user        *user
	body, state string
	commitID    string
	submittedAt time.Time
}

type reviewComment struct {
	id, reviewID   int64
	pr             int
	user           *user
	body, path     string
	line           int
	side, diffHunk string
	commitID       string
	inReplyTo      int64
	createdAt      time.Time
}

var reviewStates = map[string]string{"APPROVE": "APPROVED", "REQUEST_CHANGES": "CHANGES_REQUESTED", "COMMENT": "COMMENTED"}

func (s *Server) reviewJSON(rp *repo, rv *review) *github.PullRequestReview {
	api := s.url + "/repos/" + rp.fullName()
	return &github.PullRequestReview{
		ID: github.Int64(rv.id), NodeID: github.String(nodeID("PullRequestReview", rv.id)), User: s.userJSON(rv.user),
		Body: github.String(rv.body), State: github.String(rv.state), CommitID: github.String(rv.commitID),
		SubmittedAt:       &github.Timestamp{Time: rv.submittedAt},
		HTMLURL:           github.String(fmt.Sprintf("%s/%s/pull/%d#pullrequestreview-%d", s.url, rp.fullName(), rv.pr, rv.id)),
		PullRequestURL:    github.String(fmt.Sprintf("%s/pulls/%d", api, rv.pr)),
		AuthorAssociation: github.String(association(s.userPermissionLocked(rv.user, rp))),
	}
}

func (s *Server) reviewCommentJSON(rp *repo, c *reviewComment) *github.PullRequestComment {
	api := s.url + "/repos/" + rp.fullName()
	out := &github.PullRequestComment{
		ID: github.Int64(c.id), NodeID: github.String(nodeID("PullRequestReviewComment", c.id)),
		PullRequestReviewID: github.Int64(c.reviewID), DiffHunk: github.String(c.diffHunk), Path: github.String(c.path),
		CommitID: github.String(c.commitID), OriginalCommitID: github.String(c.commitID), User: s.userJSON(c.user),
		Body: github.String(c.body), CreatedAt: &github.Timestamp{Time: c.createdAt}, UpdatedAt: &github.Timestamp{Time: c.createdAt},
		Line: github.Int(c.line), OriginalLine: github.Int(c.line), Side: github.String(c.side),
		URL:               github.String(fmt.Sprintf("%s/pulls/comments/%d", api, c.id)),
		HTMLURL:           github.String(fmt.Sprintf("%s/%s/pull/%d#discussion_r%d", s.url, rp.fullName(), c.pr, c.id)),
		PullRequestURL:    github.String(fmt.Sprintf("%s/pulls/%d", api, c.pr)),
		AuthorAssociation: github.String(association(s.userPermissionLocked(c.user, rp))),
	}
	if c.inReplyTo != 0 {
		out.InReplyTo = github.Int64(c.inReplyTo)
	}
	return out
}

// association is the author_association GitHub shows for a role.
func association(perm string) string {
	switch perm {
	case "admin", "maintain", "write":
		return "COLLABORATOR"
	}
	return "NONE"
}

type reviewRequest struct {
	CommitID *string `json:"commit_id"`
	Body     *string `json:"body"`
	Event    *string `json:"event"`
	Comments []struct {
		Path     string `json:"path"`
		Line     int    `json:"line"`
		Position int    `json:"position"`
		Side     string `json:"side"`
		Body     string `json:"body"`
	} `json:"comments"`
}

func (s *Server) createReview(w http.ResponseWriter, r *http.Request) {
	var req reviewRequest
	rp, c, ok := s.accessBody(w, r, "read", &req)
	if !ok {
		return
	}
	event := "COMMENT"
	if req.Event != nil {
		event = *req.Event
	}
	state, known := reviewStates[event]
	if !known {
		// A review without an event stays PENDING on GitHub; submitting
		// it is a second call the emulator does not need.
		validationFailed(w, fieldError{Resource: "PullRequestReview", Field: "event", Code: "invalid"})
		return
	}
	if event != "APPROVE" && strings.TrimSpace(req.GetBody()) == "" && len(req.Comments) == 0 {
		writeError(w, http.StatusUnprocessableEntity, "Unprocessable Entity", fieldError{Code: "custom",
			Message: "Review body is required when event is " + event})
		return
	}
	s.mu.Lock()
	p, ok := s.pullFromPath(w, r, rp)
	if !ok {
		s.mu.Unlock()
		return
	}
	if sha, ok := branchSHA(rp, p.headRef); ok {
		p.headSHA = sha
	}
	commit := p.headSHA
	if req.CommitID != nil && *req.CommitID != "" {
		commit = *req.CommitID
	}
	base := p.baseSHA
	if sha, ok := branchSHA(rp, p.baseRef); ok {
		base = sha
	}
	s.mu.Unlock()
	// The hunks come from git, outside the lock.
	hunks := map[string]string{}
	for i, cm := range req.Comments {
		if cm.Path == "" || cm.Body == "" || (cm.Line <= 0 && cm.Position <= 0) {
			validationFailed(w, fieldError{Resource: "PullRequestReviewComment", Field: fmt.Sprintf("comments[%d]", i), Code: "missing_field"})
			return
		}
		line := cm.Line
		if line <= 0 {
			line = cm.Position
		}
		hunk, ok := diffHunk(rp, base, commit, cm.Path, line)
		if !ok {
			writeError(w, http.StatusUnprocessableEntity, "Unprocessable Entity", fieldError{Code: "custom",
				Message: fmt.Sprintf("Line could not be resolved: %s:%d is not part of the diff", cm.Path, line)})
			return
		}
		hunks[fmt.Sprint(i)] = hunk
	}
	s.mu.Lock()
	ld := rp.loopLocked()
	now := s.now()
	rv := &review{id: s.newID(), pr: p.issue.number, user: c.user, body: req.GetBody(), state: state, commitID: commit, submittedAt: now}
	ld.reviews[rv.id] = rv
	var events []any
	for i, cm := range req.Comments {
		line := cm.Line
		if line <= 0 {
			line = cm.Position
		}
		side := cm.Side
		if side == "" {
			side = "RIGHT"
		}
		rc := &reviewComment{id: s.newID(), reviewID: rv.id, pr: p.issue.number, user: c.user, body: cm.Body, path: cm.Path,
			line: line, side: side, diffHunk: hunks[fmt.Sprint(i)], commitID: commit, createdAt: now}
		ld.rcs[rc.id] = rc
		events = append(events, s.reviewCommentEvent(rp, p, rc, c.user))
	}
	hookReview := s.reviewJSON(rp, rv)
	// Webhooks spell the state in lower case ("approved"); REST in upper.
	hookReview.State = github.String(strings.ToLower(rv.state))
	events = append(events, &github.PullRequestReviewEvent{
		Action: github.String("submitted"), Review: hookReview, PullRequest: s.pullJSON(rp, p),
		Repo: s.repoJSON(rp), Sender: s.userJSON(c.user), Installation: hookInstallation(s.installationForLocked(rp)),
	})
	out := s.reviewJSON(rp, rv)
	s.mu.Unlock()
	for _, ev := range events {
		name := "pull_request_review"
		if _, ok := ev.(*github.PullRequestReviewCommentEvent); ok {
			name = "pull_request_review_comment"
		}
		s.hooks.send(name, rp.key(), ev)
	}
	writeJSON(w, http.StatusOK, out)
}

func (req *reviewRequest) GetBody() string {
	if req.Body == nil {
		return ""
	}
	return *req.Body
}

// reviewCommentEvent builds a "pull_request_review_comment" payload; call
// with s.mu held.
func (s *Server) reviewCommentEvent(rp *repo, p *pull, rc *reviewComment, sender *user) *github.PullRequestReviewCommentEvent {
	return &github.PullRequestReviewCommentEvent{
		Action: github.String("created"), Comment: s.reviewCommentJSON(rp, rc), PullRequest: s.pullJSON(rp, p),
		Repo: s.repoJSON(rp), Sender: s.userJSON(sender), Installation: hookInstallation(s.installationForLocked(rp)),
	}
}

var hunkHeaderRE = regexp.MustCompile(`^@@ -\d+(?:,\d+)? \+(\d+)(?:,(\d+))? @@`)

// diffHunk is GitHub's diff_hunk of a comment on line of path: the hunk of
// base...head holding the line, from its header down to the line.
func diffHunk(rp *repo, base, head, path string, line int) (string, bool) {
	out, err := runGit(nil, rp.gitDir, nil, "diff", "--no-color", base+"..."+head, "--", path)
	if err != nil {
		return "", false
	}
	var hunk []string
	newLine, inHunk := 0, false
	for _, l := range strings.Split(out, "\n") {
		if m := hunkHeaderRE.FindStringSubmatch(l); m != nil {
			start, _ := strconv.Atoi(m[1])
			hunk, newLine, inHunk = []string{l}, start, true
			continue
		}
		if !inHunk || l == "" && newLine == 0 {
			continue
		}
		hunk = append(hunk, l)
		if strings.HasPrefix(l, "-") {
			continue
		}
		if newLine == line {
			return strings.Join(hunk, "\n"), true
		}
		newLine++
	}
	return "", false
}

func (s *Server) listReviews(w http.ResponseWriter, r *http.Request) {
	listOf(s, w, r, s.pullFromPath, func(rp *repo, p *pull) []*github.PullRequestReview {
		return ofPullLocked(rp, rp.loopLocked().reviews, p.issue.number, s.reviewJSON)
	})
}

func (s *Server) listReviewComments(w http.ResponseWriter, r *http.Request) {
	listOf(s, w, r, s.pullFromPath, func(rp *repo, p *pull) []*github.PullRequestComment {
		return ofPullLocked(rp, rp.loopLocked().rcs, p.issue.number, s.reviewCommentJSON)
	})
}

// pullItem is a review or a review comment: each belongs to one pull
// request.
type pullItem interface{ pullNumber() int }

func (rv *review) pullNumber() int        { return rv.pr }
func (rc *reviewComment) pullNumber() int { return rc.pr }

// ofPullLocked is pull request n's items of m, oldest first (ids grow and
// key m), in GitHub's JSON; an empty list rather than null when none.
func ofPullLocked[T pullItem, J any](rp *repo, m map[int64]T, n int, toJSON func(*repo, T) J) []J {
	out := []J{}
	for _, id := range slices.Sorted(maps.Keys(m)) {
		if it := m[id]; it.pullNumber() == n {
			out = append(out, toJSON(rp, it))
		}
	}
	return out
}

// createReviewComment answers POST .../pulls/{n}/comments; the emulator
// takes the in_reply_to form (a reply in a thread), which is what
// go-github's CreateCommentInReplyTo sends. A new single comment is made
// through a review.
func (s *Server) createReviewComment(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Body      string `json:"body"`
		InReplyTo int64  `json:"in_reply_to"`
	}
	if !decodeBody(w, r, &req) {
		return
	}
	if req.InReplyTo == 0 {
		validationFailed(w, fieldError{Resource: "PullRequestReviewComment", Field: "in_reply_to", Code: "missing_field",
			Message: "the emulator makes new review comments through POST .../pulls/{n}/reviews"})
		return
	}
	s.reply(w, r, req.InReplyTo, req.Body)
}

func (s *Server) replyReviewComment(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Body string `json:"body"`
	}
	if !decodeBody(w, r, &req) {
		return
	}
	id, _ := strconv.ParseInt(mux.Vars(r)["id"], 10, 64)
	s.reply(w, r, id, req.Body)
}

// reply adds a comment to the thread of review comment id.
func (s *Server) reply(w http.ResponseWriter, r *http.Request, id int64, body string) {
	rp, c, ok := s.repoAccess(w, r, "read")
	if !ok {
		return
	}
	req := struct{ Body string }{body}
	if req.Body == "" {
		validationFailed(w, fieldError{Resource: "PullRequestReviewComment", Field: "body", Code: "missing_field"})
		return
	}
	s.mu.Lock()
	p, ok := s.pullFromPath(w, r, rp)
	if !ok {
		s.mu.Unlock()
		return
	}
	ld := rp.loopLocked()
	parent := ld.rcs[id]
	if parent == nil || parent.pr != p.issue.number {
		s.mu.Unlock()
		writeError(w, http.StatusNotFound, "Not Found")
		return
	}
	root := parent
	if parent.inReplyTo != 0 && ld.rcs[parent.inReplyTo] != nil {
		root = ld.rcs[parent.inReplyTo] // GitHub threads replies on the first comment
	}
	now := s.now()
	rv := &review{id: s.newID(), pr: p.issue.number, user: c.user, state: "COMMENTED", commitID: root.commitID, submittedAt: now}
	ld.reviews[rv.id] = rv
	rc := &reviewComment{id: s.newID(), reviewID: rv.id, pr: p.issue.number, user: c.user, body: req.Body, path: root.path,
		line: root.line, side: root.side, diffHunk: root.diffHunk, commitID: root.commitID, inReplyTo: root.id, createdAt: now}
	ld.rcs[rc.id] = rc
	ev := s.reviewCommentEvent(rp, p, rc, c.user)
	out := s.reviewCommentJSON(rp, rc)
	s.mu.Unlock()
	s.hooks.send("pull_request_review_comment", rp.key(), ev)
	writeJSON(w, http.StatusCreated, out)
}

// ReviewComments returns copies of a pull request's review comments,
// oldest first.
func (s *Server) ReviewComments(owner, repoName string, n int) []*github.PullRequestComment {
	return inRepo(s, owner, repoName, func(rp *repo) []*github.PullRequestComment {
		return ofPullLocked(rp, rp.loopLocked().rcs, n, s.reviewCommentJSON)
	})
}
