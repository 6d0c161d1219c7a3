package emulator

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/google/go-github/v62/github"
)

// Forks: a fork is a repository of its own (a bare clone of the parent),
// owned by the one who forked it, with fork true and its parent and source
// named. A PR from a fork names its head "<fork owner>:<branch>"; its
// commits are fetched into the parent as refs/pull/<n>/head, as GitHub
// keeps them.

// Fork makes forkOwner's fork of owner/name, as POST .../forks does.
func (s *Server) Fork(owner, name, forkOwner string) (*github.Repository, error) {
	s.mu.Lock()
	parent := s.repoLocked(owner, name)
	if parent == nil {
		s.mu.Unlock()
		return nil, fmt.Errorf("emulator: fork: no repo %s/%s", owner, name)
	}
	if existing := s.repoLocked(forkOwner, name); existing != nil {
		defer s.mu.Unlock()
		if existing.parent == parent {
			return s.fullRepoJSON(existing), nil // GitHub answers with the fork there is
		}
		return nil, fmt.Errorf("emulator: fork: %s/%s exists and is no fork of %s", forkOwner, name, parent.fullName())
	}
	s.mu.Unlock()
	if _, err := s.CreateRepo(forkOwner, name, RepoOptions{Private: parent.private, DefaultBranch: parent.defaultBranch, Description: parent.description}); err != nil {
		return nil, err
	}
	s.mu.Lock()
	rp := s.repoLocked(forkOwner, name)
	rp.parent = parent
	s.mu.Unlock()
	// The fork holds the parent's history, every branch of it.
	if _, err := runGit(nil, rp.gitDir, nil, "fetch", "--quiet", "--force", parent.gitDir, "+refs/heads/*:refs/heads/*"); err != nil {
		return nil, fmt.Errorf("emulator: fork %s: %w", parent.fullName(), err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fullRepoJSON(rp), nil
}

func (s *Server) createFork(w http.ResponseWriter, r *http.Request) {
	rp, c, ok := s.repoAccess(w, r, "read")
	if !ok {
		return
	}
	if c.isApp() {
		writeError(w, http.StatusForbidden, "Resource not accessible by integration")
		return
	}
	out, err := s.Fork(rp.owner, rp.name, c.user.login)
	if err != nil {
		writeError(w, http.StatusUnprocessableEntity, err.Error())
		return
	}
	writeJSON(w, http.StatusAccepted, out)
}

// source is the root of a fork's network.
func (rp *repo) source() *repo {
	for rp.parent != nil {
		rp = rp.parent
	}
	return rp
}

// forkHead finds the fork a PR's "owner:branch" head names, for a PR into
// rp; call with s.mu held.
func (s *Server) forkHeadLocked(rp *repo, head string) (*repo, string, bool) {
	owner, branch, ok := strings.Cut(head, ":")
	if !ok || strings.EqualFold(owner, rp.owner) {
		return nil, "", false
	}
	for _, f := range s.repos {
		if strings.EqualFold(f.owner, owner) && f.parent != nil && f.source() == rp.source() {
			return f, branch, true
		}
	}
	return nil, "", false
}
