package emulator

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/google/go-github/v62/github"
)

type pull struct {
	issue            *issue
	id               int64
	headRef, baseRef string
	// headSHA and baseSHA are the tips when last seen, kept for when a
	// branch is deleted; while it exists the live tip is reported.
	headSHA, baseSHA string
	draft            bool
	// fork, when set, owns the fork the head is reported to come from
	// (MarkFork); the head branch itself still lives in this repo.
	fork *user
	// headRepo is the fork the head branch lives in (nil: this repo).
	headRepo *repo
}

// headRepoOr is where the head branch lives.
func (p *pull) headRepoOr(rp *repo) *repo {
	if p.headRepo != nil {
		return p.headRepo
	}
	return rp
}

func (s *Server) pullJSON(rp *repo, p *pull) *github.PullRequest {
	if sha, ok := branchSHA(p.headRepoOr(rp), p.headRef); ok {
		p.headSHA = sha
	}
	if sha, ok := branchSHA(rp, p.baseRef); ok {
		p.baseSHA = sha
	}
	is := p.issue
	api := s.url + "/repos/" + rp.fullName()
	iss := s.issueJSON(rp, is)
	branch := func(ref, sha string) *github.PullRequestBranch {
		return &github.PullRequestBranch{
			Label: github.String(rp.owner + ":" + ref), Ref: github.String(ref), SHA: github.String(sha),
			Repo: s.repoJSON(rp), User: s.userJSON(rp.ownerUser),
		}
	}
	head := branch(p.headRef, p.headSHA)
	if f := p.headRepo; f != nil {
		head.Label = github.String(f.owner + ":" + p.headRef)
		head.User = s.userJSON(f.ownerUser)
		head.Repo = s.repoJSON(f)
	}
	if p.fork != nil {
		head.Label = github.String(p.fork.login + ":" + p.headRef)
		head.User = s.userJSON(p.fork)
		head.Repo.FullName = github.String(p.fork.login + "/" + rp.name)
		head.Repo.Owner = s.userJSON(p.fork)
		head.Repo.Fork = github.Bool(true)
	}
	return &github.PullRequest{
		ID:                  github.Int64(p.id),
		NodeID:              github.String(nodeID("PullRequest", p.id)),
		Number:              github.Int(is.number),
		State:               github.String(is.state),
		Locked:              github.Bool(false),
		Title:               github.String(is.title),
		Body:                github.String(is.body),
		Draft:               github.Bool(p.draft),
		Merged:              github.Bool(false),
		MaintainerCanModify: github.Bool(false),
		User:                iss.User,
		Labels:              iss.Labels,
		AuthorAssociation:   iss.AuthorAssociation,
		CreatedAt:           iss.CreatedAt,
		UpdatedAt:           iss.UpdatedAt,
		ClosedAt:            iss.ClosedAt,
		Head:                head,
		Base:                branch(p.baseRef, p.baseSHA),
		URL:                 github.String(fmt.Sprintf("%s/pulls/%d", api, is.number)),
		HTMLURL:             github.String(fmt.Sprintf("%s/%s/pull/%d", s.url, rp.fullName(), is.number)),
		DiffURL:             github.String(fmt.Sprintf("%s/%s/pull/%d.diff", s.url, rp.fullName(), is.number)),
		PatchURL:            github.String(fmt.Sprintf("%s/%s/pull/%d.patch", s.url, rp.fullName(), is.number)),
		IssueURL:            github.String(fmt.Sprintf("%s/issues/%d", api, is.number)),
		CommentsURL:         github.String(fmt.Sprintf("%s/issues/%d/comments", api, is.number)),
		Comments:            github.Int(is.comments),
	}
}

// pullEvent builds a "pull_request" payload; call with s.mu held.
func (s *Server) pullEvent(rp *repo, p *pull, action string, sender *user) *github.PullRequestEvent {
	return &github.PullRequestEvent{
		Action: github.String(action), Number: github.Int(p.issue.number), PullRequest: s.pullJSON(rp, p),
		Repo: s.repoJSON(rp), Sender: s.userJSON(sender), Installation: hookInstallation(s.installationForLocked(rp)),
	}
}

// headBranch strips the "owner:" GitHub allows in head; forks are not
// emulated, so another owner's head is no branch at all.
func headBranch(rp *repo, head string) (string, bool) {
	if owner, b, ok := strings.Cut(head, ":"); ok {
		return b, strings.EqualFold(owner, rp.owner)
	}
	return head, true
}

