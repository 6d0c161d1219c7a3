package emulator

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-github/v62/github"
	"github.com/stretchr/testify/require"
)

func TestGitCloneAndPush(t *testing.T) {
	t.Parallel()
	b := setup(t)
	dir := t.TempDir()
	git(t, dir, "clone", "-q", b.remote("x-access-token", b.appToken(t)), "w")
	w := filepath.Join(dir, "w")
	before := git(t, w, "rev-parse", "HEAD")
	require.NoError(t, os.WriteFile(filepath.Join(w, "README.md"), []byte("# changed\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(w, "new.md"), []byte("new\n"), 0o644))
	require.NoError(t, os.Remove(filepath.Join(w, "specs/a.md")))
	git(t, w, "add", "-A")
	git(t, w, "commit", "-q", "-m", "edit things")
	git(t, w, "push", "-q", "origin", "main")
	after := git(t, w, "rev-parse", "HEAD")

	ref, err := b.s.Ref("acme", "widgets", "heads/main")
	require.NoError(t, err)
	require.Equal(t, after, ref)

	b.drain(t)
	pushes := b.hooks.events("push", "")
	require.Len(t, pushes, 1)
	var ev github.PushEvent
	require.NoError(t, jsonUnmarshal(pushes[0].body, &ev))
	require.Equal(t, "refs/heads/main", ev.GetRef())
	require.Equal(t, before, ev.GetBefore())
	require.Equal(t, after, ev.GetAfter())
	require.False(t, ev.GetCreated())
	require.False(t, ev.GetForced())
	require.Len(t, ev.Commits, 1)
	require.Equal(t, []string{"new.md"}, ev.Commits[0].Added)
	require.Equal(t, []string{"README.md"}, ev.Commits[0].Modified)
	require.Equal(t, []string{"specs/a.md"}, ev.Commits[0].Removed)
	require.Equal(t, after, ev.GetHeadCommit().GetID())
	require.Equal(t, "specloop[bot]", ev.GetSender().GetLogin())
	require.Equal(t, "acme/widgets", ev.GetRepo().GetFullName())
	require.Equal(t, b.instID, ev.GetInstallation().GetID())

	// A force push and a new branch, in one push, as two events.
	git(t, w, "reset", "-q", "--hard", before)
	git(t, w, "commit", "-q", "--allow-empty", "-m", "rewrite")
	git(t, w, "push", "-q", "-f", "origin", "main", "main:refs/heads/copy")
	b.drain(t)
	pushes = b.hooks.events("push", "")
	require.Len(t, pushes, 3)
	var cp, main github.PushEvent
	require.NoError(t, jsonUnmarshal(pushes[1].body, &cp))
	require.NoError(t, jsonUnmarshal(pushes[2].body, &main))
	require.Equal(t, "refs/heads/copy", cp.GetRef())
	require.True(t, cp.GetCreated())
	require.True(t, main.GetForced())
}

func TestGitPushAuth(t *testing.T) {
	t.Parallel()
	b := setup(t)
	dir := t.TempDir()
	// Public repo: anonymous clone works.
	git(t, dir, "clone", "-q", b.remote("", ""), "w")
	w := filepath.Join(dir, "w")
	git(t, w, "commit", "-q", "--allow-empty", "-m", "x")

	// No credentials: git is challenged (401) and, with prompts off, gives up.
	out, err := gitErr(w, "push", "origin", "main")
	require.Error(t, err)
	require.Contains(t, out, "could not read Username")
	res, err := http.Get(b.url + "/acme/widgets.git/info/refs?service=git-receive-pack")
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusUnauthorized, res.StatusCode)
	require.Equal(t, `Basic realm="GitHub"`, res.Header.Get("WWW-Authenticate"))

	out, err = gitErr(w, "push", b.remote("reader", b.rtoken), "main")
	require.Error(t, err)
	require.Contains(t, out, "403")

	out, err = gitErr(w, "push", b.remote("x-access-token", "ghs_bogus"), "main")
	require.Error(t, err)
	require.Contains(t, out, "Authentication failed")

	// A person with write pushes with any username and their token.
	git(t, w, "push", "-q", b.remote("maintainer", b.mtoken), "main")
	b.drain(t)
	pushes := b.hooks.events("push", "")
	require.Len(t, pushes, 1)
	var ev github.PushEvent
	require.NoError(t, jsonUnmarshal(pushes[0].body, &ev))
	require.Equal(t, "maintainer", ev.GetSender().GetLogin())
	require.Equal(t, "maintainer", ev.GetPusher().GetName())

	// A private repo needs credentials even to clone.
	_, err = b.s.CreateRepo("acme", "secret", RepoOptions{Private: true})
	require.NoError(t, err)
	out, err = gitErr(dir, "clone", "-q", b.url+"/acme/secret.git", "s")
	require.Error(t, err, out)
}
