package emulator

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/go-github/v62/github"
	"github.com/gorilla/mux"
)

// RepoOptions shape a repository made by CreateRepo.
type RepoOptions struct {
	// DefaultBranch defaults to "main".
	DefaultBranch string
	Private       bool
	Description   string
	// Files are committed to the default branch as the initial commit,
	// path → content.
	Files map[string]string
}

type repo struct {
	id            int64
	owner, name   string
	ownerUser     *user
	private       bool
	description   string
	defaultBranch string
	gitDir        string
	createdAt     time.Time

	perms      map[string]string // lower-case login → role
	labels     map[string]*label // lower-case name
	lastNumber int               // issues and pulls share one sequence
	issues     map[int]*issue
	comments   map[int64]*comment
	reactions  []*reaction
	pulls      map[int]*pull
	checkRuns  map[int64]*checkRun
	suites     map[string]int64 // head SHA → check suite id
	loop       *loopData        // reviews and other apps' suites (reviews.go); nil until used

	// parent is the repo this one is a fork of (nil: not a fork).
	parent *repo

	// pushMu serialises receive-packs so the refs diffed before and after
	// one belong to that push alone.
	pushMu sync.Mutex
}

func (rp *repo) fullName() string { return rp.owner + "/" + rp.name }
func (rp *repo) key() string      { return strings.ToLower(rp.fullName()) }

