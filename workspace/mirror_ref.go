package workspace

import (
	"context"
	"fmt"
	"strings"
)

// Branch reads where a branch of the remote is as of the mirror's last
// Fetch (mirrorPath is what Fetch returned), so a cycle that has just
// fetched need not ask GitHub again: the fetch mirrors every branch and
// prunes the deleted ones. ok is false when the branch does not exist.
func Branch(ctx context.Context, mirrorPath, branch string) (sha string, ok bool, err error) {
	if branch == "" || strings.HasPrefix(branch, "-") || strings.ContainsAny(branch, " ~^:?*[\\") {
		return "", false, fmt.Errorf("bad branch name %q", branch)
	}
	out, err := gitCmd{dir: mirrorPath}.run(ctx, "for-each-ref", "--format=%(objectname)", "refs/heads/"+branch)
	if err != nil {
		return "", false, fmt.Errorf("read branch %s of the mirror: %w", branch, err)
	}
	sha = strings.TrimSpace(string(out))
	return sha, sha != "", nil
}
