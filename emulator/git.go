package emulator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/google/go-github/v62/github"
)

const zeroSHA = "0000000000000000000000000000000000000000"

// runGit runs git against gitDir ("" for none) and returns its stdout.
func runGit(env []string, gitDir string, stdin io.Reader, args ...string) (string, error) {
	if gitDir != "" {
		args = append([]string{"--git-dir=" + gitDir}, args...)
	}
	cmd := exec.Command("git", args...)
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "GIT_CONFIG_NOSYSTEM=1")
	cmd.Env = append(cmd.Env, env...)
	cmd.Stdin = stdin
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

type commitFile struct {
	path   string
	status string // GitHub's words: added, modified, removed
	blob   string // the file's blob after the commit (before it, if removed)
}

type commitInfo struct {
	sha, tree                     string
	parents                       []string
	authorName, authorEmail       string
	authorDate                    time.Time
	committerName, committerEmail string
	committerDate                 time.Time
	message                       string
	files                         []commitFile
}

// readCommit reads a commit and the files it changed against its first
// parent (against nothing for a root commit), which is what GitHub reports.
func readCommit(rp *repo, sha string) (*commitInfo, error) {
	out, err := runGit(nil, rp.gitDir, nil, "show", "-s", "--format=%H%x00%T%x00%P%x00%an%x00%ae%x00%aI%x00%cn%x00%ce%x00%cI%x00%B", sha+"^{commit}")
	if err != nil {
		return nil, err
	}
	f := strings.SplitN(out, "\x00", 10)
	if len(f) != 10 {
		return nil, fmt.Errorf("git show %s: unexpected output", sha)
	}
	c := &commitInfo{
		sha: f[0], tree: f[1], parents: strings.Fields(f[2]),
		authorName: f[3], authorEmail: f[4], committerName: f[6], committerEmail: f[7],
		message: strings.TrimRight(f[9], "\n"),
	}
	c.authorDate, _ = time.Parse(time.RFC3339, f[5])
	c.committerDate, _ = time.Parse(time.RFC3339, f[8])
	args := []string{"diff-tree", "-r", "--no-commit-id", "--raw", "--no-renames", "--no-abbrev"}
	if len(c.parents) == 0 {
		args = append(args, "--root", c.sha)
	} else {
		args = append(args, c.parents[0], c.sha)
	}
	diff, err := runGit(nil, rp.gitDir, nil, args...)
	if err != nil {
		return nil, err
	}
	for line := range strings.Lines(diff) {
		// ":<mode> <mode> <old sha> <new sha> <status>\t<path>"
		meta, p, ok := strings.Cut(strings.TrimRight(line, "\n"), "\t")
		f := strings.Fields(meta)
		if !ok || len(f) < 5 {
			continue
		}
		status, blob := "modified", f[3]
		switch f[4] {
		case "A":
			status = "added"
		case "D":
			status, blob = "removed", f[2]
		}
		c.files = append(c.files, commitFile{path: p, status: status, blob: blob})
	}
	return c, nil
}

var gitPathRE = regexp.MustCompile(`^/([^/]+)/([^/]+?)\.git(/.*)?$`)

// gitPath recognises git smart HTTP URLs: /{owner}/{repo}.git/...
func gitPath(p string) (owner, name, rest string, ok bool) {
	m := gitPathRE.FindStringSubmatch(p)
	if m == nil {
		return "", "", "", false
	}
	return m[1], m[2], m[3], true
}

