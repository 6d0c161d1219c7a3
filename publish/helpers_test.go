package publish_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bradleyfalzon/ghinstallation/v2"
	"github.com/google/go-github/v62/github"
	"github.com/stretchr/testify/require"

	"github.com/specloop/specloop/emulator"
	"github.com/specloop/specloop/publish"
	"github.com/specloop/specloop/spec"
	"github.com/specloop/specloop/workspace"
)

const (
	appID  = 4242
	owner  = "acme"
	repo   = "widgets"
	prefix = "specloop/"
	// specSrc is specs/a.md of every test repository.
	specSrc = "# Widgets\n\n- [ ] [w-1] add a widget\n- [ ] [w-2] paint it\n"
)

// files are the test repository's first commit.
var files = map[string]string{"README.md": "# widgets\n", "specs/a.md": specSrc}

var bot = workspace.Signature{Name: "specloop[bot]", Email: "specloop[bot]@users.noreply.github.com"}

// appKey is shared because RSA key generation is slow; it is never changed.
var appKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

// gitT runs git in dir and returns its trimmed output.
func gitT(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, err := gitErr(dir, args...)
	require.NoError(t, err, "git %v: %s", args, out)
	return out
}

func gitErr(dir string, args ...string) (string, error) {
	cmd := exec.Command("git", append([]string{"-c", "user.name=Tess", "-c", "user.email=tess@example.com", "-c", "init.defaultBranch=main"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "GIT_CONFIG_NOSYSTEM=1", "HOME="+dir)
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// newCache is a workspace cache that leaves nothing mounted behind.
func newCache(t *testing.T) *workspace.Cache {
	t.Helper()
	c := &workspace.Cache{Dir: t.TempDir()}
	t.Cleanup(func() { require.NoError(t, c.Prune(context.Background(), -time.Hour)) })
	return c
}

// checkout fetches remote into the cache and checks sha out.
func checkout(t *testing.T, c *workspace.Cache, remote, token, sha string) *workspace.Workdir {
	t.Helper()
	_, err := c.Fetch(t.Context(), remote, token)
	require.NoError(t, err)
	wd, err := c.Checkout(t.Context(), remote, sha)
	require.NoError(t, err)
	t.Cleanup(func() { wd.Close() })
	return wd
}

// localRepo is a repository on disk with files on main, as `specloop
// cycle` works on; it returns its directory and main's sha.
func localRepo(t *testing.T) (string, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "repo")
	gitT(t, filepath.Dir(dir), "init", "-q", dir)
	for p, c := range files {
		require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, p), []byte(c), 0o644))
	}
	gitT(t, dir, "add", "-A")
	gitT(t, dir, "commit", "-q", "-m", "first")
	return dir, gitT(t, dir, "rev-parse", "HEAD")
}

func parseSpec(t *testing.T, path, src string) *spec.Spec {
	t.Helper()
	s, err := spec.Parse(path, []byte(src))
	require.NoError(t, err)
	return s
}

// change is the cycle's result for obligation id of src (specs/a.md):
// a new file, scratch files of the bot's, and the tick.
func change(t *testing.T, wd *workspace.Workdir, src, id, branch string) *publish.Change {
	t.Helper()
	sp := parseSpec(t, "specs/a.md", src)
	ticked, err := sp.Tick(id)
	require.NoError(t, err)
	require.NoError(t, wd.WriteFile(id+".go", []byte("package widgets // "+id+"\n")))
	require.NoError(t, wd.WriteFile(".specloop/verdict.json", []byte(`{"verdict":"pass"}`)))
	return &publish.Change{
		Spec: sp, Obligation: sp.Obligation(id), Conclusion: "success", Ticked: ticked,
		Context: "cycle 1 of run 1", Author: bot, Branch: branch,
	}
}

// gh is an emulated GitHub with acme/widgets, the app installed on it and
// a maintainer who reads what was published as a person would.
type gh struct {
	emu      *emulator.Server
	base     string
	cloneURL string
	instID   int64
	main     string         // main's sha
	user     *github.Client // the maintainer's
}

func newGitHub(t *testing.T) *gh { return newGitHubRepo(t, emulator.RepoOptions{}) }

