package repoconfig

import (
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
  env: [ANTHROPIC_API_KEY]
  timeout: 10m
verify:
  command: make test
  timeout: 5m
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
	require.False(t, *c.Audit)
	require.Equal(t, 3, c.Drain.MaxCycles)
	require.True(t, c.IsSpec("docs/specs/a.md"))
	require.False(t, c.IsSpec("specs/a.md"))

	d, err := Parse(nil)
	require.NoError(t, err)
	require.Equal(t, "specloop", d.Label)
	require.Equal(t, DefaultAgentCommand, d.Agent.Command)
	require.Equal(t, 2, *d.FixAttempts)
	require.Equal(t, "check", d.OnPush)
	require.True(t, d.Protected(".github/specloop.yml"))
	require.True(t, d.Protected("specs/x/y.md"))

	bad := []struct{ src, says string }{
		{"label: [", "line 1"},
		{"lable: x", "field lable not found"},
		{"agent:\n  timeout: soon", "line 2"},
		{"on_push: always", "on_push"},
		{"schedule: every day", "schedule"},
		{"agent:\n  env: [DATABASE_URL]", "DATABASE_URL may not be passed"},
		{"branch_prefix: bot", "must end with /"},
	}
	for _, b := range bad {
		_, err := Parse([]byte(b.src))
		require.Error(t, err, b.src)
		require.Contains(t, err.Error(), b.says, b.src)
		require.Contains(t, err.Error(), ".github/specloop.yml")
	}
}

func TestSpecBranch(t *testing.T) {
	t.Parallel()
	cfg, err := Parse([]byte("branch_prefix: bot/\nspecs: [\"**/*.md\"]"))
	require.NoError(t, err)
	for in, want := range map[string]string{
		"specs/auth.md":         "bot/spec/auth",
		"specs/api/v2.md":       "bot/spec/api/v2",
		"docs/Design Notes.md":  "bot/spec/docs/Design-Notes",
		"specs/weird:~^name.md": "bot/spec/weird---name",
	} {
		require.Equal(t, want, cfg.SpecBranch(in), in)
	}
}
