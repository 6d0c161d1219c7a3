package main

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/specloop/specloop/internal/stack"
	"github.com/specloop/specloop/state"
	"github.com/specloop/specloop/store"
)

// TestSecretsStayOut: what runs in the sandbox sees none of the server's
// secrets or any GitHub token, and what it prints is redacted in the stored
// log and in the check run.
func TestSecretsStayOut(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := newStack(t, stack.Options{})
	files := stack.SampleRepo(st.AgentBin())
	const leaked = "ghs_0123456789abcdefghijABCDEFGHIJ012345"
	files[".github/specloop.yml"] = strings.Replace(files[".github/specloop.yml"],
		"command: "+st.AgentBin()+" agent-script",
		"command: \"echo token "+leaked+"; mkdir -p impl; env | sort > impl/env.txt; "+st.AgentBin()+" agent-script\"", 1)
	addRepo(t, st, "secretive", files)
	issue := openLabelledIssue(t, st, "secretive", "- [ ] [s-1] Print things")
	run, cycles := waitCycles(t, st, "secretive", issue, 1)
	require.Equal(t, state.Success, cycles[0].Conclusion, cycles[0].Summary)

	env, ok := fileAt(t, st, "secretive", run.Branch, "impl/env.txt")
	require.True(t, ok)
	require.Contains(t, env, "SPECLOOP_ROLE=implementer", "the agent's environment is what specloop gives it")
	for _, s := range st.Secrets() {
		require.NotContains(t, env, s, "a server secret reached the sandbox")
	}
	require.NotContains(t, env, "ghs_")
	require.NotContains(t, env, "PRIVATE")
	require.NotContains(t, env, "DATABASE_URL")

	arts, err := store.ListArtifacts(ctx, st.Server.Pool, cycles[0].ID)
	require.NoError(t, err)
	names := map[string]int64{}
	for _, a := range arts {
		names[a.Name] = a.ID
	}
	for _, want := range []string{"implement.log", "verify.log", "audit.log", "patch.diff", "prompt-implementer.md", "prompt-auditor.md", "audit.md"} {
		require.Contains(t, names, want, "artifact %s is kept", want)
	}
	log, err := store.GetArtifact(ctx, st.Server.Pool, names["implement.log"])
	require.NoError(t, err)
	require.NotContains(t, string(log.Content), leaked)
	require.Contains(t, string(log.Content), "[REDACTED]")
	for _, cr := range st.Emulator.CheckRuns(st.Owner, "secretive") {
		require.NotContains(t, cr.GetOutput().GetText(), leaked, cr.GetName())
		require.NotContains(t, cr.GetOutput().GetSummary(), leaked, cr.GetName())
	}
	events, err := store.ListEvents(ctx, st.Server.Pool, run.ID, 0, 100)
	require.NoError(t, err)
	var steps []string
	for _, e := range events {
		if e.Kind == "step" && e.Outcome != "started" {
			steps = append(steps, e.Step)
		}
	}
	for _, want := range []string{"prepare", "implement", "verify", "audit", "select", "publish"} {
		require.Contains(t, steps, want, "step %s is recorded as an event", want)
	}
}