// newGitHubRepo is newGitHub with acme/widgets shaped by opts (private,
// say); the owner is on the Free plan, GitHub's default.
func newGitHubRepo(t *testing.T, opts emulator.RepoOptions) *gh {
	t.Helper()
	emu, err := emulator.New(emulator.Options{AppID: appID, AppPublicKey: &appKey().PublicKey})
	require.NoError(t, err)
	t.Cleanup(func() { _ = emu.Close() })
	base, err := emu.Start()
	require.NoError(t, err)
	opts.Files = files
	_, err = emu.CreateRepo(owner, repo, opts)
	require.NoError(t, err)
	main, err := emu.Ref(owner, repo, "heads/main")
	require.NoError(t, err)
	token := emu.AddUser("maintainer")
	emu.SetPermission(owner, repo, "maintainer", "admin")
	g := &gh{emu: emu, base: base, cloneURL: base + "/" + owner + "/" + repo + ".git", instID: emu.Install(owner), main: main}
	g.user = clientFor(t, base, nil).WithAuthToken(token)
	return g
}

func clientFor(t *testing.T, base string, hc *http.Client) *github.Client {
	t.Helper()
	c := github.NewClient(hc)
	u, err := url.Parse(base + "/")
	require.NoError(t, err)
	c.BaseURL = u
	return c
}

// installation is the app's installation transport, as the workers have.
func (g *gh) installation(t *testing.T) *ghinstallation.Transport {
	t.Helper()
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(appKey())})
	tr, err := ghinstallation.New(http.DefaultTransport, appID, g.instID, pemKey)
	require.NoError(t, err)
	tr.BaseURL = g.base
	return tr
}

// tokens hands out installation tokens and counts how often it was asked.
type tokens struct {
	tr    *ghinstallation.Transport
	calls atomic.Int32
}

func (k *tokens) Token(ctx context.Context) (string, error) {
	k.calls.Add(1)
	return k.tr.Token(ctx)
}

// backend is the GitHub backend of the app's installation on acme/widgets.
func (g *gh) backend(t *testing.T) (*publish.GitHub, *tokens, *requestLog) {
	t.Helper()
	tr := g.installation(t)
	log := &requestLog{next: tr}
	k := &tokens{tr: g.installation(t)}
	return &publish.GitHub{
		Client: clientFor(t, g.base, &http.Client{Transport: log}), Owner: owner, Repo: repo,
		CloneURL: g.cloneURL, Base: "main", BranchPrefix: prefix, Token: k.Token,
	}, k, log
}

// token is an installation token for the test's own fetches.
func (g *gh) token(t *testing.T) string {
	t.Helper()
	tok, err := g.installation(t).Token(t.Context())
	require.NoError(t, err)
	return tok
}

// branch returns the sha a branch points at on GitHub, or "" when there is
// no such branch.
func (g *gh) branch(t *testing.T, name string) string {
	t.Helper()
	ref, resp, err := g.user.Git.GetRef(t.Context(), owner, repo, "heads/"+name)
	if resp != nil && resp.StatusCode == http.StatusNotFound {
		return ""
	}
	require.NoError(t, err)
	return ref.GetObject().GetSHA()
}

// pulls lists the pull requests of a branch, open or closed.
func (g *gh) pulls(t *testing.T, branch string) []*github.PullRequest {
	t.Helper()
	prs, _, err := g.user.PullRequests.List(t.Context(), owner, repo, &github.PullRequestListOptions{State: "all", Head: owner + ":" + branch})
	require.NoError(t, err)
	return prs
}

// file reads a file of ref through the contents API; "" when absent.
func (g *gh) file(t *testing.T, path, ref string) string {
	t.Helper()
	fc, _, resp, err := g.user.Repositories.GetContents(t.Context(), owner, repo, path, &github.RepositoryContentGetOptions{Ref: ref})
	if resp != nil && resp.StatusCode == http.StatusNotFound {
		return ""
	}
	require.NoError(t, err)
	s, err := fc.GetContent()
	require.NoError(t, err)
	return s
}

// requestLog counts the API requests that pass through it.
type requestLog struct {
	next http.RoundTripper
	mu   sync.Mutex
	reqs []string // "METHOD /path"
}

func (l *requestLog) RoundTrip(r *http.Request) (*http.Response, error) {
	l.mu.Lock()
	l.reqs = append(l.reqs, r.Method+" "+r.URL.Path)
	l.mu.Unlock()
	return l.next.RoundTrip(r)
}

// count is how many requests had this method and path.
func (l *requestLog) count(method, path string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, r := range l.reqs {
		if r == method+" "+path {
			n++
		}
	}
	return n
}
