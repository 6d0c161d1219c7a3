package githubseam

import (
	"crypto/rand"
	"crypto/rsa"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-github/v62/github"
	"github.com/stretchr/testify/require"

	"github.com/specloop/specloop/app"
	"github.com/specloop/specloop/emulator"
)

var key = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

// TestEmulator holds the emulator to the suite, with specloop's own
// client layer as the app's installation.
func TestEmulator(t *testing.T) {
	t.Parallel()
	for _, plan := range []emulator.Plan{emulator.PlanPro, emulator.PlanFree} {
		t.Run(string(plan), func(t *testing.T) {
			t.Parallel()
			Run(t, func(t *testing.T) *Target {
				const appID = 4747
				emu, err := emulator.New(emulator.Options{AppID: appID, AppPublicKey: &key().PublicKey, DefaultPlan: plan})
				require.NoError(t, err)
				t.Cleanup(func() { _ = emu.Close() })
				base, err := emu.Start()
				require.NoError(t, err)
				_, err = emu.CreateRepo("acme", "scratch", emulator.RepoOptions{Private: true, Files: map[string]string{"README.md": "# scratch\n"}})
				require.NoError(t, err)
				inst := emu.Install("acme")
				clients, err := app.NewClients(&app.Config{AppID: appID, PrivateKey: key(), GitHubAPIURL: base + "/"})
				require.NoError(t, err)
				tok, err := clients.Token(t.Context(), inst)
				require.NoError(t, err)
				return &Target{Client: clients.Installation(inst), Owner: "acme", Repo: "scratch",
					CloneURL: base + "/acme/scratch.git", Token: tok, CheckRuns: true, Drafts: plan != emulator.PlanFree}
			})
		})
	}
}

// TestGitHub holds real GitHub to the suite when given a scratch repo
// (SPECLOOP_SEAM_REPO=owner/name, whose issues, PRs and branches named
// specloop-seam-* it writes) and a token (SPECLOOP_SEAM_TOKEN, or
// GITHUB_TOKEN). An installation token ("ghs_…") covers check runs too;
// SPECLOOP_SEAM_DRAFTS=false says the plan has no drafts.
func TestGitHub(t *testing.T) {
	t.Parallel()
	repo := os.Getenv("SPECLOOP_SEAM_REPO")
	token := os.Getenv("SPECLOOP_SEAM_TOKEN")
	if token == "" {
		token = os.Getenv("GITHUB_TOKEN")
	}
	if repo == "" || token == "" {
		t.Skip("real GitHub not configured: set SPECLOOP_SEAM_REPO=owner/name (a scratch repository) and SPECLOOP_SEAM_TOKEN or GITHUB_TOKEN to run the seam suite against it")
	}
	owner, name, ok := strings.Cut(repo, "/")
	require.True(t, ok, "SPECLOOP_SEAM_REPO is owner/name")
	api := os.Getenv("SPECLOOP_SEAM_API_URL")
	if api == "" {
		api = "https://api.github.com/"
	}
	base, err := url.Parse(api)
	require.NoError(t, err)
	web := "https://github.com"
	if base.Host != "api.github.com" {
		web = base.Scheme + "://" + base.Host
	}
	Run(t, func(t *testing.T) *Target {
		gh := github.NewClient(nil).WithAuthToken(token)
		gh.BaseURL = base
		return &Target{Client: gh, Owner: owner, Repo: name, CloneURL: web + "/" + repo + ".git", Token: token,
			CheckRuns: strings.HasPrefix(token, "ghs_"), Drafts: os.Getenv("SPECLOOP_SEAM_DRAFTS") != "false"}
	})
}
