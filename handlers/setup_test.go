package handlers_test

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/specloop/specloop"
	"github.com/specloop/specloop/app"
	"github.com/specloop/specloop/emulator"
	"github.com/specloop/specloop/handlers"
)

const setupWebhookSecret = "whsec-from-the-manifest-flow-0123456789"

// syncBuffer collects log output from concurrent handlers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type setupBundle struct {
	gh      *emulator.Server
	ghURL   string
	url     string // the setup server
	envFile string
	keyPEM  string
	logs    *syncBuffer
	client  *http.Client // keeps the state cookie, does not follow redirects
}

type setupOpts func(*handlers.SetupOptions)

func setupFlow(t *testing.T, mods ...setupOpts) *setupBundle {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	gh, err := emulator.New(emulator.Options{AppID: 4242, AppPublicKey: &key.PublicKey, AppSlug: "specloop-test", WebhookSecret: setupWebhookSecret})
	require.NoError(t, err)
	ghURL, err := gh.Start()
	require.NoError(t, err)
	t.Cleanup(func() { gh.Close() })
	keyPEM := string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}))

	b := &setupBundle{gh: gh, ghURL: ghURL, keyPEM: keyPEM, logs: &syncBuffer{}}
	b.envFile = filepath.Join(t.TempDir(), "specloop.env")
	b.url = b.serve(t, b.envFile, mods...)
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	b.client = &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return b
}

// serve starts a Setup handler on the bundle's emulator; its public URL is
// its own address.
func (b *setupBundle) serve(t *testing.T, envFile string, mods ...setupOpts) string {
	t.Helper()
	var h http.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	t.Cleanup(srv.Close)
	opts := handlers.SetupOptions{
		Manifest:  specloop.Manifest,
		PublicURL: srv.URL,
		GitHubURL: b.ghURL,
		APIURL:    b.ghURL,
		EnvFile:   envFile,
		Logger:    slog.New(slog.NewTextHandler(b.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	for _, m := range mods {
		m(&opts)
	}
	h = handlers.Setup(opts)
	return srv.URL
}

func (b *setupBundle) get(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := b.client.Get(u)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(body)
}

var (
	formAction    = regexp.MustCompile(`<form action="([^"]+)" method="post">`)
	formManifest  = regexp.MustCompile(`<input type="hidden" name="manifest" value="([^"]+)">`)
	envFileLine   = regexp.MustCompile(`(?m)^([A-Z_]+)=(.*)$`)
	installedLink = regexp.MustCompile(`href="([^"]+/installations/new)"`)
)

// page fetches GET /setup and returns the form's target and manifest.
func (b *setupBundle) page(t *testing.T, setupURL, query string) (*url.URL, map[string]any) {
	t.Helper()
	status, body := b.get(t, setupURL+"/setup"+query)
	require.Equal(t, http.StatusOK, status, body)
	m := formAction.FindStringSubmatch(body)
	require.NotNil(t, m, body)
	action, err := url.Parse(html.UnescapeString(m[1]))
	require.NoError(t, err)
	m = formManifest.FindStringSubmatch(body)
	require.NotNil(t, m, body)
	var manifest map[string]any
	require.NoError(t, json.Unmarshal([]byte(html.UnescapeString(m[1])), &manifest))
	return action, manifest
}

func (b *setupBundle) state(t *testing.T, setupURL string) string {
	t.Helper()
	action, _ := b.page(t, setupURL, "")
	return action.Query().Get("state")
}

func readEnv(t *testing.T, path string) map[string]string {
	t.Helper()
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	env := map[string]string{}
	for _, m := range envFileLine.FindAllStringSubmatch(string(raw), -1) {
		env[m[1]] = m[2]
	}
	return env
}

func requireMode0600(t *testing.T, path string) {
	t.Helper()
	fi, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), path)
}

func TestSetupPage(t *testing.T) {
	t.Parallel()
	b := setupFlow(t)

	action, manifest := b.page(t, b.url, "")
	require.Equal(t, b.ghURL+"/settings/apps/new", action.Scheme+"://"+action.Host+action.Path)
	state := action.Query().Get("state")
	require.Len(t, state, 48)

	require.Equal(t, b.url+"/webhooks", manifest["hook_attributes"].(map[string]any)["url"])
	require.Equal(t, b.url+"/setup/callback", manifest["redirect_url"])
	require.Equal(t, false, manifest["public"])
	require.Equal(t, map[string]any{
		"contents": "write", "pull_requests": "write", "issues": "write", "checks": "write", "metadata": "read",
	}, manifest["default_permissions"])
	require.ElementsMatch(t, []any{"issues", "issue_comment", "push", "pull_request", "check_run", "check_suite"}, manifest["default_events"])

	// A new page, a new state.
	again, _ := b.page(t, b.url, "")
	require.NotEqual(t, state, again.Query().Get("state"))

	// An organization's app.
	action, _ = b.page(t, b.url, "?org=acme")
	require.Equal(t, "/organizations/acme/settings/apps/new", action.Path)
	status, _ := b.get(t, b.url+"/setup?org="+url.QueryEscape("../evil"))
	require.Equal(t, http.StatusBadRequest, status)

	orgURL := b.serve(t, b.envFile, func(o *handlers.SetupOptions) { o.Org = "specs-inc" })
	action, _ = b.page(t, orgURL, "")
	require.Equal(t, "/organizations/specs-inc/settings/apps/new", action.Path)
}

func TestSetupCallbackBadState(t *testing.T) {
	t.Parallel()
	b := setupFlow(t)
	b.gh.AddManifestCode("code-1", b.keyPEM)

	for name, q := range map[string]string{
		"missing": "?code=code-1",
		"unknown": "?code=code-1&state=0123456789abcdef",
	} {
		status, body := b.get(t, b.url+"/setup/callback"+q)
		require.Equal(t, http.StatusBadRequest, status, name)
		require.Contains(t, body, "state", name)
	}

	// A real state from another browser (no cookie) is refused too.
	state := b.state(t, b.url)
	resp, err := http.Get(b.url + "/setup/callback?code=code-1&state=" + state)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)

	_, err = os.Stat(b.envFile)
	require.ErrorIs(t, err, os.ErrNotExist)
}

