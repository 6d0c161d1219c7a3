package publish

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/specloop/specloop/cycle"
	"github.com/specloop/specloop/internal/markdown"
	"github.com/specloop/specloop/spec"
	"github.com/specloop/specloop/state"
	"github.com/specloop/specloop/workspace"
)

// Change is one cycle's result, ready to publish.
type Change struct {
	Spec       *spec.Spec
	Obligation *spec.Obligation
	Conclusion state.Conclusion
	// Ticked is the spec file with the obligation checked off (nil: leave
	// the spec as it is).
	Ticked []byte
	// Context ends the commit message's body, e.g. "cycle 4 of run 2".
	Context string
	Author  workspace.Signature
	Branch  string
	// Draft marks a change whose verify or audit failed: its PR stays a
	// draft so the evidence is read before anything merges.
	Draft bool
	// PR is the pull request's title and body (GitHub only).
	PRTitle, PRBody string
	// BeforePush, when set, runs between the commit and the push; an error
	// stops the push.
	BeforePush func(ctx context.Context, sha string) error
	// Trailers end the commit message (see Trailers).
	Trailers []Trailer
	// Note, when set, is attached to the commit as a git note on NotesRef
	// and pushed with the branch: the signed statement of what ran. It
	// gets the commit's sha.
	Note func(ctx context.Context, sha string) ([]byte, error)
}

// Backend is where a commit goes.
type Backend interface {
	// Push pushes sha to the branch.
	Push(ctx context.Context, wd *workspace.Workdir, sha, branch string) error
	// PullRequest opens the branch's pull request or updates its body and
	// draft state; a backend without pull requests returns a zero PR.
	PullRequest(ctx context.Context, c *Change) (PR, error)
}

// PR is a pull request as published.
type PR struct {
	Number int
	URL    string
}

// Result is what was published.
type Result struct {
	SHA string
	PR  PR
	// Noted says the change's note was pushed; NoteErr why it was not (the
	// branch is pushed all the same: a missing note is said, not fatal).
	Noted   bool
	NoteErr error
}

// Commit writes the tick, leaves out the scratch directory and commits
// every other change of the working copy; it returns the commit's sha.
func Commit(ctx context.Context, wd *workspace.Workdir, c *Change) (string, error) {
	if c.Ticked != nil {
		if err := wd.WriteFile(c.Spec.Path, c.Ticked); err != nil {
			return "", fmt.Errorf("tick %s: %w", c.Obligation.ID, err)
		}
	}
	if err := os.RemoveAll(filepath.Join(wd.Path, strings.TrimSuffix(cycle.ScratchDir, "/"))); err != nil {
		return "", fmt.Errorf("remove scratch files: %w", err)
	}
	sha, err := wd.Commit(ctx, Message(c), c.Author)
	if err != nil {
		return "", fmt.Errorf("commit: %w", err)
	}
	return sha, nil
}

// Message is the commit message of a change: the obligation on the first
// line, where it comes from in the body.
func Message(c *Change) string {
	msg := fmt.Sprintf("specloop: %s %s\n\nObligation %s of %s (%s).", c.Obligation.ID, markdown.OneLine(c.Obligation.Text, 60),
		c.Obligation.ID, SpecName(c.Spec), c.Conclusion)
	if c.Context != "" {
		msg = strings.TrimSuffix(msg, ".") + ", " + c.Context + "."
	}
	return msg + trailerBlock(c.Trailers)
}

// SpecName names a spec for people: its path, or "the issue".
func SpecName(sp *spec.Spec) string {
	if cycle.IsIssueSpec(sp) {
		return "the issue"
	}
	return sp.Path
}

// Publish commits the change, pushes it and opens or updates its pull
// request.
func Publish(ctx context.Context, b Backend, wd *workspace.Workdir, c *Change) (*Result, error) {
	sha, err := Commit(ctx, wd, c)
	if err != nil {
		return nil, err
	}
	if c.BeforePush != nil {
		if err := c.BeforePush(ctx, sha); err != nil {
			return nil, fmt.Errorf("before pushing %.12s: %w", sha, err)
		}
	}
	if err := b.Push(ctx, wd, sha, c.Branch); err != nil {
		return nil, err
	}
	res := &Result{SHA: sha}
	if c.Note != nil {
		res.NoteErr = pushNote(ctx, b, wd, sha, c)
		res.Noted = res.NoteErr == nil
	}
	pr, err := b.PullRequest(ctx, c)
	if err != nil {
		return res, err
	}
	res.PR = pr
	return res, nil
}

// Local publishes to a branch of a local repository: `specloop cycle`.
type Local struct {
	Dir          string // the repository
	BranchPrefix string
}

// Push force-pushes sha to the local branch: a local cycle replaces its
// last result.
func (l Local) Push(ctx context.Context, wd *workspace.Workdir, sha, branch string) error {
	return wd.Push(ctx, workspace.PushOptions{RemoteURL: l.Dir, SHA: sha, Branch: branch, BranchPrefix: l.BranchPrefix, Force: true})
}

// PullRequest: a local repository has none.
func (Local) PullRequest(context.Context, *Change) (PR, error) { return PR{}, nil }

// pushNote attaches the change's note to sha and pushes it right after the
// branch.
func pushNote(ctx context.Context, b Backend, wd *workspace.Workdir, sha string, c *Change) error {
	np, ok := b.(NotePusher)
	if !ok {
		return errors.New("this backend keeps no notes")
	}
	note, err := c.Note(ctx, sha)
	if err != nil {
		return fmt.Errorf("the statement of %.12s: %w", sha, err)
	}
	return np.PushNote(ctx, wd, sha, note, c.Author)
}
