package emulator

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-github/v62/github"
	"github.com/gorilla/mux"
)

type label struct {
	id          int64
	name, color string
}

type issue struct {
	number      int
	id          int64
	title, body string
	state       string // open, closed
	user        *user
	labels      []string // names, in the order they were added
	createdAt   time.Time
	updatedAt   time.Time
	closedAt    time.Time
	pull        *pull // non-nil when the issue is a pull request
	comments    int
}

type comment struct {
	id        int64
	issue     int
	body      string
	user      *user
	createdAt time.Time
	updatedAt time.Time
}

type reaction struct {
	id        int64
	commentID int64
	user      *user
	content   string
	createdAt time.Time
}

// reactionContents are the reactions GitHub accepts.
var reactionContents = []string{"+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes"}

func (s *Server) labelJSON(rp *repo, l *label) *github.Label {
	return &github.Label{
		ID: github.Int64(l.id), NodeID: github.String(nodeID("Label", l.id)),
		URL:  github.String(s.url + "/repos/" + rp.fullName() + "/labels/" + l.name),
		Name: github.String(l.name), Color: github.String(l.color), Default: github.Bool(false),
		Description: github.String(""),
	}
}

// labelLocked finds a repo label, creating it as GitHub does when an
// unknown label is added to an issue.
func (s *Server) labelLocked(rp *repo, name string) *label {
	if l := rp.labels[strings.ToLower(name)]; l != nil {
		return l
	}
	l := &label{id: s.newID(), name: name, color: "ededed"}
	rp.labels[strings.ToLower(name)] = l
	return l
}

func (s *Server) authorAssociation(rp *repo, u *user) string {
	switch {
	case u.typ == "Bot":
		return "NONE"
	case strings.EqualFold(u.login, rp.owner):
		return "OWNER"
	case rp.perms[strings.ToLower(u.login)] != "":
		return "COLLABORATOR"
	}
	return "NONE"
}

func (s *Server) issueJSON(rp *repo, is *issue) *github.Issue {
	api := s.url + "/repos/" + rp.fullName()
	kind := "issues"
	if is.pull != nil {
		kind = "pull"
	}
	out := &github.Issue{
		ID:                github.Int64(is.id),
		NodeID:            github.String(nodeID("Issue", is.id)),
		Number:            github.Int(is.number),
		State:             github.String(is.state),
		Title:             github.String(is.title),
		Body:              github.String(is.body),
		User:              s.userJSON(is.user),
		Labels:            []*github.Label{},
		Assignees:         []*github.User{},
		Comments:          github.Int(is.comments),
		Locked:            github.Bool(false),
		AuthorAssociation: github.String(s.authorAssociation(rp, is.user)),
		CreatedAt:         &github.Timestamp{Time: is.createdAt},
		UpdatedAt:         &github.Timestamp{Time: is.updatedAt},
		URL:               github.String(fmt.Sprintf("%s/issues/%d", api, is.number)),
		HTMLURL:           github.String(fmt.Sprintf("%s/%s/%s/%d", s.url, rp.fullName(), kind, is.number)),
		CommentsURL:       github.String(fmt.Sprintf("%s/issues/%d/comments", api, is.number)),
		RepositoryURL:     github.String(api),
	}
	if !is.closedAt.IsZero() {
		out.ClosedAt = &github.Timestamp{Time: is.closedAt}
	}
	for _, n := range is.labels {
		out.Labels = append(out.Labels, s.labelJSON(rp, s.labelLocked(rp, n)))
	}
	if is.pull != nil {
		// The key whose presence tells an issue_comment on a PR apart.
		out.PullRequestLinks = &github.PullRequestLinks{
			URL:      github.String(fmt.Sprintf("%s/pulls/%d", api, is.number)),
			HTMLURL:  github.String(fmt.Sprintf("%s/%s/pull/%d", s.url, rp.fullName(), is.number)),
			DiffURL:  github.String(fmt.Sprintf("%s/%s/pull/%d.diff", s.url, rp.fullName(), is.number)),
			PatchURL: github.String(fmt.Sprintf("%s/%s/pull/%d.patch", s.url, rp.fullName(), is.number)),
		}
	}
	return out
}

