package repoconfig

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParseRepoConfig(t *testing.T) {
	t.Parallel()
	full := `specs: ["docs/specs/*.md"]
label: bot
branch_prefix: bot/
agent:
  command: claude -p
  env: [MY_TOKEN]
  timeout: 10m
verify:
  command: make test
  timeout: 5m
  require: red_green
fix_attempts: 1
audit: false
on_push: cycle
schedule: "0 3 * * 1-5"
drain: {max_cycles: 3}
limits: {cycles_per_pr: 4, concurrent: 1}
`
	c, err := Parse([]byte(full))
	require.NoError(t, err)
	require.Equal(t, []string{"docs/specs/*.md"}, c.Specs)
	require.Equal(t, "bot", c.Label)
	require.Equal(t, 10*time.Minute, time.Duration(c.Agent.Timeout))
	require.Equal(t, 1, *c.FixAttempts)
	require.Equal(t, RequireRedGreen, c.Verify.Require)
	require.False(t, *c.Audit)
	require.Equal(t, 3, c.Drain.MaxCycles)
	require.True(t, c.IsSpec("docs/specs/a.md"))
	require.False(t, c.IsSpec("specs/a.md"))

	d, err := Parse(nil)
	require.NoError(t, err)
	require.Equal(t, "specloop", d.Label)
	require.Equal(t, "codex", d.Agent.Preset, "the default agent is the codex preset")
	require.Equal(t, NetworkModel, d.Agent.Network, "a preset reaches its model API through the proxy only")
	require.Equal(t, "codex", d.AuditorConfig().Preset, "the auditor defaults to the agent's preset")
	require.Equal(t, 2, *d.FixAttempts)
	require.Equal(t, "check", d.OnPush)
	require.True(t, d.Protected(".github/specloop.yml"))
	require.True(t, d.Protected("specs/x/y.md"))

	bad := []struct{ src, says string }{
		{"label: [", "line 1"},
		{"lable: x", "field lable not found"},
		{"agent:\n  timeout: soon", "line 2"},
		{"on_push: always", "on_push"},
		{"verify: {require: tests}", `verify.require "tests" must be red_green`},
		{"schedule: every day", "schedule"},
		{"agent:\n  env: [DATABASE_URL]", "DATABASE_URL may not be passed"},
		{"agent:\n  command: aider\n  env: [OPENAI_API_KEY]", "OPENAI_API_KEY may not be passed into the sandbox (model keys stay with the model proxy"},
		{"auditor:\n  preset: claude\n  env: [ANTHROPIC_API_KEY]", "auditor.env: ANTHROPIC_API_KEY may not be passed"},
		{"branch_prefix: bot", "must end with /"},
		{"agent: cursor", `unknown preset "cursor" (want claude, codex, gemini, opencode`},
		{"agent:\n  preset: codex\n  network: some", "network \"some\" must be model, none or full"},
		{"agent:\n  command: my-agent\n  network: model", "network: model needs a preset"},
		{"agent:\n  presett: codex", "line 2: field presett not found"},
		{"auditor: gpt", `auditor: unknown preset "gpt"`},
		{"limits: {usd_per_day: -1}", "must not be negative"},
	}
	for _, b := range bad {
		_, err := Parse([]byte(b.src))
		require.Error(t, err, b.src)
		require.Contains(t, err.Error(), b.says, b.src)
		require.Contains(t, err.Error(), ".github/specloop.yml")
	}
}

func TestParseAgentForms(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, src string
		agent     AgentConfig
		auditor   AgentConfig
	}{
		{"preset by name", "agent: claude\n",
			AgentConfig{Preset: "claude", Network: NetworkModel, Timeout: Duration(30 * time.Minute)},
			AgentConfig{Preset: "claude", Network: NetworkModel, Timeout: Duration(30 * time.Minute)}},
		{"table with a preset", "agent:\n  preset: gemini\n  env: [MY_TOKEN]\n  network: full\n  timeout: 5m\nauditor: claude\n",
			AgentConfig{Preset: "gemini", Env: []string{"MY_TOKEN"}, Network: NetworkFull, Timeout: Duration(5 * time.Minute)},
			AgentConfig{Preset: "claude", Env: []string{"MY_TOKEN"}, Network: NetworkModel, Timeout: Duration(5 * time.Minute)}},
		{"a plain command keeps working, with the network it had", "agent:\n  command: aider --yes\n",
			AgentConfig{Command: "aider --yes", Network: NetworkFull, Timeout: Duration(30 * time.Minute)},
			AgentConfig{Command: "aider --yes", Network: NetworkFull, Timeout: Duration(30 * time.Minute)}},
		{"network false from before the proxy", "agent:\n  command: x\n  network: false\n",
			AgentConfig{Command: "x", Network: NetworkNone, Timeout: Duration(30 * time.Minute)},
			AgentConfig{Command: "x", Network: NetworkNone, Timeout: Duration(30 * time.Minute)}},
		{"auditor table", "agent: codex\nauditor:\n  preset: claude\n  network: none\n",
			AgentConfig{Preset: "codex", Network: NetworkModel, Timeout: Duration(30 * time.Minute)},
			AgentConfig{Preset: "claude", Network: NetworkNone, Timeout: Duration(30 * time.Minute)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := Parse([]byte(c.src))
			require.NoError(t, err)
			require.Equal(t, c.agent, cfg.Agent)
			require.Equal(t, c.auditor, *cfg.AuditorConfig())
		})
	}
	cfg, err := Parse([]byte("limits: {tokens_per_run: 2000000, usd_per_run: 10, usd_per_day: 50}\n"))
	require.NoError(t, err)
	ciFixes := DefaultCIFixes
	require.Equal(t, LimitsConfig{CyclesPerPR: 20, Concurrent: 2, CIFixes: &ciFixes, TokensPerRun: 2000000, USDPerRun: 10, USDPerDay: 50}, cfg.Limits)
}