// CreateRepo makes a real bare git repository with one commit holding
// opts.Files on the default branch.
func (s *Server) CreateRepo(owner, name string, opts RepoOptions) (*github.Repository, error) {
	if opts.DefaultBranch == "" {
		opts.DefaultBranch = "main"
	}
	if !validName(owner) || !validName(name) {
		return nil, fmt.Errorf("emulator: create repo %s/%s: invalid name", owner, name)
	}
	key := strings.ToLower(owner + "/" + name)
	s.mu.Lock()
	if s.repos[key] != nil {
		s.mu.Unlock()
		return nil, fmt.Errorf("emulator: create repo %s/%s: already exists", owner, name)
	}
	// Reserve the name while git works outside the lock.
	rp := &repo{
		id: s.newID(), owner: owner, name: name, ownerUser: s.accountLocked(owner),
		private: opts.Private, description: opts.Description, defaultBranch: opts.DefaultBranch,
		gitDir: filepath.Join(s.dir, owner, name+".git"), createdAt: s.now(),
		perms: map[string]string{}, labels: map[string]*label{}, issues: map[int]*issue{},
		comments: map[int64]*comment{}, pulls: map[int]*pull{}, checkRuns: map[int64]*checkRun{},
		suites: map[string]int64{},
	}
	s.repos[key] = rp
	s.mu.Unlock()
	if err := s.initGitRepo(rp, opts.Files); err != nil {
		s.mu.Lock()
		delete(s.repos, key)
		s.mu.Unlock()
		return nil, fmt.Errorf("emulator: create repo %s/%s: %w", owner, name, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.repoJSON(rp), nil
}

func validName(n string) bool {
	if n == "" || n == "." || n == ".." || strings.HasPrefix(n, "-") {
		return false
	}
	return !strings.ContainsAny(n, "/\\ \t\n:")
}

// initGitRepo commits the files through a scratch work tree and index so
// the bare repository never holds either.
func (s *Server) initGitRepo(rp *repo, files map[string]string) error {
	if _, err := runGit(nil, "", nil, "init", "--bare", "--quiet", "--initial-branch="+rp.defaultBranch, rp.gitDir); err != nil {
		return err
	}
	if _, err := runGit(nil, rp.gitDir, nil, "config", "http.receivepack", "true"); err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "emulator-init-")
	if err != nil {
		return fmt.Errorf("scratch dir: %w", err)
	}
	defer os.RemoveAll(work)
	tree := filepath.Join(work, "tree")
	for p, content := range files {
		full := filepath.Join(tree, filepath.FromSlash(path.Clean("/"+p)))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return fmt.Errorf("write %s: %w", p, err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			return fmt.Errorf("write %s: %w", p, err)
		}
	}
	if err := os.MkdirAll(tree, 0o755); err != nil {
		return fmt.Errorf("scratch dir: %w", err)
	}
	env := []string{
		"GIT_INDEX_FILE=" + filepath.Join(work, "index"),
		"GIT_AUTHOR_NAME=" + rp.owner, "GIT_AUTHOR_EMAIL=" + noreply(rp.owner),
		"GIT_COMMITTER_NAME=" + rp.owner, "GIT_COMMITTER_EMAIL=" + noreply(rp.owner),
	}
	if _, err := runGit(env, rp.gitDir, nil, "--work-tree="+tree, "add", "-A"); err != nil {
		return err
	}
	_, err = runGit(env, rp.gitDir, nil, "--work-tree="+tree, "commit", "--quiet", "--allow-empty", "-m", "Initial commit")
	return err
}

func noreply(login string) string { return login + "@users.noreply.github.com" }

// SetPermission gives a user a role on a repo: admin, maintain, write,
// triage, read or none. The user is created if needed.
func (s *Server) SetPermission(owner, repoName, login, perm string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp := s.repos[strings.ToLower(owner+"/"+repoName)]
	if rp == nil {
		return
	}
	s.accountLocked(login)
	rp.perms[strings.ToLower(login)] = perm
}

func (s *Server) repoLocked(owner, name string) *repo {
	return s.repos[strings.ToLower(owner+"/"+name)]
}

// inRepo answers one of the read-outs tests ask for (IssueComments,
// Reactions, ReviewComments): f on repo owner/name with s.mu held, or nil
// when there is no such repo.
func inRepo[T any](s *Server, owner, name string, f func(*repo) []T) []T {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp := s.repoLocked(owner, name)
	if rp == nil {
		return nil
	}
	return f(rp)
}

func (s *Server) repoJSON(rp *repo) *github.Repository {
	t := github.Timestamp{Time: rp.createdAt}
	vis := "public"
	if rp.private {
		vis = "private"
	}
	api := s.url + "/repos/" + rp.fullName()
	return &github.Repository{
		ID:            github.Int64(rp.id),
		NodeID:        github.String(nodeID("Repository", rp.id)),
		Name:          github.String(rp.name),
		FullName:      github.String(rp.fullName()),
		Owner:         s.userJSON(rp.ownerUser),
		Private:       github.Bool(rp.private),
		Visibility:    github.String(vis),
		Description:   github.String(rp.description),
		Fork:          github.Bool(rp.parent != nil),
		URL:           github.String(api),
		HTMLURL:       github.String(s.url + "/" + rp.fullName()),
		CloneURL:      github.String(s.url + "/" + rp.fullName() + ".git"),
		DefaultBranch: github.String(rp.defaultBranch),
		CreatedAt:     &t,
		UpdatedAt:     &t,
		PushedAt:      &t,
		HasIssues:     github.Bool(true),
		Archived:      github.Bool(false),
		Disabled:      github.Bool(false),
		PullsURL:      github.String(api + "/pulls{/number}"),
		IssuesURL:     github.String(api + "/issues{/number}"),
	}
}

func (s *Server) getRepo(w http.ResponseWriter, r *http.Request) {
	rp, _, ok := s.repoAccess(w, r, "read")
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	writeJSON(w, http.StatusOK, s.fullRepoJSON(rp))
}

// fullRepoJSON is a repo's full form (GET /repos/{o}/{r}): counts that
// webhooks' repositories lack, and a fork's parent and source.
func (s *Server) fullRepoJSON(rp *repo) *github.Repository {
	full := s.repoJSON(rp)
	full.NetworkCount, full.SubscribersCount = github.Int(0), github.Int(0)
	if rp.parent != nil {
		full.Parent, full.Source = s.repoJSON(rp.parent), s.repoJSON(rp.source())
	}
	return full
}

// commitFromPath checks read access to the repo of the path and resolves
// the {ref} it names (a branch, tag or SHA) to a commit SHA; it answers
// every failure itself, 422 for a ref that names no commit, as GitHub
// does.
func (s *Server) commitFromPath(w http.ResponseWriter, r *http.Request) (*repo, string, bool) {
	rp, _, ok := s.repoAccess(w, r, "read")
	if !ok {
		return nil, "", false
	}
	ref := mux.Vars(r)["ref"]
	sha, ok := resolveCommit(rp, ref)
	if !ok {
		writeError(w, http.StatusUnprocessableEntity, "No commit found for SHA: "+ref)
		return nil, "", false
	}
	return rp, sha, true
}

// resolveCommit turns a branch, tag or SHA into a commit SHA.
func resolveCommit(rp *repo, ref string) (string, bool) {
	if ref == "" || strings.HasPrefix(ref, "-") {
		return "", false
	}
	out, err := runGit(nil, rp.gitDir, nil, "rev-parse", "--verify", "--quiet", ref+"^{commit}")
	if err != nil {
		return "", false
	}
	return strings.TrimSpace(out), true
}

func (s *Server) getContents(w http.ResponseWriter, r *http.Request) {
	rp, _, ok := s.repoAccess(w, r, "read")
	if !ok {
		return
	}
	p := strings.Trim(mux.Vars(r)["path"], "/")
	ref := r.URL.Query().Get("ref")
	if ref == "" {
		ref = rp.defaultBranch
	}
	sha, ok := resolveCommit(rp, ref)
	if !ok {
		writeError(w, http.StatusNotFound, "No commit found for the ref "+ref)
		return
	}
	kind, err := runGit(nil, rp.gitDir, nil, "cat-file", "-t", sha+":"+p)
	if err != nil {
		writeError(w, http.StatusNotFound, "Not Found")
		return
	}
	s.mu.Lock()
	base := s.url
	s.mu.Unlock()
	entry := func(name, p, typ, sha string, size int) map[string]any {
		api := fmt.Sprintf("%s/repos/%s/contents/%s?ref=%s", base, rp.fullName(), p, ref)
		c := &github.RepositoryContent{
			Type: github.String(typ), Name: github.String(name), Path: github.String(p),
			SHA: github.String(sha), Size: github.Int(size), URL: github.String(api),
			HTMLURL: github.String(fmt.Sprintf("%s/%s/blob/%s/%s", base, rp.fullName(), ref, p)),
			GitURL:  github.String(fmt.Sprintf("%s/repos/%s/git/blobs/%s", base, rp.fullName(), sha)),
		}
		if typ == "dir" {
			c.GitURL = github.String(fmt.Sprintf("%s/repos/%s/git/trees/%s", base, rp.fullName(), sha))
		} else {
			c.DownloadURL = github.String(fmt.Sprintf("%s/%s/raw/%s/%s", base, rp.fullName(), ref, p))
		}
		m, _ := toMap(c) // a struct of strings and ints: it encodes
		setAbsent(m, "download_url", nil)
		m["_links"] = map[string]any{"self": c.GetURL(), "git": c.GetGitURL(), "html": c.GetHTMLURL()}
		return m
	}
	if strings.TrimSpace(kind) == "blob" {
		data, err := runGit(nil, rp.gitDir, nil, "cat-file", "blob", sha+":"+p)
		if err != nil {
			writeError(w, http.StatusInternalServerError, "git: "+err.Error())
			return
		}
		blob, _ := runGit(nil, rp.gitDir, nil, "rev-parse", sha+":"+p)
		c := entry(path.Base(p), p, "file", strings.TrimSpace(blob), len(data))
		c["encoding"] = "base64"
		c["content"] = wrap60(base64.StdEncoding.EncodeToString([]byte(data)))
		writeJSON(w, http.StatusOK, c)
		return
	}
	spec := sha + ":" + p
	if p == "" {
		spec = sha
	}
	out, err := runGit(nil, rp.gitDir, nil, "ls-tree", "-l", spec)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "git: "+err.Error())
		return
	}
	list := []map[string]any{}
	for line := range strings.Lines(out) {
		meta, name, ok := strings.Cut(strings.TrimRight(line, "\n"), "\t")
		if !ok {
			continue
		}
		f := strings.Fields(meta) // mode type sha size
		if len(f) < 4 {
			continue
		}
		typ := map[string]string{"blob": "file", "tree": "dir", "commit": "submodule"}[f[1]]
		size, _ := strconv.Atoi(f[3])
		list = append(list, entry(name, path.Join(p, name), typ, f[2], size))
	}
	writeJSON(w, http.StatusOK, list)
}