func (s *Server) commentJSON(rp *repo, c *comment) *github.IssueComment {
	api := s.url + "/repos/" + rp.fullName()
	return &github.IssueComment{
		ID:                github.Int64(c.id),
		NodeID:            github.String(nodeID("IssueComment", c.id)),
		Body:              github.String(c.body),
		User:              s.userJSON(c.user),
		AuthorAssociation: github.String(s.authorAssociation(rp, c.user)),
		CreatedAt:         &github.Timestamp{Time: c.createdAt},
		UpdatedAt:         &github.Timestamp{Time: c.updatedAt},
		URL:               github.String(fmt.Sprintf("%s/issues/comments/%d", api, c.id)),
		HTMLURL:           github.String(fmt.Sprintf("%s/%s/issues/%d#issuecomment-%d", s.url, rp.fullName(), c.issue, c.id)),
		IssueURL:          github.String(fmt.Sprintf("%s/issues/%d", api, c.issue)),
		Reactions:         s.reactionCounts(rp, fmt.Sprintf("%s/issues/comments/%d/reactions", api, c.id), c.id),
	}
}

// reactionCounts is a comment's reactions rollup; call with s.mu held.
func (s *Server) reactionCounts(rp *repo, url string, commentID int64) *github.Reactions {
	n := map[string]int{}
	for _, rc := range rp.reactions {
		if rc.commentID == commentID {
			n[rc.content]++
		}
	}
	i := func(k string) *int { return github.Int(n[k]) }
	total := 0
	for _, k := range reactionContentKeys {
		total += n[k]
	}
	return &github.Reactions{URL: github.String(url), TotalCount: github.Int(total), PlusOne: i("+1"), MinusOne: i("-1"),
		Laugh: i("laugh"), Hooray: i("hooray"), Confused: i("confused"), Heart: i("heart"), Rocket: i("rocket"), Eyes: i("eyes")}
}

func (s *Server) reactionJSON(rc *reaction) *github.Reaction {
	return &github.Reaction{
		ID: github.Int64(rc.id), NodeID: github.String(nodeID("Reaction", rc.id)),
		User: s.userJSON(rc.user), Content: github.String(rc.content),
	}
}

// reactionOut is a reaction as the REST API sends it; go-github's type
// lacks created_at.
type reactionOut struct {
	*github.Reaction
	CreatedAt github.Timestamp `json:"created_at"`
}

func (s *Server) reactionREST(rc *reaction) reactionOut {
	return reactionOut{Reaction: s.reactionJSON(rc), CreatedAt: github.Timestamp{Time: rc.createdAt}}
}

// issueFromPath finds {number} in a repo; it answers 404 itself.
func issueFromPath(w http.ResponseWriter, r *http.Request, rp *repo) (*issue, bool) {
	return fromPath(w, r, "number", rp.issues)
}

// getOne serves the GET of one object of a repo: read access, the object
// the path names (404 if none), rendered in GitHub's shape.
func getOne[T, R any](s *Server, find func(http.ResponseWriter, *http.Request, *repo) (*T, bool), render func(*repo, *T) R) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		withOne(s, w, r, find, func(rp *repo, v *T) { writeJSON(w, http.StatusOK, render(rp, v)) })
	}
}

// listOf answers the GET of a list that belongs to one object of a repo
// (an issue's labels or comments, a pull request's reviews): read access,
// the object the path names (404 if none), then its list in GitHub's
// shape, paginated.
func listOf[T, J any](s *Server, w http.ResponseWriter, r *http.Request, find func(http.ResponseWriter, *http.Request, *repo) (*T, bool), list func(*repo, *T) []J) {
	withOne(s, w, r, find, func(rp *repo, v *T) { writeJSON(w, http.StatusOK, paginate(w, r, list(rp, v))) })
}

// withOne checks read access to the repo, finds the object the path names
// (answering 404 itself when there is none) and runs answer on it with
// s.mu held.
func withOne[T any](s *Server, w http.ResponseWriter, r *http.Request, find func(http.ResponseWriter, *http.Request, *repo) (*T, bool), answer func(*repo, *T)) {
	rp, _, ok := s.repoAccess(w, r, "read")
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := find(w, r, rp)
	if !ok {
		return
	}
	answer(rp, v)
}