func TestSetupCallback(t *testing.T) {
	t.Parallel()
	b := setupFlow(t)
	b.gh.AddManifestCode("code-ok", b.keyPEM)

	state := b.state(t, b.url)
	status, body := b.get(t, b.url+"/setup/callback?code=code-ok&state="+state)
	require.Equal(t, http.StatusOK, status, body)
	require.Contains(t, body, "App specloop-test created")
	require.Contains(t, body, "--env-file "+b.envFile)
	m := installedLink.FindStringSubmatch(body)
	require.NotNil(t, m, body)
	require.Equal(t, b.ghURL+"/apps/specloop-test/installations/new", html.UnescapeString(m[1]))

	requireMode0600(t, b.envFile)
	env := readEnv(t, b.envFile)
	require.Equal(t, "4242", env["APP_ID"])
	require.Equal(t, setupWebhookSecret, env["WEBHOOK_SECRET"])
	require.True(t, strings.HasPrefix(env["GITHUB_CLIENT_ID"], "Iv1."), env["GITHUB_CLIENT_ID"])
	require.NotEmpty(t, env["GITHUB_CLIENT_SECRET"])
	require.Equal(t, b.url, env["PUBLIC_URL"])

	// The key: a 0600 .pem beside the env file, and inline in the env file.
	keyFile := filepath.Join(filepath.Dir(b.envFile), "specloop.private-key.pem")
	requireMode0600(t, keyFile)
	raw, err := os.ReadFile(keyFile)
	require.NoError(t, err)
	key, err := app.ParsePrivateKey(raw)
	require.NoError(t, err)
	require.Equal(t, 2048, key.N.BitLen())

	// The env file is what the server's configuration reads.
	cfg, err := app.Load(func(k string) string { return env[k] }, "webhook", "app")
	require.NoError(t, err)
	require.Equal(t, int64(4242), cfg.AppID)
	require.True(t, key.Equal(cfg.PrivateKey))

	// Done: both routes are disabled, the env file stays as it is.
	before, err := os.ReadFile(b.envFile)
	require.NoError(t, err)
	status, body = b.get(t, b.url+"/setup")
	require.Equal(t, http.StatusGone, status)
	require.Contains(t, body, "setup is disabled")
	status, _ = b.get(t, b.url+"/setup/callback?code=code-ok&state="+state)
	require.Equal(t, http.StatusGone, status)
	after, err := os.ReadFile(b.envFile)
	require.NoError(t, err)
	require.Equal(t, before, after)

	// No secret reached the log.
	logs := b.logs.String()
	require.Contains(t, logs, "GitHub App created")
	for name, secret := range map[string]string{
		"webhook secret": setupWebhookSecret,
		"client secret":  env["GITHUB_CLIENT_SECRET"],
		"private key":    strings.Split(strings.TrimSpace(b.keyPEM), "\n")[1],
		"code":           "code-ok",
	} {
		require.NotContains(t, logs, secret, name)
	}
}

