package workspace

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// PushOptions says what to push where.
type PushOptions struct {
	RemoteURL string
	Token     string // installation token; see the package doc
	SHA       string // commit to push; empty means HEAD
	Branch    string // branch name, without refs/heads/
	// BranchPrefix, if set, is required of Branch: the bot pushes only to
	// its own branches, whatever a spec or config asks for.
	BranchPrefix string
	// Force allows a non-fast-forward update.
	Force bool
}

// Push pushes a commit of the Workdir to refs/heads/<Branch> of the remote.
// Objects the remote lacks are read from the Workdir and the mirror.
func (w *Workdir) Push(ctx context.Context, opt PushOptions) (err error) {
	defer func() {
		var stall *StallError
		if err != nil && !errors.As(err, &stall) { // a StallError names the push already
			err = fmt.Errorf("push %s to %s: %w", opt.Branch, redactURL(opt.RemoteURL), err)
			err = redactErr(err, append(secretsOf(opt.RemoteURL), opt.Token)...)
		}
	}()
	if opt.BranchPrefix != "" && !strings.HasPrefix(opt.Branch, opt.BranchPrefix) {
		return fmt.Errorf("branch does not start with %q", opt.BranchPrefix)
	}
	if _, err := w.git(ctx, "check-ref-format", "--branch", opt.Branch); err != nil || strings.HasPrefix(opt.Branch, "-") {
		return fmt.Errorf("bad branch name %q", opt.Branch)
	}
	sha := opt.SHA
	if sha == "" {
		if sha, err = w.head(ctx); err != nil {
			return err
		}
	} else if !hexSHA.MatchString(sha) {
		return fmt.Errorf("%q is not a commit sha", sha)
	}
	refspec := sha + ":refs/heads/" + opt.Branch
	if opt.Force {
		refspec = "+" + refspec
	}
	g := authed(gitCmd{dir: w.Path, env: []string{"GIT_DIR=" + w.gitDir, "GIT_WORK_TREE=" + w.Path}}, opt.RemoteURL, opt.Token)
	d := w.deadlines
	_, err = d.remote(ctx, g, "git push to "+opt.Branch, d.withDefaults().Push, "push", "--quiet", "--no-verify", "--", opt.RemoteURL, refspec)
	return err
}
