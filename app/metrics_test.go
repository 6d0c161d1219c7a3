package app

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-github/v62/github"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/specloop/specloop/emulator"
)

func TestRoute(t *testing.T) {
	t.Parallel()
	const dotcom, ghes = "https://api.github.com/", "https://ghe.example.com/api/v3/"
	cases := []struct {
		base, method, url, want string
	}{
		{dotcom, "GET", "https://api.github.com/app", "GET /app"},
		{dotcom, "GET", "https://api.github.com/apps/specloop", "GET /apps/{app_slug}"},
		{dotcom, "POST", "https://api.github.com/app/installations/42/access_tokens", "POST /app/installations/{installation_id}/access_tokens"},
		{dotcom, "POST", "https://api.github.com/app-manifests/c0de/conversions", "POST /app-manifests/{code}/conversions"},
		{dotcom, "GET", "https://api.github.com/repos/acme/widgets", "GET /repos/{owner}/{repo}"},
		{dotcom, "GET", "https://api.github.com/repos/acme/widgets/installation", "GET /repos/{owner}/{repo}/installation"},
		{dotcom, "GET", "https://api.github.com/repos/acme/widgets/contents/README.md", "GET /repos/{owner}/{repo}/contents/{path}"},
		{dotcom, "GET", "https://api.github.com/repos/acme/widgets/contents/specs/a%20b.md?ref=main", "GET /repos/{owner}/{repo}/contents/{path}"},
		{dotcom, "GET", "https://api.github.com/repos/acme/widgets/collaborators/octocat/permission", "GET /repos/{owner}/{repo}/collaborators/{username}/permission"},
		{dotcom, "GET", "https://api.github.com/repos/acme/widgets/git/ref/heads/main", "GET /repos/{owner}/{repo}/git/ref/{ref}"},
		{dotcom, "GET", "https://api.github.com/repos/acme/widgets/git/ref/heads/specloop/issue-7", "GET /repos/{owner}/{repo}/git/ref/{ref}"},
		{dotcom, "POST", "https://api.github.com/repos/acme/widgets/check-runs", "POST /repos/{owner}/{repo}/check-runs"},
		{dotcom, "PATCH", "https://api.github.com/repos/acme/widgets/check-runs/123", "PATCH /repos/{owner}/{repo}/check-runs/{check_run_id}"},
		{dotcom, "GET", "https://api.github.com/repos/acme/widgets/commits/0a1b2c/check-runs", "GET /repos/{owner}/{repo}/commits/{ref}/check-runs"},
		{dotcom, "GET", "https://api.github.com/repos/acme/widgets/commits/heads/check-runs/x/check-runs", "GET /repos/{owner}/{repo}/commits/{ref}/check-runs"},
		{dotcom, "POST", "https://api.github.com/repos/acme/widgets/issues", "POST /repos/{owner}/{repo}/issues"},
		{dotcom, "GET", "https://api.github.com/repos/acme/widgets/issues/7", "GET /repos/{owner}/{repo}/issues/{issue_number}"},
		{dotcom, "PATCH", "https://api.github.com/repos/acme/widgets/issues/7", "PATCH /repos/{owner}/{repo}/issues/{issue_number}"},
		{dotcom, "POST", "https://api.github.com/repos/acme/widgets/issues/7/labels", "POST /repos/{owner}/{repo}/issues/{issue_number}/labels"},
		{dotcom, "GET", "https://api.github.com/repos/acme/widgets/issues/comments", "GET /repos/{owner}/{repo}/issues/comments"},
		{dotcom, "GET", "https://api.github.com/repos/acme/widgets/issues/7/comments?per_page=100", "GET /repos/{owner}/{repo}/issues/{issue_number}/comments"},
		{dotcom, "POST", "https://api.github.com/repos/acme/widgets/issues/7/comments", "POST /repos/{owner}/{repo}/issues/{issue_number}/comments"},
		{dotcom, "POST", "https://api.github.com/repos/acme/widgets/issues/comments/99/reactions", "POST /repos/{owner}/{repo}/issues/comments/{comment_id}/reactions"},
		{dotcom, "GET", "https://api.github.com/repos/acme/widgets/pulls?head=acme:x", "GET /repos/{owner}/{repo}/pulls"},
		{dotcom, "POST", "https://api.github.com/repos/acme/widgets/pulls", "POST /repos/{owner}/{repo}/pulls"},
		{dotcom, "GET", "https://api.github.com/repos/acme/widgets/pulls/8", "GET /repos/{owner}/{repo}/pulls/{pull_number}"},
		{dotcom, "PATCH", "https://api.github.com/repos/acme/widgets/pulls/8", "PATCH /repos/{owner}/{repo}/pulls/{pull_number}"},
		{dotcom, "POST", "https://api.github.com/graphql", "POST /graphql"},

		// Anything else is "other", whatever names or ids it holds.
		{dotcom, "DELETE", "https://api.github.com/repos/acme/widgets/issues/7", "other"},
		{dotcom, "GET", "https://api.github.com/repos/acme/widgets/issues/7/events", "other"},
		{dotcom, "GET", "https://api.github.com/repos/acme", "other"},
		{dotcom, "GET", "https://api.github.com/repos/acme/widgets/", "other"},
		{dotcom, "GET", "https://api.github.com/repos/acme/widgets/contents/", "other"},
		{dotcom, "GET", "https://api.github.com/repos//widgets", "other"},
		{dotcom, "GET", "https://api.github.com/user", "other"},
		{dotcom, "GET", "https://api.github.com/", "other"},
		{dotcom, "GET", "https://codeload.github.com/repos/acme/widgets", "other"},

		// GitHub Enterprise: the base path is stripped; GraphQL sits beside it.
		{ghes, "GET", "https://ghe.example.com/api/v3/repos/acme/widgets/git/ref/heads/main", "GET /repos/{owner}/{repo}/git/ref/{ref}"},
		{ghes, "POST", "https://ghe.example.com/api/v3/app/installations/42/access_tokens", "POST /app/installations/{installation_id}/access_tokens"},
		{ghes, "GET", "https://ghe.example.com/api/v3/app", "GET /app"},
		{ghes, "POST", "https://ghe.example.com/api/graphql", "POST /graphql"},
		{ghes, "GET", "https://ghe.example.com/repos/acme/widgets", "other"},
		{ghes, "POST", "https://ghe.example.com/api/v3/api/v3/graphql", "other"},
		{ghes, "GET", "https://api.github.com/repos/acme/widgets", "other"},
	}
	covered := map[string]bool{}
	for _, tc := range cases {
		t.Run(tc.method+" "+tc.url, func(t *testing.T) {
			base, err := url.Parse(tc.base)
			require.NoError(t, err)
			req, err := http.NewRequest(tc.method, tc.url, nil)
			require.NoError(t, err)
			require.Equal(t, tc.want, newRouteTable(base, githubRoutes).route(req))
		})
		covered[tc.want] = true
	}
	for _, r := range githubRoutes {
		require.True(t, covered[strings.ReplaceAll(r, "...}", "}")], "no case for %s", r)
	}
}

