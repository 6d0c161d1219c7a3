package scripted_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/specloop/specloop/agent"
	"github.com/specloop/specloop/agent/scripted"
)

const specPath = "specs/demo.md"

// run runs scripted.Main in dir for role with the prompt agent.Prompt
// writes, and returns its exit code and output.
func run(t *testing.T, dir string, role agent.Role, text string, env map[string]string) (int, string, string) {
	t.Helper()
	prompt := agent.Prompt(role, agent.PromptInput{
		Obligation: agent.Obligation{ID: "demo-1", Text: text},
		SpecPath:   specPath,
		Diff:       "diff --git a/x b/x\n",
	})
	var stdout, stderr bytes.Buffer
	getenv := func(k string) string { return env[k] }
	code := scripted.Main([]string{"-dir", dir}, strings.NewReader(prompt), &stdout, &stderr, getenv)
	return code, stdout.String(), stderr.String()
}

// newRepo returns a working copy with a spec in it.
func newRepo(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "specs"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, specPath), []byte("- [ ] [demo-1] Do it\n"), 0o644))
	return dir
}

func read(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	require.NoError(t, err)
	return string(b)
}

// verify runs scripted.VerifyCommand in dir and reports whether it passed.
func verify(t *testing.T, dir string) bool {
	t.Helper()
	cmd := exec.Command("/bin/sh", "-c", scripted.VerifyCommand)
	cmd.Dir = dir
	err := cmd.Run()
	if err != nil {
		var ee *exec.ExitError
		require.ErrorAs(t, err, &ee)
	}
	return err == nil
}

// listing returns the files under dir, relative, sorted.
func listing(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	require.NoError(t, filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		files = append(files, filepath.ToSlash(rel))
		return nil
	}))
	return files
}

func TestImplementThenAudit(t *testing.T) {
	t.Parallel()
	dir := newRepo(t)
	code, out, _ := run(t, dir, agent.Implementer, "Add a greeting", nil)
	require.Equal(t, 0, code)
	require.Contains(t, out, "scripted agent: implementer for obligation demo-1")
	require.Equal(t, "- demo-1: Add a greeting\n", read(t, dir, "IMPLEMENTED.md"))
	require.Equal(t, "Add a greeting\n", read(t, dir, "impl/demo-1.txt"))
	require.Equal(t, "ok\n", read(t, dir, "impl/demo-1.ok"))
	require.Equal(t, "- [ ] [demo-1] Do it\n", read(t, dir, specPath))
	require.True(t, verify(t, dir))

	// Deterministic and idempotent: a second run changes nothing.
	before := listing(t, dir)
	code, _, _ = run(t, dir, agent.Implementer, "Add a greeting", nil)
	require.Equal(t, 0, code)
	require.Equal(t, before, listing(t, dir))
	require.Equal(t, "- demo-1: Add a greeting\n", read(t, dir, "IMPLEMENTED.md"))

	code, _, _ = run(t, dir, agent.Auditor, "Add a greeting", nil)
	require.Equal(t, 0, code)
	v, err := agent.ReadVerdict(dir, agent.DefaultAuditFile)
	require.NoError(t, err)
	require.True(t, v.Passed())
	require.Equal(t, "scripted auditor: demo-1 is implemented", v.Summary)
}

func TestSwitches(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		role  agent.Role
		text  string
		env   map[string]string
		code  int
		check func(t *testing.T, dir, stdout, stderr string)
	}{
		{
			name: "fail by env", role: agent.Implementer, text: "Do it",
			env: map[string]string{scripted.EnvScript: "fail"}, code: 1,
			check: func(t *testing.T, dir, _, stderr string) {
				require.Contains(t, stderr, "failing as asked")
				require.Equal(t, []string{specPath}, listing(t, dir))
			},
		},
		{
			name: "fail by marker", role: agent.Implementer, text: "Do it [script:fail]", code: 1,
			check: func(t *testing.T, dir, _, _ string) {
				require.Equal(t, []string{specPath}, listing(t, dir))
			},
		},
		{
			name: "hang", role: agent.Implementer, text: "Do it [script:hang]",
			env: map[string]string{scripted.EnvHang: "20ms"}, code: 124,
			check: func(t *testing.T, dir, stdout, _ string) {
				require.Contains(t, stdout, "hanging")
				require.Equal(t, []string{specPath}, listing(t, dir))
			},
		},
		{
			name: "nochange", role: agent.Implementer, text: "Do it",
			env: map[string]string{scripted.EnvScript: "nochange"}, code: 0,
			check: func(t *testing.T, dir, _, _ string) {
				require.Equal(t, []string{specPath}, listing(t, dir))
			},
		},
		{
			name: "editspec", role: agent.Implementer, text: "Do it [script:editspec]", code: 0,
			check: func(t *testing.T, dir, _, _ string) {
				require.Equal(t, "- [ ] [demo-1] Do it\n\n<!-- edited by the scripted agent for demo-1 -->\n", read(t, dir, specPath))
				require.FileExists(t, filepath.Join(dir, "IMPLEMENTED.md"))
			},
		},
		{
			name: "breaktests implementer", role: agent.Implementer, text: "Do it [script:breaktests]", code: 0,
			check: func(t *testing.T, dir, _, _ string) {
				require.Equal(t, "broken\n", read(t, dir, "impl/demo-1.ok"))
				require.False(t, verify(t, dir))
			},
		},
		{
			name: "tokens", role: agent.Implementer, text: "Do it",
			env: map[string]string{scripted.EnvScript: " tokens , nochange"}, code: 0,
			check: func(t *testing.T, _, stdout, _ string) {
				require.Equal(t, &agent.Usage{Input: 1200, Cached: 200, Output: 300, Total: 1500}, agent.ParseUsage([]byte(stdout)))
			},
		},
		{
			name: "auditfail", role: agent.Auditor, text: "Do it [script:auditfail]", code: 0,
			check: func(t *testing.T, dir, _, _ string) {
				v, err := agent.ReadVerdict(dir, agent.DefaultAuditFile)
				require.NoError(t, err)
				require.False(t, v.Passed())
				require.Equal(t, []agent.Finding{{File: "IMPLEMENTED.md", Line: 1, Message: "scripted auditor: failing as asked", Severity: "failure"}}, v.Findings)
			},
		},
		{
			name: "auditgarbage", role: agent.Auditor, text: "Do it",
			env: map[string]string{scripted.EnvScript: "auditgarbage"}, code: 0,
			check: func(t *testing.T, dir, _, _ string) {
				_, err := agent.ReadVerdict(dir, agent.DefaultAuditFile)
				require.ErrorContains(t, err, "is not valid JSON")
			},
		},
		{
			name: "auditor nochange writes no verdict", role: agent.Auditor, text: "Do it [script:nochange]", code: 0,
			check: func(t *testing.T, dir, _, _ string) {
				_, err := agent.ReadVerdict(dir, agent.DefaultAuditFile)
				require.EqualError(t, err, "auditor wrote no verdict to .specloop/audit.json")
			},
		},
		{
			name: "role from env wins", role: agent.Implementer, text: "Do it",
			env: map[string]string{agent.EnvRole: "auditor"}, code: 0,
			check: func(t *testing.T, dir, _, _ string) {
				require.FileExists(t, filepath.Join(dir, ".specloop/audit.json"))
				require.NoFileExists(t, filepath.Join(dir, "IMPLEMENTED.md"))
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := newRepo(t)
			code, stdout, stderr := run(t, dir, tt.role, tt.text, tt.env)
			require.Equal(t, tt.code, code, "stdout: %s\nstderr: %s", stdout, stderr)
			tt.check(t, dir, stdout, stderr)
		})
	}
}

