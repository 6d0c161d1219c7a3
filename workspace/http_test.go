package workspace

import (
	"crypto/subtle"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// gitHTTPServer serves the repositories under root with git http-backend,
// requiring the Basic credentials GitHub takes for installation tokens.
func gitHTTPServer(t *testing.T, root, token string) *httptest.Server {
	t.Helper()
	out, err := exec.Command("git", "--exec-path").Output()
	require.NoError(t, err)
	backend := &cgi.Handler{
		Path: filepath.Join(strings.TrimSpace(string(out)), "git-http-backend"),
		Env:  []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1"},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		if !ok || user != "x-access-token" || subtle.ConstantTimeCompare([]byte(pass), []byte(token)) != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "bad credentials", http.StatusUnauthorized)
			return
		}
		backend.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// requireNoSecret fails if secret appears in any file under dir.
func requireNoSecret(t *testing.T, dir, secret string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		require.NotContains(t, string(b), secret, p)
		return nil
	})
	require.NoError(t, err)
}

func TestHTTPWithToken(t *testing.T) {
	t.Parallel()
	const token = "ghs_s3cr3tInstallationT0ken"
	r := newRemote(t)
	srv := gitHTTPServer(t, filepath.Dir(r.dir), token)
	url := srv.URL + "/origin.git"
	c := newCache(t, false)
	ctx := t.Context()

	for _, bad := range []string{"", "ghs_wrongWrongWrong"} {
		_, err := c.Fetch(ctx, url, bad)
		require.Error(t, err)
		require.NotContains(t, err.Error(), "ghs_")
	}
	// A token slipped into the URL is scrubbed too.
	_, err := c.Fetch(ctx, strings.Replace(url, "://", "://x-access-token:ghs_inTheURLxx@", 1)+"/nope", "")
	require.Error(t, err)
	require.NotContains(t, err.Error(), "ghs_inTheURLxx")

	mirror, err := c.Fetch(ctx, url, token)
	require.NoError(t, err)
	require.Equal(t, r.new, gitT(t, mirror, "rev-parse", "main"))
	_, err = c.Fetch(ctx, url, token) // warm
	require.NoError(t, err)

	w, err := c.Checkout(ctx, url, r.new)
	require.NoError(t, err)
	defer w.Close()
	require.NoError(t, w.WriteFile("new.txt", []byte("hi\n")))
	sha, err := w.Commit(ctx, "add new", Signature{Name: "bot", Email: "bot@example.com"})
	require.NoError(t, err)

	err = w.Push(ctx, PushOptions{RemoteURL: url, Token: "ghs_wrongWrongWrong", Branch: "specloop/x"})
	require.Error(t, err)
	require.NotContains(t, err.Error(), "ghs_")
	require.NoError(t, w.Push(ctx, PushOptions{RemoteURL: url, Token: token, Branch: "specloop/x"}))
	require.Equal(t, sha, gitT(t, r.dir, "rev-parse", "refs/heads/specloop/x"))

	// The token is nowhere on disk: not in the mirror, the pristine tree,
	// the Workdir's git directory or tree.
	requireNoSecret(t, c.Dir, token)
	requireNoSecret(t, c.Dir, "eC1hY2Nlc3MtdG9rZW46") // base64 "x-access-token:"
}