func TestSetupCodeUsedTwice(t *testing.T) {
	t.Parallel()
	b := setupFlow(t)
	b.gh.AddManifestCode("code-once", b.keyPEM)

	status, body := b.get(t, b.url+"/setup/callback?code=code-once&state="+b.state(t, b.url))
	require.Equal(t, http.StatusOK, status, body)
	written, err := os.ReadFile(b.envFile)
	require.NoError(t, err)

	// The same code at a second server, writing a second env file: GitHub
	// refuses the used code, nothing is written.
	other := filepath.Join(t.TempDir(), "other.env")
	otherURL := b.serve(t, other)
	status, body = b.get(t, otherURL+"/setup/callback?code=code-once&state="+b.state(t, otherURL))
	require.Equal(t, http.StatusBadGateway, status)
	require.Contains(t, body, "Setup failed")
	require.Contains(t, body, "404")
	_, err = os.Stat(other)
	require.ErrorIs(t, err, os.ErrNotExist)
	_, err = os.Stat(filepath.Join(filepath.Dir(other), "other.private-key.pem"))
	require.ErrorIs(t, err, os.ErrNotExist)

	// The first env file is untouched.
	again, err := os.ReadFile(b.envFile)
	require.NoError(t, err)
	require.Equal(t, written, again)
	require.NotContains(t, b.logs.String(), "code-once")
}

func TestSetupRefusesToOverwrite(t *testing.T) {
	t.Parallel()
	b := setupFlow(t)
	b.gh.AddManifestCode("code-keep", b.keyPEM)
	require.NoError(t, os.WriteFile(b.envFile, []byte("APP_ID=1\n"), 0o600))

	status, body := b.get(t, b.url+"/setup/callback?code=code-keep&state="+b.state(t, b.url))
	require.Equal(t, http.StatusConflict, status)
	require.Contains(t, body, "will not overwrite")
	raw, err := os.ReadFile(b.envFile)
	require.NoError(t, err)
	require.Equal(t, "APP_ID=1\n", string(raw))

	// The code was not spent: an empty env file may be written.
	require.NoError(t, os.WriteFile(b.envFile, nil, 0o644))
	status, body = b.get(t, b.url+"/setup/callback?code=code-keep&state="+b.state(t, b.url))
	require.Equal(t, http.StatusOK, status, body)
	requireMode0600(t, b.envFile)
	require.Equal(t, "4242", readEnv(t, b.envFile)["APP_ID"])
}

func TestSetupDisabledWhenConfigured(t *testing.T) {
	t.Parallel()
	b := setupFlow(t, func(o *handlers.SetupOptions) { o.Configured = true })
	b.gh.AddManifestCode("code-x", b.keyPEM)

	for _, path := range []string{"/setup", "/setup/callback?code=code-x&state=abc"} {
		status, body := b.get(t, b.url+path)
		require.Equal(t, http.StatusGone, status, path)
		require.Contains(t, body, "setup is disabled: an app is already configured", path)
	}
	_, err := os.Stat(b.envFile)
	require.ErrorIs(t, err, os.ErrNotExist)
}
