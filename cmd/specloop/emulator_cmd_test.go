package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/bradleyfalzon/ghinstallation/v2"
	"github.com/google/go-github/v62/github"
	"github.com/stretchr/testify/require"
)

// startEmulatorCmd runs `specloop emulator args...` until the test ends
// and returns what it printed.
func startEmulatorCmd(t *testing.T, args ...string) emulatorReport {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r, w := io.Pipe()
	done := make(chan int)
	go func() {
		code := runEmulator(ctx, args, w, io.Discard)
		w.Close()
		done <- code
	}()
	t.Cleanup(func() {
		cancel()
		require.Equal(t, 0, <-done)
	})
	line, err := bufio.NewReader(r).ReadBytes('\n')
	require.NoError(t, err, "the emulator printed its report")
	go func() { _, _ = io.Copy(io.Discard, r) }()
	var rep emulatorReport
	require.NoError(t, json.Unmarshal(line, &rep))
	return rep
}

func ghClient(t *testing.T, base string, hc *http.Client) *github.Client {
	t.Helper()
	c := github.NewClient(hc)
	u, err := url.Parse(base + "/")
	require.NoError(t, err)
	c.BaseURL = u
	return c
}

// TestEmulatorCommand: another GitHub App can run against `specloop
// emulator` alone: seeded from a file and a local directory, it hands out
// the app key, the installation and users' tokens, and delivers webhooks.
func TestEmulatorCommand(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "site", "docs"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "site", "docs", "index.md"), []byte("# Hello\n"), 0o644))
	var mu sync.Mutex
	var events []string
	hooks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		events = append(events, r.Header.Get("X-GitHub-Event"))
		mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(hooks.Close)
	seed := `repos:
  - name: octo/site
    dir: site
    private: true
users:
  - login: alice
    perms: {octo/site: write}
plans: {octo: team}
`
	require.NoError(t, os.WriteFile(filepath.Join(dir, "seed.yml"), []byte(seed), 0o644))
	key := filepath.Join(dir, "app.pem")
	rep := startEmulatorCmd(t, "-seed", filepath.Join(dir, "seed.yml"), "-app-id", "77", "-write-key", key,
		"-webhook-url", hooks.URL, "-webhook-secret", "s", "-user", "bob", "-perm", "bob:octo/site=read")
	require.Equal(t, []string{"octo/site"}, rep.Repos)
	require.Equal(t, key, rep.AppKey)
	require.NotZero(t, rep.InstallationID)
	require.Equal(t, rep.InstallationID, rep.Installations["octo"])
	require.Contains(t, rep.Tokens, "alice")
	require.Contains(t, rep.Tokens, "bob")
	ctx := context.Background()

	// The app, with the key the emulator wrote.
	pemKey, err := os.ReadFile(key)
	require.NoError(t, err)
	tr, err := ghinstallation.New(http.DefaultTransport, 77, rep.InstallationID, pemKey)
	require.NoError(t, err)
	tr.BaseURL = rep.URL
	app := ghClient(t, rep.URL, &http.Client{Transport: tr})
	fc, _, _, err := app.Repositories.GetContents(ctx, "octo", "site", "docs/index.md", nil)
	require.NoError(t, err)
	body, err := fc.GetContent()
	require.NoError(t, err)
	require.Equal(t, "# Hello\n", body, "seeded from the directory")

	// Users act with their tokens and their roles.
	alice := ghClient(t, rep.URL, nil).WithAuthToken(rep.Tokens["alice"])
	_, _, err = alice.Issues.Create(ctx, "octo", "site", &github.IssueRequest{Title: github.String("hi"), Labels: &[]string{"x"}})
	require.NoError(t, err)
	bob := ghClient(t, rep.URL, nil).WithAuthToken(rep.Tokens["bob"])
	perm, _, err := bob.Repositories.GetPermissionLevel(ctx, "octo", "site", "bob")
	require.NoError(t, err)
	require.Equal(t, "read", perm.GetPermission())
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(events) >= 2
	}, waitLimit, 50*time.Millisecond)
	mu.Lock()
	require.Equal(t, []string{"installation", "issues"}, events[:2])
	mu.Unlock()
}

// TestEmulatorCommandSample: with no seed, the testdrive's world.
func TestEmulatorCommandSample(t *testing.T) {
	t.Parallel()
	rep := startEmulatorCmd(t, "-write-key", filepath.Join(t.TempDir(), "k.pem"))
	require.Equal(t, []string{"acme/widgets"}, rep.Repos)
	require.Contains(t, rep.Tokens, "maintainer")
	require.Contains(t, rep.Tokens, "reader")
	gh := ghClient(t, rep.URL, nil).WithAuthToken(rep.Tokens["maintainer"])
	_, _, _, err := gh.Repositories.GetContents(context.Background(), "acme", "widgets", ".github/specloop.yml", nil)
	require.NoError(t, err)
}