// wrap60 breaks base64 into 60-column lines, as GitHub's contents API does.
func wrap60(s string) string {
	var b strings.Builder
	for len(s) > 60 {
		b.WriteString(s[:60])
		b.WriteByte('\n')
		s = s[60:]
	}
	b.WriteString(s)
	b.WriteByte('\n')
	return b.String()
}

// refs lists a repo's refs, full name → SHA the ref points at.
func refs(rp *repo) (map[string]string, error) {
	out, err := runGit(nil, rp.gitDir, nil, "for-each-ref", "--format=%(objectname) %(refname)")
	if err != nil {
		return nil, err
	}
	m := map[string]string{}
	for line := range strings.Lines(out) {
		sha, name, ok := strings.Cut(strings.TrimSpace(line), " ")
		if ok {
			m[name] = sha
		}
	}
	return m, nil
}

func (s *Server) refJSON(rp *repo, name, sha string) *github.Reference {
	typ := "commit"
	if strings.HasPrefix(name, "refs/tags/") {
		if t, err := runGit(nil, rp.gitDir, nil, "cat-file", "-t", sha); err == nil && strings.TrimSpace(t) == "tag" {
			typ = "tag"
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	api := s.url + "/repos/" + rp.fullName() + "/git/"
	return &github.Reference{
		Ref:    github.String(name),
		URL:    github.String(api + name),
		NodeID: github.String(base64.StdEncoding.EncodeToString([]byte("Ref:" + rp.fullName() + ":" + name))),
		Object: &github.GitObject{Type: github.String(typ), SHA: github.String(sha), URL: github.String(api + typ + "s/" + sha)},
	}
}

// matchRefs returns the refs under refs/<prefix>, sorted, as GitHub's
// matching-refs does.
func (s *Server) matchRefs(rp *repo, prefix string) ([]*github.Reference, error) {
	all, err := refs(rp)
	if err != nil {
		return nil, err
	}
	var names []string
	for n := range all {
		if strings.HasPrefix(n, "refs/"+prefix) {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	out := []*github.Reference{}
	for _, n := range names {
		out = append(out, s.refJSON(rp, n, all[n]))
	}
	return out, nil
}

func (s *Server) getRef(w http.ResponseWriter, r *http.Request) {
	rp, _, ok := s.repoAccess(w, r, "read")
	if !ok {
		return
	}
	name := "refs/" + strings.TrimPrefix(mux.Vars(r)["ref"], "refs/")
	all, err := refs(rp)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "git: "+err.Error())
		return
	}
	sha, found := all[name]
	if !found {
		writeError(w, http.StatusNotFound, "Not Found")
		return
	}
	writeJSON(w, http.StatusOK, s.refJSON(rp, name, sha))
}

// listRefs serves /git/refs[/{ref}]: an exact ref as one object, else the
// refs it prefixes as an array, as GitHub still does for this old path.
func (s *Server) listRefs(w http.ResponseWriter, r *http.Request) {
	rp, _, ok := s.repoAccess(w, r, "read")
	if !ok {
		return
	}
	prefix := strings.TrimPrefix(mux.Vars(r)["ref"], "refs/")
	all, err := refs(rp)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "git: "+err.Error())
		return
	}
	if sha, found := all["refs/"+prefix]; found && prefix != "" {
		writeJSON(w, http.StatusOK, s.refJSON(rp, "refs/"+prefix, sha))
		return
	}
	list, err := s.matchRefs(rp, prefix)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "git: "+err.Error())
		return
	}
	if len(list) == 0 {
		writeError(w, http.StatusNotFound, "Not Found")
		return
	}
	writeJSON(w, http.StatusOK, list)
}