func TestCountingTransportError(t *testing.T) {
	t.Parallel()
	base, err := url.Parse("https://api.github.com/")
	require.NoError(t, err)
	vec, err := newRequestCounter(nil)
	require.NoError(t, err)
	ct := &countingTransport{
		next: roundTripFunc(func(*http.Request) (*http.Response, error) {
			return nil, errors.New("connection refused")
		}),
		routes: newRouteTable(base, githubRoutes), installation: "7", requests: vec,
	}
	req, err := http.NewRequest("GET", "https://api.github.com/repos/acme/widgets", nil)
	require.NoError(t, err)
	_, err = ct.RoundTrip(req)
	require.Error(t, err)
	require.Equal(t, 1.0, testutil.ToFloat64(vec.WithLabelValues("GET /repos/{owner}/{repo}", "7", "error")))
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// testKey is shared because RSA key generation is slow; it is never changed.
var testKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

// TestClientsCountRequests sends requests through the factory's clients to
// the emulator, at the root and behind an Enterprise base path, and reads
// the counter the way /metrics shows it.
func TestClientsCountRequests(t *testing.T) {
	t.Parallel()
	for _, prefix := range []string{"", "/api/v3"} {
		t.Run("prefix="+prefix, func(t *testing.T) {
			t.Parallel()
			const appID = 4242
			emu, err := emulator.New(emulator.Options{AppID: appID, AppPublicKey: &testKey().PublicKey})
			require.NoError(t, err)
			t.Cleanup(func() { _ = emu.Close() })
			var h http.Handler = emu
			if prefix != "" {
				h = http.StripPrefix(prefix, emu)
			}
			srv := httptest.NewServer(h)
			t.Cleanup(srv.Close)
			_, err = emu.CreateRepo("acme", "widgets", emulator.RepoOptions{Files: map[string]string{"README.md": "# widgets\n"}})
			require.NoError(t, err)
			instID := emu.Install("acme")

			reg := prometheus.NewRegistry()
			clients, err := NewClients(&Config{AppID: appID, PrivateKey: testKey(), GitHubAPIURL: srv.URL + prefix + "/"}, WithRegisterer(reg))
			require.NoError(t, err)
			ctx := context.Background()

			inst, _, err := clients.App().Apps.FindRepositoryInstallation(ctx, "acme", "widgets")
			require.NoError(t, err)
			require.Equal(t, instID, inst.GetID())

			gh := clients.Installation(instID)
			ref, _, err := gh.Git.GetRef(ctx, "acme", "widgets", "heads/main")
			require.NoError(t, err)
			const n = 3
			var last *github.CheckRun
			for i := range n {
				last, _, err = gh.Checks.CreateCheckRun(ctx, "acme", "widgets", github.CreateCheckRunOptions{
					Name: fmt.Sprint("specloop/check-", i), HeadSHA: ref.GetObject().GetSHA(),
				})
				require.NoError(t, err)
			}
			remove, err := emu.Inject(emulator.Fault{Method: "PATCH", Path: "/repos/{owner}/{repo}/check-runs/{id}", Count: 1, Status: http.StatusBadGateway})
			require.NoError(t, err)
			t.Cleanup(remove.Remove)
			_, _, err = gh.Checks.UpdateCheckRun(ctx, "acme", "widgets", last.GetID(), github.UpdateCheckRunOptions{Name: "specloop/check-2"})
			require.NoError(t, err, "an update is idempotent: retried past the injected 502")
			_, _, err = gh.Checks.UpdateCheckRun(ctx, "acme", "widgets", last.GetID(), github.UpdateCheckRunOptions{Name: "specloop/check-2"})
			require.NoError(t, err)
			// Neither in the route table nor emulated: counted, but not by name.
			_, _, err = gh.Issues.ListLabels(ctx, "acme", "widgets", nil)
			require.Error(t, err, "the emulator has no repository labels endpoint")
			// A cached token and a new client for the same installation
			// exchange nothing more.
			_, err = clients.Token(ctx, instID)
			require.NoError(t, err)
			_, _, err = clients.Installation(instID).Repositories.Get(ctx, "acme", "widgets")
			require.NoError(t, err)

			id := fmt.Sprint(instID)
			want := fmt.Sprintf(`# HELP %[1]s %[2]s
# TYPE %[1]s counter
%[1]s{code="200",installation="app",route="GET /repos/{owner}/{repo}/installation"} 1
%[1]s{code="201",installation="%[3]s",route="POST /app/installations/{installation_id}/access_tokens"} 1
%[1]s{code="200",installation="%[3]s",route="GET /repos/{owner}/{repo}/git/ref/{ref}"} 1
%[1]s{code="201",installation="%[3]s",route="POST /repos/{owner}/{repo}/check-runs"} %[4]d
%[1]s{code="502",installation="%[3]s",route="PATCH /repos/{owner}/{repo}/check-runs/{check_run_id}"} 1
%[1]s{code="200",installation="%[3]s",route="PATCH /repos/{owner}/{repo}/check-runs/{check_run_id}"} 2
%[1]s{code="404",installation="%[3]s",route="other"} 1
%[1]s{code="200",installation="%[3]s",route="GET /repos/{owner}/{repo}"} 1
`, requestsName, requestsHelp, id, n)
			require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(want), requestsName))

			require.Equal(t, map[Request]int{
				{"GET /repos/{owner}/{repo}/installation", "app"}:               1,
				{"POST /app/installations/{installation_id}/access_tokens", id}: 1,
				{"GET /repos/{owner}/{repo}/git/ref/{ref}", id}:                 1,
				{"POST /repos/{owner}/{repo}/check-runs", id}:                   n,
				{"PATCH /repos/{owner}/{repo}/check-runs/{check_run_id}", id}:   3,
				{"other", id}:                     1,
				{"GET /repos/{owner}/{repo}", id}: 1,
			}, clients.Requests())
		})
	}
}

func TestNewClientsSharedRegistry(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	cfg := &Config{AppID: 1, PrivateKey: testKey(), GitHubAPIURL: "https://api.github.com/"}
	a, err := NewClients(cfg, WithRegisterer(reg))
	require.NoError(t, err)
	b, err := NewClients(cfg, WithRegisterer(reg))
	require.NoError(t, err, "a second factory on one registry shares the series")
	require.Same(t, a.requests, b.requests)

	require.NoError(t, reg.Register(prometheus.NewGauge(prometheus.GaugeOpts{Name: "specloop_other_total", Help: "x"})))
	clash := prometheus.NewRegistry()
	require.NoError(t, clash.Register(prometheus.NewGauge(prometheus.GaugeOpts{Name: requestsName, Help: "a gauge"})))
	_, err = NewClients(cfg, WithRegisterer(clash))
	require.ErrorContains(t, err, "register "+requestsName)
}
