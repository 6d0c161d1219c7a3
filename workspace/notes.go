package workspace

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// NoteOptions says which note to attach and where to push it.
type NoteOptions struct {
	RemoteURL string
	Token     string // installation token; see the package doc
	// Ref is the notes ref, e.g. "refs/notes/specloop".
	Ref string
	SHA string // the commit the note is on
	// Note is the note's content.
	Note   []byte
	Author Signature
}

// noteAttempts bounds the retries when another cycle pushed a note to the
// same ref between our fetch and our push.
const noteAttempts = 4

// PushNote attaches a git note to a commit and pushes the notes ref. The
// remote's notes ref is fetched first and the note added on top of it, so
// the push is a fast-forward; when another cycle pushed its note in
// between, it fetches and adds again. Notes of other commits are kept.
func (w *Workdir) PushNote(ctx context.Context, opt NoteOptions) (err error) {
	defer func() {
		if err != nil {
			err = redactErr(fmt.Errorf("push note %s on %.12s to %s: %w", opt.Ref, opt.SHA, redactURL(opt.RemoteURL), err), append(secretsOf(opt.RemoteURL), opt.Token)...)
		}
	}()
	if !strings.HasPrefix(opt.Ref, "refs/notes/") {
		return fmt.Errorf("%q is not a notes ref", opt.Ref)
	}
	if _, err := w.git(ctx, "check-ref-format", opt.Ref); err != nil {
		return fmt.Errorf("bad notes ref %q", opt.Ref)
	}
	if !hexSHA.MatchString(opt.SHA) {
		return fmt.Errorf("%q is not a commit sha", opt.SHA)
	}
	if opt.Author.Name == "" || opt.Author.Email == "" {
		return errors.New("a note needs an author name and email")
	}
	g := authed(gitCmd{dir: w.Path, env: []string{"GIT_DIR=" + w.gitDir, "GIT_WORK_TREE=" + w.Path}}, opt.RemoteURL, opt.Token)
	d := w.deadlines
	var last error
	for range noteAttempts {
		// The remote's notes, or none yet: start the ref afresh.
		if _, err := d.remote(ctx, g, "git fetch of "+opt.Ref, d.withDefaults().Fetch, "fetch", "--quiet", "--no-tags", "--", opt.RemoteURL, "+"+opt.Ref+":"+opt.Ref); err != nil {
			var stall *StallError
			if errors.As(err, &stall) || ctx.Err() != nil {
				return err
			}
			if _, err := w.git(ctx, "update-ref", "-d", opt.Ref); err != nil {
				return err
			}
		}
		note := g
		note.stdin = string(opt.Note)
		note.env = append(note.env[:len(note.env):len(note.env)],
			"GIT_AUTHOR_NAME="+opt.Author.Name, "GIT_AUTHOR_EMAIL="+opt.Author.Email,
			"GIT_COMMITTER_NAME="+opt.Author.Name, "GIT_COMMITTER_EMAIL="+opt.Author.Email)
		if _, err := note.run(ctx, "notes", "--ref="+opt.Ref, "add", "--force", "--file=-", opt.SHA); err != nil {
			return fmt.Errorf("add the note: %w", err)
		}
		_, last = d.remote(ctx, g, "git push of "+opt.Ref, d.withDefaults().Push, "push", "--quiet", "--no-verify", "--", opt.RemoteURL, opt.Ref+":"+opt.Ref)
		if last == nil {
			return nil
		}
		var stall *StallError
		if errors.As(last, &stall) || ctx.Err() != nil {
			return last
		}
	}
	return last
}

// Note reads the note on sha under ref in the Workdir's repository.
func (w *Workdir) Note(ctx context.Context, ref, sha string) ([]byte, error) {
	return w.git(ctx, "notes", "--ref="+ref, "show", sha)
}