func TestSpecBranch(t *testing.T) {
	t.Parallel()
	cfg, err := Parse([]byte("branch_prefix: bot/\nspecs: [\"**/*.md\"]"))
	require.NoError(t, err)
	for in, want := range map[string]string{
		"specs/auth.md":                   "bot/spec/auth",
		"specs/api/v2.md":                 "bot/spec/api--v2",
		"specs/001-photos/tasks.md":       "bot/spec/001-photos--tasks",
		".kiro/specs/users/tasks.md":      "bot/spec/kiro--users",
		"openspec/changes/add-x/tasks.md": "bot/spec/openspec--add-x",
	} {
		require.Equal(t, want, cfg.SpecBranch(in), in)
	}
	require.Regexp(t, `^bot/spec/docs--Design-Notes-[0-9a-f]{8}$`, cfg.SpecBranch("docs/Design Notes.md"))
	require.Regexp(t, `^bot/spec/weird---name-[0-9a-f]{8}$`, cfg.SpecBranch("specs/weird:~^name.md"))
}

// TestSpecBranchUnique: no two task files share a branch and no branch is
// a directory of another, so git never says "cannot lock ref".
func TestSpecBranchUnique(t *testing.T) {
	t.Parallel()
	cfg, err := Parse(nil)
	require.NoError(t, err)
	paths := []string{
		"specs/001-x.md", "specs/001-x/tasks.md", "specs/001-x--tasks.md", "specs/001-x/tasks/a.md",
		"specs/a/b.md", "specs/a--b.md", "specs/a-/b.md", "specs/a/-b.md", "specs/a---b.md",
		"specs/a b.md", "specs/a-b.md", "specs/a.b.md", "specs/a..b.md", "specs/a.md.md", "specs/a.txt",
		".kiro/specs/users/tasks.md", "specs/kiro/users.md", "specs/kiro--users.md", "kiro/users.md",
		"openspec/changes/add-x/tasks.md", "specs/openspec/add-x.md", "specs/openspec--add-x.md",
		"specs/x.lock.md", "specs/.hidden.md", "specs/auth.md", "auth.md", "specs/auth-0123abcd.md",
		"SPECS/auth.md", "specs/Auth.md", "specs/ä.md", "specs/_.md",
	}
	seen := map[string]string{}
	for _, p := range paths {
		b := cfg.SpecBranch(p)
		require.NotContains(t, seen, b, "%s and %s", p, seen[b])
		seen[b] = p
		out, err := exec.Command("git", "check-ref-format", "refs/heads/"+b).CombinedOutput()
		require.NoError(t, err, "%s: %q is not a valid ref: %s", p, b, out)
	}
	for a := range seen {
		for b := range seen {
			require.False(t, strings.HasPrefix(a, b+"/"), "%s is inside %s", a, b)
		}
	}
}

func TestDiscovery(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	files := map[string]string{
		"specs/auth.md":                                    "# Auth\n\n- [ ] [a] login\n",
		"specs/notes.md":                                   "# Notes\n\nprose only\n",
		"specs/001-photos/tasks.md":                        "- [ ] T001 a\n",
		"specs/001-photos/spec.md":                         "- [ ] a user story checklist\n",
		"specs/001-photos/plan.md":                         "- [ ] gate\n",
		"specs/001-photos/quickstart.md":                   "run it\n",
		"specs/001-photos/checklists/requirements.md":      "- [ ] CHK001 ok?\n",
		"specs/001-photos/contracts/api.md":                "- [ ] x\n",
		".specify/templates/tasks-template.md":             "- [ ] T001 x\n",
		".kiro/specs/users/tasks.md":                       "- [ ] 1. a\n",
		".kiro/specs/users/requirements.md":                "### Requirement 1\n",
		"openspec/changes/add-x/tasks.md":                  "## 1. G\n\n- [ ] 1.1 a\n",
		"openspec/changes/add-x/proposal.md":               "why\n",
		"openspec/changes/archive/2025-01-01-old/tasks.md": "- [ ] 1.1 old\n",
		"docs/todo.md":                                     "- [ ] not under specs\n",
	}
	for p, src := range files {
		require.NoError(t, os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, p), []byte(src), 0o644))
	}
	cfg, err := Parse(nil)
	require.NoError(t, err)
	got, err := cfg.SpecFiles(dir)
	require.NoError(t, err)
	require.Equal(t, []string{".kiro/specs/users/tasks.md", "openspec/changes/add-x/tasks.md", "specs/001-photos/tasks.md", "specs/auth.md"}, got)

	for _, p := range got {
		require.True(t, cfg.Protected(p), p)
	}
	for _, p := range []string{"specs/001-photos/quickstart.md", "specs/001-photos/plan.md", ".kiro/specs/users/requirements.md", "openspec/changes/add-x/proposal.md", "docs/todo.md"} {
		require.False(t, cfg.Protected(p), "%s is context the agent may edit", p)
	}
	require.True(t, cfg.Protected(".github/specloop.yml"))

	// specs: still overrides discovery.
	only, err := Parse([]byte(`specs: ["docs/*.md"]`))
	require.NoError(t, err)
	got, err = only.SpecFiles(dir)
	require.NoError(t, err)
	require.Equal(t, []string{"docs/todo.md"}, got)
	require.False(t, only.Protected(".kiro/specs/users/tasks.md"))

	opt, err := Parse([]byte("include_optional: true"))
	require.NoError(t, err)
	require.True(t, opt.IncludeOptional)
}
