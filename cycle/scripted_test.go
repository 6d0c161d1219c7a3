package cycle

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/specloop/specloop/agent"
	"github.com/specloop/specloop/agent/scripted"
	"github.com/specloop/specloop/repoconfig"
	"github.com/specloop/specloop/sandbox"
	"github.com/specloop/specloop/spec"
	"github.com/specloop/specloop/state"
	"github.com/specloop/specloop/workspace"
)

// demoSpec is a spec for the scripted agent, its switches in the
// obligation's text.
func demoSpec(marker string) string {
	return "# Demo\n\n## Greeting\n\n- [ ] [demo-1] Greet the user " + marker + "\n"
}

// demoRepo is a repository driven by the scripted agent run as agentCmd;
// config is more of its repo config.
func demoRepo(marker, agentCmd, config string) map[string]string {
	return map[string]string{
		"specs/demo.md": demoSpec(marker),
		"README.md":     "# demo\n",
		repoconfig.Path: "agent:\n  command: " + agentCmd + "\n" + config + "verify: {command: \"" + scripted.VerifyCommand + "\"}\n",
	}
}

// scriptedCycle runs a cycle on a demo repository in wd's place.
func scriptedCycle(t *testing.T, e *Engine, wd *workspace.Workdir, files map[string]string) (*Result, *recorder) {
	t.Helper()
	cfg, err := repoconfig.Parse([]byte(files[repoconfig.Path]))
	require.NoError(t, err)
	sp, err := spec.Parse("specs/demo.md", []byte(files["specs/demo.md"]))
	require.NoError(t, err)
	rec := &recorder{}
	return e.Run(t.Context(), wd, Input{Config: cfg, Spec: sp}, rec), rec
}

// TestRunScriptedAgent drives the engine with the project's scripted agent
// (this test binary run as `agent-script`), as testdrive does; TestRun
// covers every path with shell agents.
func TestRunScriptedAgent(t *testing.T) {
	t.Parallel()
	exe, err := os.Executable()
	require.NoError(t, err)
	agentCmd := exe + " agent-script"
	tests := []struct {
		name    string
		marker  string
		config  string
		want    state.Conclusion
		summary string
		steps   []stepWant
		changes []string
		draft   bool
	}{
		{
			name: "does the work", marker: "[script:tokens]", want: state.Success, summary: "Obligation `demo-1` done: Greet the user",
			steps: []stepWant{{step: StepImplement, conclusion: state.Success,
				summary: []string{"| tokens | 1200 in (200 cached), 300 out, 1500 total, as the agent reported |", "| `IMPLEMENTED.md` | A | 1 | 0 |"}},
				{step: StepVerify, conclusion: state.Success, summary: []string{"| fix attempts | 0 |"}},
				{step: StepAudit, conclusion: state.Success, summary: []string{"scripted auditor: demo-1 is implemented"}}},
			changes: []string{"A IMPLEMENTED.md", "A impl/demo-1.ok", "A impl/demo-1.txt"},
		},
		{
			name: "breaks the tests, then fixes them", marker: "[script:breaktests]", want: state.Success,
			steps: []stepWant{{step: StepImplement, conclusion: state.Success},
				{step: StepVerify, conclusion: state.Success, summary: []string{"| fix attempts | 1 |"}}, {step: StepAudit, conclusion: state.Success}},
			changes: []string{"A IMPLEMENTED.md", "A impl/demo-1.ok", "A impl/demo-1.txt"},
		},
		{
			name: "edits the spec", marker: "[script:editspec]", want: state.ActionRequired,
			steps: []stepWant{{step: StepImplement, conclusion: state.Success}, tamperStep("specs/demo.md")},
		},
		{
			name: "auditor fails it", marker: "[script:auditfail]", want: state.Failure, summary: draftAudit,
			steps: []stepWant{{step: StepImplement, conclusion: state.Success}, {step: StepVerify, conclusion: state.Success},
				{step: StepAudit, conclusion: state.Failure, summary: []string{"| `IMPLEMENTED.md` | 1 | scripted auditor: failing as asked |"}}},
			changes: []string{"A IMPLEMENTED.md", "A impl/demo-1.ok", "A impl/demo-1.txt"}, draft: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			files := demoRepo(tc.marker, agentCmd, tc.config)
			wd := newWorkdir(t, t.TempDir(), files, nil)
			res, _ := scriptedCycle(t, newEngine(t, nil), wd, files)
			require.Equal(t, tc.want, res.Conclusion, res.Summary)
			if tc.summary != "" {
				require.True(t, strings.HasPrefix(res.Summary, tc.summary), res.Summary)
			}
			requireSteps(t, tc.steps, res.Steps)
			require.Equal(t, tc.changes, changeList(res.Changes))
			require.Equal(t, tc.changes != nil, res.Publish, "publish")
			require.Equal(t, tc.draft, res.Draft, "draft")
		})
	}
}