// gitUnauthorized asks git for credentials the way GitHub does.
func gitUnauthorized(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Basic realm="GitHub"`)
	http.Error(w, "Invalid username or token. Password authentication is not supported for Git operations.", http.StatusUnauthorized)
}

// serveGit hands fetches and pushes to `git http-backend`, after checking
// credentials as GitHub does: anonymous fetches of public repos are fine,
// everything else needs a token, and pushing needs write.
func (s *Server) serveGit(w http.ResponseWriter, r *http.Request, owner, name, rest string) {
	push := rest == "/git-receive-pack" || r.URL.Query().Get("service") == "git-receive-pack"
	if rest != "/info/refs" && rest != "/git-upload-pack" && rest != "/git-receive-pack" {
		http.NotFound(w, r)
		return
	}
	secret, _, hasCreds := credentials(r)
	s.mu.Lock()
	rp := s.repoLocked(owner, name)
	var c *caller
	credsOK := false
	if hasCreds {
		c, credsOK = s.callerLocked(secret)
	}
	perm := "none"
	if rp != nil && credsOK {
		perm = s.permissionLocked(c, rp)
	} else if rp != nil && !hasCreds && !rp.private {
		perm = "read"
	}
	s.mu.Unlock()
	switch {
	case hasCreds && !credsOK:
		gitUnauthorized(w)
		return
	case !hasCreds && (push || rp == nil || rp.private):
		gitUnauthorized(w)
		return
	case rp == nil || perm == "none":
		http.Error(w, "Repository not found.", http.StatusNotFound)
		return
	case push && permRank(perm) < permRank("write"):
		http.Error(w, fmt.Sprintf("Permission to %s.git denied to %s.", rp.fullName(), c.user.login), http.StatusForbidden)
		return
	}
	login := "anonymous"
	if c != nil {
		login = c.user.login
	}
	// http-backend finds the repo from the path, so use its on-disk case.
	r.URL.Path = "/" + rp.fullName() + ".git" + rest
	gitBin, err := exec.LookPath("git")
	if err != nil {
		http.Error(w, "git not installed", http.StatusInternalServerError)
		return
	}
	h := &cgi.Handler{
		Path: gitBin,
		Args: []string{"http-backend"},
		Env: []string{
			"GIT_PROJECT_ROOT=" + s.dir,
			"GIT_HTTP_EXPORT_ALL=1",
			// http-backend refuses receive-pack without an authenticated
			// user; we did the authenticating.
			"REMOTE_USER=" + login,
			"GIT_CONFIG_NOSYSTEM=1",
		},
		Stderr: io.Discard,
	}
	if !(push && r.Method == http.MethodPost) {
		h.ServeHTTP(w, r)
		return
	}
	rp.pushMu.Lock()
	before, err := refs(rp)
	if err != nil {
		rp.pushMu.Unlock()
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	h.ServeHTTP(w, r)
	after, err := refs(rp)
	rp.pushMu.Unlock()
	if err != nil {
		s.log.Error("emulator: read refs after push", "repo", rp.fullName(), "err", err)
		return
	}
	s.firePushes(rp, c, before, after)
}

// firePushes sends one push event per ref the push changed, in ref order.
func (s *Server) firePushes(rp *repo, c *caller, before, after map[string]string) {
	var names []string
	for n := range before {
		if after[n] != before[n] {
			names = append(names, n)
		}
	}
	for n := range after {
		if _, ok := before[n]; !ok {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	for _, n := range names {
		// GitHub sends push events for branches and tags only; a push of
		// refs/notes/* (specloop's statements) fires none.
		if !strings.HasPrefix(n, "refs/heads/") && !strings.HasPrefix(n, "refs/tags/") {
			continue
		}
		ev, err := s.pushEvent(rp, c, n, before, after)
		if err != nil {
			s.log.Error("emulator: build push event", "repo", rp.fullName(), "ref", n, "err", err)
			continue
		}
		s.hooks.send("push", rp.key(), ev)
	}
}

func (s *Server) pushEvent(rp *repo, c *caller, ref string, before, after map[string]string) (map[string]any, error) {
	old, nu := before[ref], after[ref]
	created, deleted := old == "", nu == ""
	if created {
		old = zeroSHA
	}
	if deleted {
		nu = zeroSHA
	}
	forced := false
	if !created && !deleted {
		_, err := runGit(nil, rp.gitDir, nil, "merge-base", "--is-ancestor", old, nu)
		forced = err != nil
	}
	var commits []*commitInfo
	if !deleted {
		// The pushed commits: new on this ref, and for a new ref, new to
		// the repository (GitHub leaves out commits other branches had).
		args := []string{"rev-list", "--reverse", "--topo-order", nu, "--not"}
		if created {
			for _, sha := range before {
				args = append(args, sha)
			}
		} else {
			args = append(args, old)
		}
		out, err := runGit(nil, rp.gitDir, nil, args...)
		if err != nil {
			return nil, err
		}
		for _, sha := range strings.Fields(out) {
			ci, err := readCommit(rp, sha)
			if err != nil {
				return nil, err
			}
			commits = append(commits, ci)
		}
	}
	var head *commitInfo
	if !deleted {
		if len(commits) > 0 {
			head = commits[len(commits)-1]
		} else {
			ci, err := readCommit(rp, nu)
			if err != nil {
				return nil, err
			}
			head = ci
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ev := &github.PushEvent{
		Ref:          github.String(ref),
		Before:       github.String(old),
		After:        github.String(nu),
		Created:      github.Bool(created),
		Deleted:      github.Bool(deleted),
		Forced:       github.Bool(forced),
		Compare:      github.String(fmt.Sprintf("%s/%s/compare/%s...%s", s.url, rp.fullName(), old[:12], nu[:12])),
		Commits:      []*github.HeadCommit{},
		Repo:         s.pushRepoJSON(rp),
		Pusher:       &github.CommitAuthor{Name: github.String(c.user.login), Email: github.String(noreply(c.user.login))},
		Sender:       s.userJSON(c.user),
		Installation: hookInstallation(s.installationForLocked(rp)),
	}
	for _, ci := range commits {
		ev.Commits = append(ev.Commits, s.headCommitJSON(rp, ci))
	}
	if head != nil {
		ev.HeadCommit = s.headCommitJSON(rp, head)
	}
	// go-github's struct drops what GitHub sends empty (base_ref null,
	// an empty removed list) and has a "size" GitHub's push has not.
	m, err := toMap(ev)
	if err != nil {
		return nil, err
	}
	m["base_ref"] = nil
	// go-github's push repository has no visibility; GitHub sends it.
	if repo, ok := m["repository"].(map[string]any); ok {
		repo["visibility"] = map[bool]string{true: "private", false: "public"}[rp.private]
	}
	if head == nil {
		m["head_commit"] = nil
	}
	for _, key := range []string{"commits", "head_commit"} {
		var list []any
		switch v := m[key].(type) {
		case []any:
			list = v
		case map[string]any:
			list = []any{v}
		}
		for _, e := range list {
			hc := e.(map[string]any)
			for _, k := range []string{"added", "removed", "modified"} {
				setAbsent(hc, k, []any{})
			}
		}
	}
	return m, nil
}

// toMap turns a go-github value into its JSON object, to add what its
// omitempty tags dropped.
func toMap(v any) (map[string]any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	return m, nil
}

func (s *Server) headCommitJSON(rp *repo, c *commitInfo) *github.HeadCommit {
	hc := &github.HeadCommit{
		ID:        github.String(c.sha),
		TreeID:    github.String(c.tree),
		Distinct:  github.Bool(true),
		Message:   github.String(c.message),
		Timestamp: &github.Timestamp{Time: c.committerDate},
		URL:       github.String(s.url + "/" + rp.fullName() + "/commit/" + c.sha),
		Author:    &github.CommitAuthor{Name: github.String(c.authorName), Email: github.String(c.authorEmail)},
		Committer: &github.CommitAuthor{Name: github.String(c.committerName), Email: github.String(c.committerEmail)},
		Added:     []string{},
		Removed:   []string{},
		Modified:  []string{},
	}
	for _, f := range c.files {
		switch f.status {
		case "added":
			hc.Added = append(hc.Added, f.path)
		case "removed":
			hc.Removed = append(hc.Removed, f.path)
		default:
			hc.Modified = append(hc.Modified, f.path)
		}
	}
	return hc
}

// pushRepoJSON is the repository as push payloads carry it.
func (s *Server) pushRepoJSON(rp *repo) *github.PushEventRepository {
	full := s.repoJSON(rp)
	return &github.PushEventRepository{
		ID: full.ID, NodeID: full.NodeID, Name: full.Name, FullName: full.FullName, Owner: full.Owner,
		Private: full.Private, Description: full.Description, Fork: full.Fork,
		CreatedAt: full.CreatedAt, PushedAt: &github.Timestamp{Time: s.now()}, UpdatedAt: full.UpdatedAt,
		HasIssues: full.HasIssues, Archived: full.Archived, Disabled: full.Disabled,
		DefaultBranch: full.DefaultBranch, MasterBranch: full.DefaultBranch,
		URL: full.HTMLURL, HTMLURL: full.HTMLURL, CloneURL: full.CloneURL, PullsURL: full.PullsURL,
	}
}
