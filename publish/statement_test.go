package publish_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/specloop/specloop/agent"
	"github.com/specloop/specloop/cycle"
	"github.com/specloop/specloop/publish"
	"github.com/specloop/specloop/spec"
	"github.com/specloop/specloop/state"
)

// TestStatementAgents: the statement says which agent and auditor ran,
// by preset and by the command each preset ran, or by a plain command.
func TestStatementAgents(t *testing.T) {
	t.Parallel()
	res := &cycle.Result{Conclusion: state.Success, Obligation: &spec.Obligation{ID: "a-1", Text: "do a"}, Prompts: map[string]string{"implementer": "p"}}
	for _, c := range []struct {
		name                            string
		in                              publish.StatementInput
		command, auditor, preset, audit string
	}{
		{"presets", publish.StatementInput{
			AgentCommand: agent.CommandOf("codex", ""), AgentPreset: "codex",
			AuditorCommand: agent.CommandOf("claude", ""), AuditorPreset: "claude"},
			agent.Presets["codex"].Command, agent.Presets["claude"].Command, "codex", "claude"},
		{"plain command", publish.StatementInput{AgentCommand: agent.CommandOf("", "my-agent --go"), AuditorCommand: agent.CommandOf("", "my-agent --audit")},
			"my-agent --go", "my-agent --audit", "", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.in.Now = time.Unix(0, 0)
			p := publish.Statement("0123456789abcdef0123456789abcdef01234567", c.in, res).Predicate
			require.Equal(t, c.command, p.Agent.Command)
			require.NotEmpty(t, p.Agent.Command)
			require.Equal(t, c.auditor, p.Agent.Auditor)
			require.Equal(t, c.preset, p.Agent.Preset)
			require.Equal(t, c.audit, p.Agent.AuditorPreset)
		})
	}
}