// fromPath finds the object a path variable names; it answers 404 itself,
// as GitHub does for unknown ids.
func fromPath[K int | int64, V any](w http.ResponseWriter, r *http.Request, key string, m map[K]*V) (*V, bool) {
	n, _ := strconv.ParseInt(mux.Vars(r)[key], 10, 64)
	v := m[K(n)]
	if v == nil {
		writeError(w, http.StatusNotFound, "Not Found")
		return nil, false
	}
	return v, true
}

// issuesEvent builds an "issues" payload; call with s.mu held.
func (s *Server) issuesEvent(rp *repo, is *issue, action string, sender *user) *github.IssuesEvent {
	return &github.IssuesEvent{
		Action: github.String(action), Issue: s.issueJSON(rp, is), Repo: s.repoJSON(rp),
		Sender: s.userJSON(sender), Installation: hookInstallation(s.installationForLocked(rp)),
	}
}

// commentEvent builds an "issue_comment" payload; call with s.mu held.
func (s *Server) commentEvent(rp *repo, is *issue, cm *comment, action string, sender *user) *github.IssueCommentEvent {
	return &github.IssueCommentEvent{
		Action: github.String(action), Issue: s.issueJSON(rp, is), Comment: s.commentJSON(rp, cm),
		Repo: s.repoJSON(rp), Sender: s.userJSON(sender), Installation: hookInstallation(s.installationForLocked(rp)),
	}
}

// authorOrLocked reports whether c may change what author wrote on rp: the
// author always may, anyone else needs at least level. Otherwise it answers
// 403 with msg, as GitHub does. Call with s.mu held.
func (s *Server) authorOrLocked(w http.ResponseWriter, c *caller, rp *repo, author *user, level, msg string) bool {
	if author == c.user || permRank(s.permissionLocked(c, rp)) >= permRank(level) {
		return true
	}
	writeError(w, http.StatusForbidden, msg)
	return false
}

type issueRequest struct {
	Title  *string   `json:"title"`
	Body   *string   `json:"body"`
	State  *string   `json:"state"`
	Labels *[]string `json:"labels"`
}

func (s *Server) createIssue(w http.ResponseWriter, r *http.Request) {
	var req issueRequest
	rp, c, ok := s.accessBody(w, r, "read", &req)
	if !ok {
		return
	}
	if req.Title == nil || strings.TrimSpace(*req.Title) == "" {
		validationFailed(w, fieldError{Resource: "Issue", Field: "title", Code: "missing_field"})
		return
	}
	s.mu.Lock()
	now := s.now()
	rp.lastNumber++
	is := &issue{number: rp.lastNumber, id: s.newID(), title: *req.Title, state: "open", user: c.user, createdAt: now, updatedAt: now}
	if req.Body != nil {
		is.body = *req.Body
	}
	rp.issues[is.number] = is
	events := []any{s.issuesEvent(rp, is, "opened", c.user)}
	// Labels on a new issue stick only for triagers, as on GitHub, where
	// they are silently dropped for others.
	if req.Labels != nil && permRank(s.permissionLocked(c, rp)) >= permRank("triage") {
		for _, n := range *req.Labels {
			if ev := s.addLabelLocked(rp, is, n, c.user); ev != nil {
				events = append(events, ev)
			}
		}
	}
	out := s.issueJSON(rp, is)
	s.mu.Unlock()
	for _, ev := range events {
		s.hooks.send("issues", rp.key(), ev)
	}
	writeJSON(w, http.StatusCreated, out)
}

// addLabelLocked puts a label on an issue or PR and returns the labeled
// event, or nil if it was already there.
func (s *Server) addLabelLocked(rp *repo, is *issue, name string, sender *user) any {
	l := s.labelLocked(rp, name)
	if slices.ContainsFunc(is.labels, func(n string) bool { return strings.EqualFold(n, l.name) }) {
		return nil
	}
	is.labels = append(is.labels, l.name)
	is.updatedAt = s.now()
	if is.pull != nil {
		ev := s.pullEvent(rp, is.pull, "labeled", sender)
		ev.Label = s.labelJSON(rp, l)
		return ev
	}
	ev := s.issuesEvent(rp, is, "labeled", sender)
	ev.Label = s.labelJSON(rp, l)
	return ev
}

func eventName(ev any) string {
	if _, ok := ev.(*github.PullRequestEvent); ok {
		return "pull_request"
	}
	return "issues"
}