// TestRunInBwrap runs cycles as production does: each agent and verify
// command in a bubblewrap sandbox, the working copy owned by the sandbox
// user.
func TestRunInBwrap(t *testing.T) {
	t.Parallel()
	if err := sandbox.Check(t.Context()); err != nil {
		t.Skipf("bwrap cannot sandbox on this host: %v", err)
	}
	// The sandbox user must be able to reach the working copy and the agent.
	parent := t.TempDir()
	require.NoError(t, os.Chmod(parent, 0o755))
	require.NoError(t, os.Chmod(filepath.Dir(parent), 0o755))
	bin := installSelf(t, filepath.Join(parent, "bin"))
	var owner *workspace.Owner
	if os.Geteuid() == 0 {
		owner = &workspace.Owner{UID: sandbox.SandboxUID, GID: sandbox.SandboxUID}
	}
	driver, err := sandbox.New("bwrap", discardLogger())
	require.NoError(t, err)
	engine := func(extraRO ...string) *Engine {
		return &Engine{
			Runner:   SandboxRunner{Driver: driver, Limits: sandbox.Limits{Processes: 512, Output: 4 << 20}, ExtraRO: extraRO},
			Redactor: agent.NewRedactor(),
			Logger:   discardLogger(),
		}
	}

	t.Run("verify fails, the fixer fixes it", func(t *testing.T) {
		t.Parallel()
		dir := filepath.Join(parent, "fix")
		require.NoError(t, os.Mkdir(dir, 0o755))
		files := demoRepo("[script:breaktests,tokens]", bin+" agent-script", "")
		wd := newWorkdir(t, dir, files, owner)
		res, rec := scriptedCycle(t, engine(bin), wd, files)
		require.Equal(t, state.Success, res.Conclusion, res.Summary)
		require.Equal(t, events("demo-1", "implement=success", "verify=success", "audit=success"), rec.events)
		requireSteps(t, []stepWant{
			{step: StepImplement, conclusion: state.Success, summary: []string{"| tokens | 1200 in (200 cached), 300 out, 1500 total, as the agent reported |"}},
			{step: StepVerify, conclusion: state.Success, title: "`" + scripted.VerifyCommand + "` exited 0", summary: []string{"| fix attempts | 1 |"}},
			{step: StepAudit, conclusion: state.Success, summary: []string{"scripted auditor: demo-1 is implemented"}},
		}, res.Steps)
		require.Equal(t, []string{"A IMPLEMENTED.md", "A impl/demo-1.ok", "A impl/demo-1.txt"}, changeList(res.Changes))
		require.True(t, res.Publish)
		require.Equal(t, strings.Replace(files["specs/demo.md"], "- [ ]", "- [x]", 1), string(res.Ticked))
		ok, err := wd.ReadFile("impl/demo-1.ok")
		require.NoError(t, err)
		require.Equal(t, "fixed\n", string(ok))
	})

	t.Run("agent network", func(t *testing.T) {
		t.Parallel()
		// What network interfaces an agent sees, by its repo config.
		interfaces := func(t *testing.T, name, agentConfig string) []string {
			dir := filepath.Join(parent, name)
			require.NoError(t, os.Mkdir(dir, 0o755))
			files := demoRepo("", "\"mkdir -p impl && cat /proc/net/dev > impl/net.txt && "+bin+" agent-script\"", agentConfig)
			wd := newWorkdir(t, dir, files, owner)
			res, _ := scriptedCycle(t, engine(bin), wd, files)
			require.Equal(t, state.Success, res.Conclusion, res.Summary)
			dev, err := wd.ReadFile("impl/net.txt")
			require.NoError(t, err)
			return netInterfaces(string(dev))
		}
		require.Equal(t, []string{"lo"}, interfaces(t, "offline", "  network: false\n"), "agent.network: false leaves the agent the loopback only")
		host, err := os.ReadFile("/proc/net/dev")
		require.NoError(t, err)
		if len(netInterfaces(string(host))) > 1 {
			require.Greater(t, len(interfaces(t, "online", "")), 1, "by default the agent reaches the network")
		}
	})

	t.Run("agent cannot be started", func(t *testing.T) {
		t.Parallel()
		dir := filepath.Join(parent, "nostart")
		require.NoError(t, os.Mkdir(dir, 0o755))
		files := demoRepo("", bin+" agent-script", "")
		wd := newWorkdir(t, dir, files, owner)
		// A tool path the worker names but does not have.
		res, rec := scriptedCycle(t, engine(bin, filepath.Join(parent, "no-such-tools")), wd, files)
		require.Equal(t, state.Failure, res.Conclusion, res.Summary)
		require.Equal(t, "The agent failed; nothing was pushed. The agent could not be started", res.Summary)
		require.Equal(t, events("demo-1", "implement=failure"), rec.events)
		requireSteps(t, []stepWant{{step: StepImplement, conclusion: state.Failure, title: "The agent could not be started",
			summary: []string{"setting up the sandbox failed"}}}, res.Steps)
		require.False(t, res.Publish)
	})
}

// installSelf copies this test binary into dir, where the sandbox user can
// run it, and returns its path.
func installSelf(t *testing.T, dir string) string {
	t.Helper()
	exe, err := os.Executable()
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(dir, 0o755))
	src, err := os.Open(exe)
	require.NoError(t, err)
	defer src.Close()
	dst := filepath.Join(dir, "specloop")
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	require.NoError(t, err)
	_, err = io.Copy(out, src)
	require.NoError(t, err)
	require.NoError(t, out.Close())
	return dst
}

// netInterfaces lists the interfaces of a /proc/net/dev.
func netInterfaces(dev string) []string {
	var out []string
	for _, line := range strings.Split(dev, "\n") {
		if name, _, ok := strings.Cut(line, ":"); ok && !strings.Contains(name, "|") {
			out = append(out, strings.TrimSpace(name))
		}
	}
	return out
}