func TestBreakTestsThenFix(t *testing.T) {
	t.Parallel()
	for _, sw := range []string{"breaktests", "breakalways"} {
		t.Run(sw, func(t *testing.T) {
			t.Parallel()
			dir := newRepo(t)
			text := "Do it [script:" + sw + "]"
			code, _, _ := run(t, dir, agent.Implementer, text, nil)
			require.Equal(t, 0, code)
			require.False(t, verify(t, dir))

			code, _, _ = run(t, dir, agent.Fixer, text, nil)
			require.Equal(t, 0, code)
			if sw == "breaktests" {
				require.Equal(t, "fixed\n", read(t, dir, "impl/demo-1.ok"))
				require.True(t, verify(t, dir))
			} else {
				require.Equal(t, "broken\n", read(t, dir, "impl/demo-1.ok"))
				require.False(t, verify(t, dir))
			}
			require.Equal(t, "- demo-1: "+text+"\n", read(t, dir, "IMPLEMENTED.md"))
		})
	}
}

func TestBadInput(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	getenv := func(string) string { return "" }
	code := scripted.Main(nil, strings.NewReader("hello"), &stdout, &stderr, getenv)
	require.Equal(t, 2, code)
	require.Contains(t, stderr.String(), "no role")

	stderr.Reset()
	code = scripted.Main(nil, strings.NewReader("Specloop-Role: fixer\n"), &stdout, &stderr, getenv)
	require.Equal(t, 2, code)
	require.Contains(t, stderr.String(), "no Obligation-ID line")

	stderr.Reset()
	code = scripted.Main([]string{"-nope"}, strings.NewReader(""), &stdout, &stderr, getenv)
	require.Equal(t, 2, code)
}

// mainRunner runs scripted.Main in-process as an agent.Runner, so that
// agent.Run can be tested end to end without a sandbox.
type mainRunner struct{}

func (mainRunner) Run(_ context.Context, cmd agent.Command) (agent.Result, error) {
	start := time.Now()
	var out bytes.Buffer
	code := scripted.Main([]string{"-dir", cmd.Dir}, bytes.NewReader(cmd.Stdin), &out, &out, func(k string) string { return cmd.Env[k] })
	return agent.Result{ExitCode: code, Output: out.Bytes(), Duration: time.Since(start)}, nil
}

func TestThroughAgentRun(t *testing.T) {
	t.Parallel()
	dir := newRepo(t)
	in := agent.PromptInput{Obligation: agent.Obligation{ID: "demo-1", Text: "Do it"}, SpecPath: specPath}
	o, err := agent.Run(t.Context(), mainRunner{}, "specloop agent-script", agent.Implementer, agent.Prompt(agent.Implementer, in),
		agent.RunOptions{Dir: dir, Env: map[string]string{scripted.EnvScript: "tokens"}})
	require.NoError(t, err)
	require.True(t, o.Succeeded(), string(o.Log))
	require.Equal(t, &agent.Usage{Input: 1200, Cached: 200, Output: 300, Total: 1500}, o.Tokens)
	require.FileExists(t, filepath.Join(dir, "impl/demo-1.txt"))

	o, err = agent.Run(t.Context(), mainRunner{}, "specloop agent-script", agent.Auditor, agent.Prompt(agent.Auditor, in), agent.RunOptions{Dir: dir})
	require.NoError(t, err)
	require.True(t, o.Succeeded(), string(o.Log))
	v, err := agent.ReadVerdict(dir, agent.DefaultAuditFile)
	require.NoError(t, err)
	require.True(t, v.Passed())
}
