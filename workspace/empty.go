package workspace

import (
	"context"
	"errors"
	"fmt"
)

// CommitEmpty commits nothing of the working copy, only a message: a
// planning cycle's commit, whose plan lives in the issue it belongs to. It
// returns the commit's sha.
func (w *Workdir) CommitEmpty(ctx context.Context, msg string, author Signature) (string, error) {
	if author.Name == "" || author.Email == "" {
		return "", errors.New("commit: author name and email are required")
	}
	env := []string{
		"GIT_AUTHOR_NAME=" + author.Name, "GIT_AUTHOR_EMAIL=" + author.Email,
		"GIT_COMMITTER_NAME=" + author.Name, "GIT_COMMITTER_EMAIL=" + author.Email,
	}
	g := gitCmd{dir: w.Path, env: append([]string{"GIT_DIR=" + w.gitDir, "GIT_WORK_TREE=" + w.Path}, env...), stdin: msg}
	if _, err := g.run(ctx, "commit", "--quiet", "--no-verify", "--no-gpg-sign", "--allow-empty", "--cleanup=verbatim", "-F", "-"); err != nil {
		return "", fmt.Errorf("commit: %w", err)
	}
	return w.head(ctx)
}