func (s *Server) createPull(w http.ResponseWriter, r *http.Request) {
	var req github.NewPullRequest
	rp, c, ok := s.accessBody(w, r, "read", &req)
	if !ok {
		return
	}
	if req.GetTitle() == "" {
		validationFailed(w, fieldError{Resource: "PullRequest", Field: "title", Code: "missing_field"})
		return
	}
	head, sameOwner := headBranch(rp, req.GetHead())
	headRepo := rp
	if !sameOwner {
		s.mu.Lock()
		fork, b, ok := s.forkHeadLocked(rp, req.GetHead())
		s.mu.Unlock()
		if ok {
			headRepo, head, sameOwner = fork, b, true
		}
	}
	headSHA, headOK := branchSHA(headRepo, head)
	if !sameOwner || !headOK {
		validationFailed(w, fieldError{Resource: "PullRequest", Field: "head", Code: "invalid"})
		return
	}
	if headRepo != rp {
		// The fork's commits, where the parent keeps a PR's head.
		if _, err := runGit(nil, rp.gitDir, nil, "fetch", "--quiet", headRepo.gitDir, "+refs/heads/"+head+":refs/forks/"+headRepo.owner+"/"+head); err != nil {
			writeError(w, http.StatusInternalServerError, "git: "+err.Error())
			return
		}
	}
	base := req.GetBase()
	baseSHA, baseOK := branchSHA(rp, base)
	if !baseOK {
		validationFailed(w, fieldError{Resource: "PullRequest", Field: "base", Code: "invalid"})
		return
	}
	if out, err := runGit(nil, rp.gitDir, nil, "rev-list", "--count", baseSHA+".."+headSHA); err != nil || strings.TrimSpace(out) == "0" {
		validationFailed(w, fieldError{Resource: "PullRequest", Code: "custom", Message: fmt.Sprintf("No commits between %s and %s", base, head)})
		return
	}
	s.mu.Lock()
	for _, p := range rp.pulls {
		if p.headRef == head && p.headRepoOr(rp) == headRepo && p.issue.state == "open" {
			s.mu.Unlock()
			validationFailed(w, fieldError{Resource: "PullRequest", Code: "custom", Message: fmt.Sprintf("A pull request already exists for %s:%s.", rp.owner, head)})
			return
		}
	}
	if req.GetDraft() && s.draftsRefusedLocked(rp) {
		s.mu.Unlock()
		validationFailed(w, fieldError{Resource: "PullRequest", Code: "custom", Message: draftsRefused})
		return
	}
	now := s.now()
	rp.lastNumber++
	is := &issue{number: rp.lastNumber, id: s.newID(), title: req.GetTitle(), body: req.GetBody(), state: "open", user: c.user, createdAt: now, updatedAt: now}
	p := &pull{issue: is, id: s.newID(), headRef: head, baseRef: base, headSHA: headSHA, baseSHA: baseSHA, draft: req.GetDraft()}
	if headRepo != rp {
		p.headRepo = headRepo
		// GitHub keeps a fork PR's head in the parent as refs/pull/<n>/head.
		_, _ = runGit(nil, rp.gitDir, nil, "update-ref", fmt.Sprintf("refs/pull/%d/head", is.number), headSHA)
	}
	is.pull = p
	rp.issues[is.number] = is
	rp.pulls[is.number] = p
	out := s.pullJSON(rp, p)
	ev := s.pullEvent(rp, p, "opened", c.user)
	s.mu.Unlock()
	s.hooks.send("pull_request", rp.key(), ev)
	writeJSON(w, http.StatusCreated, out)
}

func (s *Server) listPulls(w http.ResponseWriter, r *http.Request) {
	rp, _, ok := s.repoAccess(w, r, "read")
	if !ok {
		return
	}
	q := r.URL.Query()
	state := q.Get("state")
	if state == "" {
		state = "open"
	}
	head, headOwnerOK := "", true
	var headRepo *repo
	if h := q.Get("head"); h != "" {
		head, headOwnerOK = headBranch(rp, h)
		headRepo = rp
		if !headOwnerOK {
			s.mu.Lock()
			if f, b, ok := s.forkHeadLocked(rp, h); ok {
				headRepo, head, headOwnerOK = f, b, true
			}
			s.mu.Unlock()
		}
	}
	base := q.Get("base")
	s.mu.Lock()
	defer s.mu.Unlock()
	var list []*pull
	for _, p := range rp.pulls {
		switch {
		case !headOwnerOK,
			state != "all" && p.issue.state != state,
			head != "" && (p.headRef != head || p.headRepoOr(rp) != headRepo),
			base != "" && p.baseRef != base:
			continue
		}
		list = append(list, p)
	}
	// GitHub's default order: newest first.
	slices.SortFunc(list, func(a, b *pull) int { return b.issue.number - a.issue.number })
	out := []*github.PullRequest{}
	for _, p := range list {
		out = append(out, s.pullJSON(rp, p))
	}
	writeJSON(w, http.StatusOK, paginate(w, r, out))
}

