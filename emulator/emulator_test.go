package emulator

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bradleyfalzon/ghinstallation/v2"
	"github.com/google/go-github/v62/github"
	"github.com/stretchr/testify/require"
)

const (
	testAppID  = 4242
	testSecret = "s3cret"
)

// appKey is shared because RSA key generation is slow; it is never changed.
var appKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

func keyPEM(k *rsa.PrivateKey) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
}

// received is one webhook request as the test receiver saw it.
type received struct {
	header http.Header
	body   []byte
}

// receiver is a webhook endpoint that records what it gets and answers
// with status (200 unless a test changes it).
type receiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	got    []received
	status int
}

func newReceiver(t *testing.T) *receiver {
	rc := &receiver{status: http.StatusOK}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.got = append(rc.got, received{header: r.Header.Clone(), body: b})
		status := rc.status
		rc.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) setStatus(code int) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.status = code
}

// events returns the bodies received for one event (and action, if given).
func (rc *receiver) events(event, action string) []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var out []received
	for _, g := range rc.got {
		if g.header.Get("X-GitHub-Event") != event {
			continue
		}
		if action != "" && !strings.Contains(string(g.body), `"action":"`+action+`"`) {
			continue
		}
		out = append(out, g)
	}
	return out
}

type bundle struct {
	s          *Server
	url        string
	hooks      *receiver
	instID     int64
	app        *github.Client // installation token via ghinstallation
	maintainer *github.Client // admin user
	mtoken     string
	reader     *github.Client // read-only user
	rtoken     string
	clock      *clock
}

// clock is a settable time source for token expiry tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func clientFor(t *testing.T, base string, hc *http.Client) *github.Client {
	c := github.NewClient(hc)
	u, err := url.Parse(base + "/")
	require.NoError(t, err)
	c.BaseURL = u
	return c
}

// setup starts an emulator with repo acme/widgets (README.md, specs/a.md),
// the app installed on it, users maintainer (admin) and reader (read).
func setup(t *testing.T) *bundle {
	t.Helper()
	hooks := newReceiver(t)
	clk := &clock{t: time.Now()}
	s, err := New(Options{
		AppID: testAppID, AppPublicKey: &appKey().PublicKey, AppSlug: "specloop",
		WebhookURL: hooks.srv.URL, WebhookSecret: testSecret, Now: clk.now,
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	base, err := s.Start()
	require.NoError(t, err)

	_, err = s.CreateRepo("acme", "widgets", RepoOptions{Files: map[string]string{
		"README.md":  "# widgets\n",
		"specs/a.md": "- [ ] one\n- [ ] two\n",
	}})
	require.NoError(t, err)
	mtoken := s.AddUser("maintainer")
	rtoken := s.AddUser("reader")
	s.SetPermission("acme", "widgets", "maintainer", "admin")
	s.SetPermission("acme", "widgets", "reader", "read")
	instID := s.Install("acme")

	tr, err := ghinstallation.New(http.DefaultTransport, testAppID, instID, keyPEM(appKey()))
	require.NoError(t, err)
	tr.BaseURL = base
	return &bundle{
		s: s, url: base, hooks: hooks, instID: instID, clock: clk,
		app:        clientFor(t, base, &http.Client{Transport: tr}),
		maintainer: clientFor(t, base, nil).WithAuthToken(mtoken), mtoken: mtoken,
		reader: clientFor(t, base, nil).WithAuthToken(rtoken), rtoken: rtoken,
	}
}

// drain waits until every webhook so far has been delivered.
func (b *bundle) drain(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	require.NoError(t, b.s.WaitDeliveries(ctx))
}

// appToken mints an installation token through the API, as ghinstallation does.
func (b *bundle) appToken(t *testing.T) string {
	t.Helper()
	tr, err := ghinstallation.New(http.DefaultTransport, testAppID, b.instID, keyPEM(appKey()))
	require.NoError(t, err)
	tr.BaseURL = b.url
	tok, err := tr.Token(context.Background())
	require.NoError(t, err)
	return tok
}

// git runs git in dir and returns its trimmed output.
func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, err := gitErr(dir, args...)
	require.NoError(t, err, out)
	return out
}

func gitErr(dir string, args ...string) (string, error) {
	cmd := exec.Command("git", append([]string{"-c", "user.name=Tess", "-c", "user.email=tess@example.com", "-c", "init.defaultBranch=main"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "GIT_ASKPASS=/bin/false", "GIT_CONFIG_NOSYSTEM=1", "HOME="+dir)
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// remote is the repo's clone URL with credentials in it.
func (b *bundle) remote(user, token string) string {
	u, _ := url.Parse(b.url + "/acme/widgets.git")
	if user != "" {
		u.User = url.UserPassword(user, token)
	}
	return u.String()
}

// pushBranch clones acme/widgets with the app's token, commits files on a
// new branch and pushes it; it returns the new commit's SHA.
func (b *bundle) pushBranch(t *testing.T, branch string, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	git(t, dir, "clone", "-q", b.remote("x-access-token", b.appToken(t)), "w")
	w := filepath.Join(dir, "w")
	git(t, w, "checkout", "-q", "-b", branch)
	for p, c := range files {
		require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(w, p)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(w, p), []byte(c), 0o644))
	}
	git(t, w, "add", "-A")
	git(t, w, "commit", "-q", "-m", "change on "+branch)
	git(t, w, "push", "-q", "origin", branch)
	return git(t, w, "rev-parse", "HEAD")
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
