package emulator

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-github/v62/github"
	"github.com/stretchr/testify/require"
)

func signJWT(t *testing.T, key *rsa.PrivateKey, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodRS256, claims).SignedString(key)
	require.NoError(t, err)
	return s
}

func TestAppAuthWithGhinstallation(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()

	repo, _, err := b.app.Repositories.Get(ctx, "acme", "widgets")
	require.NoError(t, err)
	require.Equal(t, "main", repo.GetDefaultBranch())
	require.Equal(t, b.url+"/acme/widgets.git", repo.GetCloneURL())

	// The token is scoped to the installation and expires in an hour.
	tok := b.appToken(t)
	require.True(t, strings.HasPrefix(tok, "ghs_"))
	_, err = b.s.CreateRepo("other", "thing", RepoOptions{})
	require.NoError(t, err)
	_, resp, err := b.app.Repositories.Get(ctx, "other", "thing")
	require.Error(t, err)
	require.Equal(t, http.StatusNotFound, resp.StatusCode)

	// Every response carries rate-limit headers.
	require.NotEmpty(t, resp.Header.Get("X-RateLimit-Limit"))
	require.NotEmpty(t, resp.Header.Get("X-RateLimit-Remaining"))
	require.NotEmpty(t, resp.Header.Get("X-RateLimit-Reset"))
	require.Equal(t, "core", resp.Header.Get("X-RateLimit-Resource"))
}

func TestJWTChecks(t *testing.T) {
	t.Parallel()
	b := setup(t)
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	now := time.Now()
	good := jwt.MapClaims{"iss": "4242", "iat": now.Add(-30 * time.Second).Unix(), "exp": now.Add(5 * time.Minute).Unix()}
	with := func(k string, v any) jwt.MapClaims {
		c := jwt.MapClaims{}
		for kk, vv := range good {
			c[kk] = vv
		}
		c[k] = v
		return c
	}
	cases := []struct {
		name   string
		token  string
		status int
	}{
		{"good", signJWT(t, appKey(), good), http.StatusOK},
		{"numeric issuer", signJWT(t, appKey(), with("iss", 4242)), http.StatusOK},
		{"expired", signJWT(t, appKey(), with("exp", now.Add(-time.Minute).Unix())), http.StatusUnauthorized},
		{"wrong key", signJWT(t, other, good), http.StatusUnauthorized},
		{"wrong issuer", signJWT(t, appKey(), with("iss", "99")), http.StatusUnauthorized},
		{"too long", signJWT(t, appKey(), with("exp", now.Add(20*time.Minute).Unix())), http.StatusUnauthorized},
		{"issued in future", signJWT(t, appKey(), with("iat", now.Add(5*time.Minute).Unix())), http.StatusUnauthorized},
		{"not a jwt", "ghp_nope", http.StatusUnauthorized},
	}
	for _, tc := range cases {
		c := clientFor(t, b.url, nil).WithAuthToken(tc.token)
		app, resp, err := c.Apps.Get(context.Background(), "")
		require.Equal(t, tc.status, resp.StatusCode, tc.name)
		if tc.status == http.StatusOK {
			require.NoError(t, err)
			require.Equal(t, "specloop", app.GetSlug())
			tok, resp, err := c.Apps.CreateInstallationToken(context.Background(), b.instID, nil)
			require.NoError(t, err)
			require.Equal(t, http.StatusCreated, resp.StatusCode)
			require.WithinDuration(t, time.Now().Add(time.Hour), tok.GetExpiresAt().Time, 5*time.Second)
		} else {
			var er *github.ErrorResponse
			require.ErrorAs(t, err, &er, tc.name)
		}
	}
}

func TestTokenExpiry(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	jwtc := clientFor(t, b.url, nil).WithAuthToken(signJWT(t, appKey(), jwt.MapClaims{
		"iss": "4242", "iat": b.clock.now().Unix(), "exp": b.clock.now().Add(time.Minute).Unix(),
	}))
	tok, _, err := jwtc.Apps.CreateInstallationToken(ctx, b.instID, nil)
	require.NoError(t, err)
	c := clientFor(t, b.url, nil).WithAuthToken(tok.GetToken())
	_, _, err = c.Repositories.Get(ctx, "acme", "widgets")
	require.NoError(t, err)

	b.clock.advance(61 * time.Minute)
	_, resp, err := c.Repositories.Get(ctx, "acme", "widgets")
	require.Error(t, err)
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	require.Contains(t, err.Error(), "Bad credentials")

	// The JWT minted before the jump is now expired too.
	_, resp, err = jwtc.Apps.Get(ctx, "")
	require.Error(t, err)
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
}

func TestUnauthenticatedAPI(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, resp, err := clientFor(t, b.url, nil).Repositories.Get(context.Background(), "acme", "widgets")
	require.Error(t, err)
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	_, resp, err = clientFor(t, b.url, nil).WithAuthToken("ghp_bogus").Repositories.Get(context.Background(), "acme", "widgets")
	require.Error(t, err)
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)

	// A private repo is invisible, not forbidden, to a user without access.
	_, err = b.s.CreateRepo("acme", "secret", RepoOptions{Private: true})
	require.NoError(t, err)
	_, resp, err = b.reader.Repositories.Get(context.Background(), "acme", "secret")
	require.Error(t, err)
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
}

func TestAppInstallationEndpoints(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	jwtc := clientFor(t, b.url, nil).WithAuthToken(signJWT(t, appKey(), jwt.MapClaims{
		"iss": "4242", "iat": time.Now().Unix(), "exp": time.Now().Add(time.Minute).Unix(),
	}))
	insts, _, err := jwtc.Apps.ListInstallations(ctx, nil)
	require.NoError(t, err)
	require.Len(t, insts, 1)
	require.Equal(t, "acme", insts[0].GetAccount().GetLogin())
	inst, _, err := jwtc.Apps.FindRepositoryInstallation(ctx, "acme", "widgets")
	require.NoError(t, err)
	require.Equal(t, b.instID, inst.GetID())

	repos, _, err := b.app.Apps.ListRepos(ctx, nil)
	require.NoError(t, err)
	require.Equal(t, 1, repos.GetTotalCount())

	// The installation webhook went out when the app was installed.
	b.drain(t)
	got := b.hooks.events("installation", "created")
	require.Len(t, got, 1)
	var ev github.InstallationEvent
	require.NoError(t, jsonUnmarshal(got[0].body, &ev))
	require.Equal(t, b.instID, ev.GetInstallation().GetID())
	require.Equal(t, "acme/widgets", ev.Repositories[0].GetFullName())
}

func TestManifestConversion(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.s.AddManifestCode("abc", string(keyPEM(appKey())))
	c := clientFor(t, b.url, nil)
	cfg, resp, err := c.Apps.CompleteAppManifest(context.Background(), "abc")
	require.NoError(t, err)
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	require.Equal(t, int64(testAppID), cfg.GetID())
	require.Equal(t, "specloop", cfg.GetSlug())
	require.Equal(t, testSecret, cfg.GetWebhookSecret())
	require.Contains(t, cfg.GetPEM(), "RSA PRIVATE KEY")
	require.NotEmpty(t, cfg.GetClientID())

	_, resp, err = c.Apps.CompleteAppManifest(context.Background(), "abc")
	require.Error(t, err)
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
}