func (s *Server) pullFromPath(w http.ResponseWriter, r *http.Request, rp *repo) (*pull, bool) {
	is, ok := issueFromPath(w, r, rp)
	if !ok {
		return nil, false
	}
	if is.pull == nil {
		writeError(w, http.StatusNotFound, "Not Found")
		return nil, false
	}
	return is.pull, true
}

type pullUpdate struct {
	Title *string `json:"title"`
	Body  *string `json:"body"`
	State *string `json:"state"`
	Base  *string `json:"base"`
	// Draft is read and ignored, as GitHub's REST API ignores it: only
	// GraphQL changes a PR's draft state (graphql.go).
	Draft *bool `json:"draft"`
}

// draftsRefused is GitHub's 422 message for a draft PR where the owner's
// plan has none.
const draftsRefused = "Draft pull requests are not supported in this repository."

func (s *Server) editPull(w http.ResponseWriter, r *http.Request) {
	var req pullUpdate
	rp, c, ok := s.accessBody(w, r, "read", &req)
	if !ok {
		return
	}
	if req.State != nil && *req.State != "open" && *req.State != "closed" {
		validationFailed(w, fieldError{Resource: "PullRequest", Field: "state", Code: "invalid"})
		return
	}
	if req.Base != nil {
		if _, ok := branchSHA(rp, *req.Base); !ok {
			validationFailed(w, fieldError{Resource: "PullRequest", Field: "base", Code: "invalid"})
			return
		}
	}
	s.mu.Lock()
	p, ok := s.pullFromPath(w, r, rp)
	if !ok {
		s.mu.Unlock()
		return
	}
	if !s.authorOrLocked(w, c, rp, p.issue.user, "write", "Must have push access to edit this pull request") {
		s.mu.Unlock()
		return
	}
	var events []any
	edited := false
	changes := &github.EditChange{}
	if req.Title != nil && *req.Title != p.issue.title {
		changes.Title = &github.EditTitle{From: github.String(p.issue.title)}
		p.issue.title, edited = *req.Title, true
	}
	if req.Body != nil && *req.Body != p.issue.body {
		changes.Body = &github.EditBody{From: github.String(p.issue.body)}
		p.issue.body, edited = *req.Body, true
	}
	if req.Base != nil && *req.Base != p.baseRef {
		changes.Base = &github.EditBase{Ref: &github.EditRef{From: github.String(p.baseRef)}, SHA: &github.EditSHA{From: github.String(p.baseSHA)}}
		p.baseRef, edited = *req.Base, true
	}
	if edited {
		p.issue.updatedAt = s.now()
		ev := s.pullEvent(rp, p, "edited", c.user)
		ev.Changes = changes
		events = append(events, ev)
	}
	if req.State != nil {
		if ev := s.setStateLocked(rp, p.issue, *req.State, c.user); ev != nil {
			events = append(events, ev)
		}
	}
	out := s.pullJSON(rp, p)
	s.mu.Unlock()
	for _, ev := range events {
		s.hooks.send("pull_request", rp.key(), ev)
	}
	writeJSON(w, http.StatusOK, out)
}

// MarkFork makes pull request n report its head as coming from forkOwner's
// fork of the repo (head.repo.full_name "<forkOwner>/<repo>"), as a PR
// from a fork does. Forks are not emulated: the head branch still lives in
// the repo itself.
func (s *Server) MarkFork(owner, repoName string, n int, forkOwner string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp := s.repoLocked(owner, repoName)
	if rp == nil || rp.pulls[n] == nil {
		return fmt.Errorf("emulator: mark fork: no pull request %s/%s#%d", owner, repoName, n)
	}
	rp.pulls[n].fork = s.accountLocked(forkOwner)
	return nil
}

// PullRequests returns copies of a repo's pull requests, oldest first.
func (s *Server) PullRequests(owner, repoName string) []*github.PullRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp := s.repoLocked(owner, repoName)
	if rp == nil {
		return nil
	}
	var nums []int
	for n := range rp.pulls {
		nums = append(nums, n)
	}
	slices.Sort(nums)
	out := []*github.PullRequest{}
	for _, n := range nums {
		out = append(out, s.pullJSON(rp, rp.pulls[n]))
	}
	return out
}