func (s *Server) listIssues(w http.ResponseWriter, r *http.Request) {
	rp, _, ok := s.repoAccess(w, r, "read")
	if !ok {
		return
	}
	q := r.URL.Query()
	state := q.Get("state")
	if state == "" {
		state = "open"
	}
	var want []string
	if l := q.Get("labels"); l != "" {
		want = strings.Split(l, ",")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var list []*issue
	for _, is := range rp.issues {
		if state != "all" && is.state != state {
			continue
		}
		if !slices.ContainsFunc(want, func(l string) bool {
			return !slices.ContainsFunc(is.labels, func(n string) bool { return strings.EqualFold(n, l) })
		}) {
			list = append(list, is)
		}
	}
	slices.SortFunc(list, func(a, b *issue) int { return b.number - a.number })
	out := []*github.Issue{}
	for _, is := range list {
		out = append(out, s.issueJSON(rp, is))
	}
	writeJSON(w, http.StatusOK, paginate(w, r, out))
}

func (s *Server) editIssue(w http.ResponseWriter, r *http.Request) {
	var req issueRequest
	rp, c, ok := s.accessBody(w, r, "read", &req)
	if !ok {
		return
	}
	s.mu.Lock()
	is, ok := issueFromPath(w, r, rp)
	if !ok {
		s.mu.Unlock()
		return
	}
	if !s.authorOrLocked(w, c, rp, is.user, "triage", "Must have triage access to edit this issue") {
		s.mu.Unlock()
		return
	}
	var events []any
	if req.State != nil && *req.State != "open" && *req.State != "closed" {
		s.mu.Unlock()
		validationFailed(w, fieldError{Resource: "Issue", Field: "state", Code: "invalid"})
		return
	}
	if req.Title != nil || req.Body != nil {
		changes := &github.EditChange{}
		if req.Title != nil {
			changes.Title = &github.EditTitle{From: github.String(is.title)}
			is.title = *req.Title
		}
		if req.Body != nil {
			changes.Body = &github.EditBody{From: github.String(is.body)}
			is.body = *req.Body
		}
		is.updatedAt = s.now()
		ev := s.issuesEvent(rp, is, "edited", c.user)
		ev.Changes = changes
		events = append(events, ev)
	}
	if req.State != nil && *req.State != is.state {
		if ev := s.setStateLocked(rp, is, *req.State, c.user); ev != nil {
			events = append(events, ev)
		}
	}
	out := s.issueJSON(rp, is)
	s.mu.Unlock()
	for _, ev := range events {
		s.hooks.send(eventName(ev), rp.key(), ev)
	}
	writeJSON(w, http.StatusOK, out)
}

// setStateLocked opens or closes an issue or PR and returns the event.
func (s *Server) setStateLocked(rp *repo, is *issue, state string, sender *user) any {
	if state == is.state {
		return nil
	}
	is.state = state
	is.updatedAt = s.now()
	action := "reopened"
	is.closedAt = time.Time{}
	if state == "closed" {
		action = "closed"
		is.closedAt = is.updatedAt
	}
	if is.pull != nil {
		return s.pullEvent(rp, is.pull, action, sender)
	}
	return s.issuesEvent(rp, is, action, sender)
}

func (s *Server) listIssueLabels(w http.ResponseWriter, r *http.Request) {
	listOf(s, w, r, issueFromPath, func(rp *repo, is *issue) []*github.Label { return s.issueJSON(rp, is).Labels })
}

func (s *Server) addLabels(w http.ResponseWriter, r *http.Request) {
	// GitHub takes {"labels": [...]} or a bare array (what go-github sends).
	var raw json.RawMessage
	rp, c, ok := s.accessBody(w, r, "triage", &raw)
	if !ok {
		return
	}
	var names []string
	if err := json.Unmarshal(raw, &names); err != nil {
		var obj struct {
			Labels []string `json:"labels"`
		}
		if err := json.Unmarshal(raw, &obj); err != nil {
			validationFailed(w, fieldError{Resource: "Label", Field: "labels", Code: "invalid"})
			return
		}
		names = obj.Labels
	}
	if len(names) == 0 {
		validationFailed(w, fieldError{Resource: "Label", Field: "labels", Code: "missing_field"})
		return
	}
	s.mu.Lock()
	is, ok := issueFromPath(w, r, rp)
	if !ok {
		s.mu.Unlock()
		return
	}
	var events []any
	for _, n := range names {
		if ev := s.addLabelLocked(rp, is, n, c.user); ev != nil {
			events = append(events, ev)
		}
	}
	out := s.issueJSON(rp, is).Labels
	s.mu.Unlock()
	for _, ev := range events {
		s.hooks.send(eventName(ev), rp.key(), ev)
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) removeLabel(w http.ResponseWriter, r *http.Request) {
	rp, c, ok := s.repoAccess(w, r, "triage")
	if !ok {
		return
	}
	name := mux.Vars(r)["name"]
	s.mu.Lock()
	is, ok := issueFromPath(w, r, rp)
	if !ok {
		s.mu.Unlock()
		return
	}
	i := slices.IndexFunc(is.labels, func(n string) bool { return strings.EqualFold(n, name) })
	if i < 0 {
		s.mu.Unlock()
		writeError(w, http.StatusNotFound, "Label does not exist")
		return
	}
	l := s.labelLocked(rp, is.labels[i])
	is.labels = slices.Delete(is.labels, i, i+1)
	is.updatedAt = s.now()
	var ev any
	if is.pull != nil {
		pe := s.pullEvent(rp, is.pull, "unlabeled", c.user)
		pe.Label = s.labelJSON(rp, l)
		ev = pe
	} else {
		ie := s.issuesEvent(rp, is, "unlabeled", c.user)
		ie.Label = s.labelJSON(rp, l)
		ev = ie
	}
	out := s.issueJSON(rp, is).Labels
	s.mu.Unlock()
	s.hooks.send(eventName(ev), rp.key(), ev)
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) listComments(w http.ResponseWriter, r *http.Request) {
	listOf(s, w, r, issueFromPath, func(rp *repo, is *issue) []*github.IssueComment { return s.commentsLocked(rp, is.number) })
}

func (s *Server) commentsLocked(rp *repo, number int) []*github.IssueComment {
	var list []*comment
	for _, c := range rp.comments {
		if c.issue == number {
			list = append(list, c)
		}
	}
	slices.SortFunc(list, func(a, b *comment) int { return int(a.id - b.id) })
	out := []*github.IssueComment{}
	for _, c := range list {
		out = append(out, s.commentJSON(rp, c))
	}
	return out
}

func (s *Server) createComment(w http.ResponseWriter, r *http.Request) {
	rp, c, ok := s.repoAccess(w, r, "read")
	if !ok {
		return
	}
	body, ok := commentBody(w, r)
	if !ok {
		return
	}
	if len(body) > 65536 {
		validationFailed(w, fieldError{Resource: "IssueComment", Field: "body", Code: "custom", Message: "body is too long (maximum is 65536 characters)"})
		return
	}
	s.mu.Lock()
	is, ok := issueFromPath(w, r, rp)
	if !ok {
		s.mu.Unlock()
		return
	}
	now := s.now()
	cm := &comment{id: s.newID(), issue: is.number, body: body, user: c.user, createdAt: now, updatedAt: now}
	rp.comments[cm.id] = cm
	is.comments++
	out := s.commentJSON(rp, cm)
	ev := s.commentEvent(rp, is, cm, "created", c.user)
	s.mu.Unlock()
	s.hooks.send("issue_comment", rp.key(), ev)
	writeJSON(w, http.StatusCreated, out)
}

// commentBody reads the {"body": ...} of a new or edited issue comment;
// it answers 400 or 422 itself when there is none.
func commentBody(w http.ResponseWriter, r *http.Request) (string, bool) {
	var req struct {
		Body *string `json:"body"`
	}
	if !decodeBody(w, r, &req) {
		return "", false
	}
	if req.Body == nil || *req.Body == "" {
		validationFailed(w, fieldError{Resource: "IssueComment", Field: "body", Code: "missing_field"})
		return "", false
	}
	return *req.Body, true
}

// commentFromPath finds comment {id} in a repo; it answers 404 itself.
func commentFromPath(w http.ResponseWriter, r *http.Request, rp *repo) (*comment, bool) {
	return fromPath(w, r, "id", rp.comments)
}

func (s *Server) editComment(w http.ResponseWriter, r *http.Request) {
	rp, c, ok := s.repoAccess(w, r, "read")
	if !ok {
		return
	}
	body, ok := commentBody(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	cm, ok := commentFromPath(w, r, rp)
	if !ok {
		s.mu.Unlock()
		return
	}
	if !s.authorOrLocked(w, c, rp, cm.user, "write", "Must have write access to edit this comment") {
		s.mu.Unlock()
		return
	}
	from := cm.body
	cm.body = body
	cm.updatedAt = s.now()
	out := s.commentJSON(rp, cm)
	ev := s.commentEvent(rp, rp.issues[cm.issue], cm, "edited", c.user)
	ev.Changes = &github.EditChange{Body: &github.EditBody{From: github.String(from)}}
	s.mu.Unlock()
	s.hooks.send("issue_comment", rp.key(), ev)
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) createReaction(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Content string `json:"content"`
	}
	rp, c, ok := s.accessBody(w, r, "read", &req)
	if !ok {
		return
	}
	if !slices.Contains(reactionContents, req.Content) {
		validationFailed(w, fieldError{Resource: "Reaction", Field: "content", Code: "invalid"})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cm, ok := commentFromPath(w, r, rp)
	if !ok {
		return
	}
	// The same person reacting the same way again gets the old one back.
	for _, rc := range rp.reactions {
		if rc.commentID == cm.id && rc.user == c.user && rc.content == req.Content {
			writeJSON(w, http.StatusOK, s.reactionREST(rc))
			return
		}
	}
	rc := &reaction{id: s.newID(), commentID: cm.id, user: c.user, content: req.Content, createdAt: s.now()}
	rp.reactions = append(rp.reactions, rc)
	writeJSON(w, http.StatusCreated, s.reactionREST(rc))
}

func (s *Server) listReactions(w http.ResponseWriter, r *http.Request) {
	content := r.URL.Query().Get("content")
	listOf(s, w, r, commentFromPath, func(rp *repo, cm *comment) []reactionOut {
		out := []reactionOut{}
		for _, rc := range rp.reactions {
			if rc.commentID == cm.id && (content == "" || rc.content == content) {
				out = append(out, s.reactionREST(rc))
			}
		}
		return out
	})
}

func (s *Server) reactionsLocked(rp *repo, commentID int64, content string) []*github.Reaction {
	out := []*github.Reaction{}
	for _, rc := range rp.reactions {
		if rc.commentID == commentID && (content == "" || rc.content == content) {
			out = append(out, s.reactionJSON(rc))
		}
	}
	return out
}

// IssueComments returns copies of the comments on issue or PR n, oldest first.
func (s *Server) IssueComments(owner, repoName string, n int) []*github.IssueComment {
	return inRepo(s, owner, repoName, func(rp *repo) []*github.IssueComment { return s.commentsLocked(rp, n) })
}

// Issue returns a copy of issue or PR n as GET /repos/{o}/{r}/issues/{n} would.
func (s *Server) Issue(owner, repoName string, n int) *github.Issue {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp := s.repoLocked(owner, repoName)
	if rp == nil || rp.issues[n] == nil {
		return nil
	}
	return s.issueJSON(rp, rp.issues[n])
}

// Reactions returns copies of the reactions on an issue comment.
func (s *Server) Reactions(owner, repoName string, commentID int64) []*github.Reaction {
	return inRepo(s, owner, repoName, func(rp *repo) []*github.Reaction { return s.reactionsLocked(rp, commentID, "") })
}

// deleteComment is DELETE /repos/{o}/{r}/issues/comments/{id}: the author
// or someone with write access removes a comment; GitHub answers 204 and
// fires issue_comment deleted.
func (s *Server) deleteComment(w http.ResponseWriter, r *http.Request) {
	rp, c, ok := s.repoAccess(w, r, "read")
	if !ok {
		return
	}
	s.mu.Lock()
	cm, ok := commentFromPath(w, r, rp)
	if !ok {
		s.mu.Unlock()
		return
	}
	if !s.authorOrLocked(w, c, rp, cm.user, "write", "Must have write access to delete this comment") {
		s.mu.Unlock()
		return
	}
	delete(rp.comments, cm.id)
	is := rp.issues[cm.issue]
	if is != nil && is.comments > 0 {
		is.comments--
	}
	ev := s.commentEvent(rp, is, cm, "deleted", c.user)
	s.mu.Unlock()
	s.hooks.send("issue_comment", rp.key(), ev)
	w.WriteHeader(http.StatusNoContent)
}