func (s *Server) matchingRefs(w http.ResponseWriter, r *http.Request) {
	rp, _, ok := s.repoAccess(w, r, "read")
	if !ok {
		return
	}
	list, err := s.matchRefs(rp, strings.TrimPrefix(mux.Vars(r)["ref"], "refs/"))
	if err != nil {
		writeError(w, http.StatusInternalServerError, "git: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, paginate(w, r, list))
}

// commitJSON describes one commit as GET /repos/{o}/{r}/commits/{ref} does.
func (s *Server) commitJSON(rp *repo, sha string) (map[string]any, error) {
	c, err := readCommit(rp, sha)
	if err != nil {
		return nil, err
	}
	stats := map[string][2]int{}
	args := []string{"diff-tree", "-r", "--no-commit-id", "--numstat", "--no-renames"}
	if len(c.parents) == 0 {
		args = append(args, "--root", c.sha)
	} else {
		args = append(args, c.parents[0], c.sha)
	}
	if out, err := runGit(nil, rp.gitDir, nil, args...); err == nil {
		for line := range strings.Lines(out) {
			f := strings.SplitN(strings.TrimRight(line, "\n"), "\t", 3)
			if len(f) == 3 {
				add, _ := strconv.Atoi(f[0]) // "-" for binary files: 0
				del, _ := strconv.Atoi(f[1])
				stats[f[2]] = [2]int{add, del}
			}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	api := s.url + "/repos/" + rp.fullName()
	html := s.url + "/" + rp.fullName()
	gitUser := func(email string) any {
		// GitHub links a commit to the account whose address it carries.
		for _, u := range s.users {
			if strings.EqualFold(email, noreply(u.login)) {
				return s.userJSON(u)
			}
		}
		return nil
	}
	parents := []any{}
	for _, p := range c.parents {
		parents = append(parents, map[string]any{"sha": p, "url": api + "/commits/" + p, "html_url": html + "/commit/" + p})
	}
	files := []any{}
	var adds, dels int
	for _, f := range c.files {
		st := stats[f.path]
		adds, dels = adds+st[0], dels+st[1]
		files = append(files, map[string]any{
			"sha": f.blob, "filename": f.path, "status": f.status,
			"additions": st[0], "deletions": st[1], "changes": st[0] + st[1],
			"blob_url":     html + "/blob/" + c.sha + "/" + f.path,
			"raw_url":      html + "/raw/" + c.sha + "/" + f.path,
			"contents_url": api + "/contents/" + f.path + "?ref=" + c.sha,
		})
	}
	person := func(name, email string, at time.Time) map[string]any {
		return map[string]any{"name": name, "email": email, "date": at.UTC().Format(time.RFC3339)}
	}
	return map[string]any{
		"sha": c.sha, "node_id": base64.StdEncoding.EncodeToString([]byte("Commit:" + c.sha)),
		"url": api + "/commits/" + c.sha, "html_url": html + "/commit/" + c.sha,
		"comments_url": api + "/commits/" + c.sha + "/comments",
		"commit": map[string]any{
			"url":           api + "/git/commits/" + c.sha,
			"message":       c.message,
			"author":        person(c.authorName, c.authorEmail, c.authorDate),
			"committer":     person(c.committerName, c.committerEmail, c.committerDate),
			"tree":          map[string]any{"sha": c.tree, "url": api + "/git/trees/" + c.tree},
			"comment_count": 0,
			"verification":  map[string]any{"verified": false, "reason": "unsigned", "signature": nil, "payload": nil, "verified_at": nil},
		},
		"author": gitUser(c.authorEmail), "committer": gitUser(c.committerEmail),
		"parents": parents, "files": files,
		"stats": map[string]any{"additions": adds, "deletions": dels, "total": adds + dels},
	}, nil
}

func (s *Server) getCommit(w http.ResponseWriter, r *http.Request) {
	rp, sha, ok := s.commitFromPath(w, r)
	if !ok {
		return
	}
	c, err := s.commitJSON(rp, sha)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "git: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, c)
}

func (s *Server) getBranch(w http.ResponseWriter, r *http.Request) {
	rp, _, ok := s.repoAccess(w, r, "read")
	if !ok {
		return
	}
	b := mux.Vars(r)["branch"]
	sha, found := branchSHA(rp, b)
	if !found {
		writeError(w, http.StatusNotFound, "Branch not found")
		return
	}
	c, err := s.commitJSON(rp, sha)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "git: "+err.Error())
		return
	}
	s.mu.Lock()
	api := s.url + "/repos/" + rp.fullName() + "/branches/" + b
	html := s.url + "/" + rp.fullName() + "/tree/" + b
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{
		"name": b, "commit": c, "protected": false,
		"_links":         map[string]any{"self": api, "html": html},
		"protection":     map[string]any{"enabled": false, "required_status_checks": map[string]any{"enforcement_level": "off", "contexts": []any{}, "checks": []any{}}},
		"protection_url": api + "/protection",
	})
}

// branchSHA is the tip of refs/heads/<b>, if that branch exists.
func branchSHA(rp *repo, b string) (string, bool) {
	all, err := refs(rp)
	if err != nil {
		return "", false
	}
	sha, ok := all["refs/heads/"+b]
	return sha, ok
}

// permissionLevel is GET .../collaborators/{u}/permission's body; go-github
// v62's RepositoryPermissionLevel lacks role_name.
type permissionLevel struct {
	Permission string         `json:"permission"`
	RoleName   string         `json:"role_name"`
	User       map[string]any `json:"user"`
}

func (s *Server) getPermission(w http.ResponseWriter, r *http.Request) {
	rp, _, ok := s.repoAccess(w, r, "read")
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.users[strings.ToLower(mux.Vars(r)["user"])]
	if u == nil {
		writeError(w, http.StatusNotFound, "Not Found")
		return
	}
	role := s.userPermissionLocked(u, rp)
	// The legacy "permission" field knows only four levels.
	perm := map[string]string{"admin": "admin", "maintain": "write", "write": "write", "triage": "read", "read": "read"}[role]
	if perm == "" {
		perm = "none"
	}
	// The user is a collaborator: with their role and permissions.
	collab, _ := toMap(s.userJSON(u)) // plain strings: it encodes
	collab["role_name"] = role
	collab["permissions"] = map[string]bool{
		"admin": permRank(role) >= permRank("admin"), "maintain": permRank(role) >= permRank("maintain"),
		"push": permRank(role) >= permRank("write"), "triage": permRank(role) >= permRank("triage"), "pull": permRank(role) >= permRank("read"),
	}
	writeJSON(w, http.StatusOK, permissionLevel{Permission: perm, RoleName: role, User: collab})
}

// Ref returns the SHA a ref ("heads/main", "refs/tags/v1", "main") points
// at, for tests.
func (s *Server) Ref(owner, repoName, ref string) (string, error) {
	s.mu.Lock()
	rp := s.repoLocked(owner, repoName)
	s.mu.Unlock()
	if rp == nil {
		return "", fmt.Errorf("emulator: ref: no repo %s/%s", owner, repoName)
	}
	all, err := refs(rp)
	if err != nil {
		return "", fmt.Errorf("emulator: ref: %w", err)
	}
	for _, name := range []string{ref, "refs/" + ref, "refs/heads/" + ref} {
		if sha, ok := all[name]; ok {
			return sha, nil
		}
	}
	return "", fmt.Errorf("emulator: ref: %s/%s has no ref %s", owner, repoName, ref)
}

// CreateBranch commits files on top of from (a branch or SHA) as a new
// branch, for tests that need a head to open a PR from. It fires no push
// webhook: it stands for history that already exists.
func (s *Server) CreateBranch(owner, repoName, branch, from string, files map[string]string) error {
	s.mu.Lock()
	rp := s.repoLocked(owner, repoName)
	s.mu.Unlock()
	if rp == nil {
		return fmt.Errorf("emulator: create branch: no repo %s/%s", owner, repoName)
	}
	base, ok := resolveCommit(rp, from)
	if !ok {
		return fmt.Errorf("emulator: create branch %s: no commit %s", branch, from)
	}
	work, err := os.MkdirTemp("", "emulator-branch-")
	if err != nil {
		return fmt.Errorf("emulator: create branch: %w", err)
	}
	defer os.RemoveAll(work)
	env := []string{
		"GIT_INDEX_FILE=" + filepath.Join(work, "index"),
		"GIT_AUTHOR_NAME=" + rp.owner, "GIT_AUTHOR_EMAIL=" + noreply(rp.owner),
		"GIT_COMMITTER_NAME=" + rp.owner, "GIT_COMMITTER_EMAIL=" + noreply(rp.owner),
	}
	if _, err := runGit(env, rp.gitDir, nil, "read-tree", base); err != nil {
		return fmt.Errorf("emulator: create branch %s: %w", branch, err)
	}
	for p, content := range files {
		blob, err := runGit(nil, rp.gitDir, strings.NewReader(content), "hash-object", "-w", "--stdin")
		if err != nil {
			return fmt.Errorf("emulator: create branch %s: %w", branch, err)
		}
		if _, err := runGit(env, rp.gitDir, nil, "update-index", "--add", "--cacheinfo", "100644,"+strings.TrimSpace(blob)+","+p); err != nil {
			return fmt.Errorf("emulator: create branch %s: %w", branch, err)
		}
	}
	tree, err := runGit(env, rp.gitDir, nil, "write-tree")
	if err != nil {
		return fmt.Errorf("emulator: create branch %s: %w", branch, err)
	}
	commit, err := runGit(env, rp.gitDir, nil, "commit-tree", strings.TrimSpace(tree), "-p", base, "-m", "Change on "+branch)
	if err != nil {
		return fmt.Errorf("emulator: create branch %s: %w", branch, err)
	}
	if _, err := runGit(nil, rp.gitDir, nil, "update-ref", "refs/heads/"+branch, strings.TrimSpace(commit)); err != nil {
		return fmt.Errorf("emulator: create branch %s: %w", branch, err)
	}
	return nil
}
