package evidence_test

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/bradleyfalzon/ghinstallation/v2"
	"github.com/google/go-github/v62/github"
	"github.com/stretchr/testify/require"

	"github.com/specloop/specloop/emulator"
)

const (
	appID = 4242
	owner = "acme"
	repo  = "widgets"
)

// appKey is shared because RSA key generation is slow; it is never changed.
var appKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

// gh is an emulated GitHub with the app installed on acme/widgets and a
// user, reviewer, who may read it: check runs are posted as the app and
// read back as the reviewer would, through GitHub's endpoints.
type gh struct {
	emu    *emulator.Server
	base   string
	instID int64
	sha    string         // the head of main
	user   *github.Client // the reviewer's
}

func newGitHub(t *testing.T) *gh {
	t.Helper()
	emu, err := emulator.New(emulator.Options{AppID: appID, AppPublicKey: &appKey().PublicKey})
	require.NoError(t, err)
	t.Cleanup(func() { _ = emu.Close() })
	base, err := emu.Start()
	require.NoError(t, err)
	_, err = emu.CreateRepo(owner, repo, emulator.RepoOptions{Files: map[string]string{"README.md": "# widgets\n"}})
	require.NoError(t, err)
	sha, err := emu.Ref(owner, repo, "heads/main")
	require.NoError(t, err)
	token := emu.AddUser("reviewer")
	emu.SetPermission(owner, repo, "reviewer", "read")
	g := &gh{emu: emu, base: base, instID: emu.Install(owner), sha: sha}
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

// app returns a client of the app's installation, as the workers have,
// and the log of the requests it sends.
func (g *gh) app(t *testing.T) (*github.Client, *requestLog) {
	t.Helper()
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(appKey())})
	tr, err := ghinstallation.New(http.DefaultTransport, appID, g.instID, pemKey)
	require.NoError(t, err)
	tr.BaseURL = g.base
	log := &requestLog{next: tr}
	return clientFor(t, g.base, &http.Client{Transport: log}), log
}

// checkRun reads the one check run called name on the head of main, as
// GET /repos/{o}/{r}/commits/{ref}/check-runs shows it.
func (g *gh) checkRun(t *testing.T, name string) *github.CheckRun {
	t.Helper()
	runs := g.checkRuns(t, name)
	require.Len(t, runs, 1, "check runs called %s", name)
	return runs[0]
}

func (g *gh) checkRuns(t *testing.T, name string) []*github.CheckRun {
	t.Helper()
	res, _, err := g.user.Checks.ListCheckRunsForRef(t.Context(), owner, repo, g.sha, &github.ListCheckRunsOptions{
		CheckName: github.String(name), Filter: github.String("all"),
	})
	require.NoError(t, err)
	require.Equal(t, len(res.CheckRuns), res.GetTotal())
	return res.CheckRuns
}

// annotations reads every annotation of a check run, page by page.
func (g *gh) annotations(t *testing.T, id int64) []*github.CheckRunAnnotation {
	t.Helper()
	var all []*github.CheckRunAnnotation
	opts := &github.ListOptions{PerPage: 100}
	for {
		page, resp, err := g.user.Checks.ListCheckRunAnnotations(t.Context(), owner, repo, id, opts)
		require.NoError(t, err)
		all = append(all, page...)
		if resp.NextPage == 0 {
			return all
		}
		opts.Page = resp.NextPage
	}
}

// request is one API request the app's client sent.
type request struct {
	method, path string
	// annotations is how many annotations its output carried; -1 when it
	// had no output.
	annotations int
	// text tells whether its output carried a text.
	text bool
}

// requestLog records the requests that pass through it.
type requestLog struct {
	next http.RoundTripper
	mu   sync.Mutex
	reqs []request
}

func (l *requestLog) RoundTrip(r *http.Request) (*http.Response, error) {
	rec := request{method: r.Method, path: r.URL.Path, annotations: -1}
	if r.Body != nil {
		b, err := io.ReadAll(r.Body)
		r.Body.Close()
		if err != nil {
			return nil, err
		}
		var body struct {
			Output *struct {
				Annotations []json.RawMessage `json:"annotations"`
				Text        *string           `json:"text"`
			} `json:"output"`
		}
		if json.Unmarshal(b, &body) == nil && body.Output != nil {
			rec.annotations = len(body.Output.Annotations)
			rec.text = body.Output.Text != nil
		}
		r = r.Clone(r.Context())
		r.Body = io.NopCloser(bytes.NewReader(b))
	}
	l.mu.Lock()
	l.reqs = append(l.reqs, rec)
	l.mu.Unlock()
	return l.next.RoundTrip(r)
}

// texts tells, for each POST and PATCH request to check runs in order,
// whether its output carried a text.
func (l *requestLog) texts() []bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := []bool{}
	for _, r := range l.reqs {
		if (r.method == http.MethodPost || r.method == http.MethodPatch) && strings.Contains(r.path, "/check-runs") {
			out = append(out, r.text)
		}
	}
	return out
}

// checkRunWrites returns the annotation counts of the POST and PATCH
// requests to check runs, in order.
func (l *requestLog) checkRunWrites() []int {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := []int{}
	for _, r := range l.reqs {
		if (r.method == http.MethodPost || r.method == http.MethodPatch) && strings.Contains(r.path, "/check-runs") {
			out = append(out, r.annotations)
		}
	}
	return out
}
