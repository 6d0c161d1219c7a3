package cycle

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/specloop/specloop/agent"
	"github.com/specloop/specloop/internal/unpriv"
	"github.com/specloop/specloop/repoconfig"
	"github.com/specloop/specloop/sandbox"
	"github.com/specloop/specloop/state"
	"github.com/specloop/specloop/workspace"
)

// gitAgent is an agent that uses git the way coding agents do, and writes
// down what git answered.
const gitAgent = `set -e
git status --porcelain > /tmp/status
echo hello > hello.txt
git add hello.txt
git commit -q -m "agent commit"
git log --format=%s -1 > log.txt
git diff --stat HEAD~1 > diff.txt
test -w "$HOME" && echo writable > home.txt
git config core.fsmonitor "touch /tmp/pwned"
git push origin HEAD > push.txt 2>&1 || echo "push refused" >> push.txt
`

// TestGitInSandbox runs an agent that uses git inside the bwrap sandbox:
// status, add, commit, log and diff work, push does not, and nothing the
// agent does to its git directory reaches the worker's. Run as root, it
// runs itself again as an unprivileged user.
func TestGitInSandbox(t *testing.T) {
	if err := sandbox.Check(t.Context()); err != nil {
		t.Fatalf("bwrap cannot sandbox on this host: %v", err)
	}
	parent := t.TempDir()
	require.NoError(t, os.Chmod(parent, 0o755))
	require.NoError(t, os.Chmod(filepath.Dir(parent), 0o755))
	var owner *workspace.Owner
	if os.Geteuid() == 0 {
		owner = &workspace.Owner{UID: sandbox.SandboxUID, GID: sandbox.SandboxUID}
	}
	driver, err := sandbox.New("bwrap", discardLogger())
	require.NoError(t, err)
	e := &Engine{
		Runner:   SandboxRunner{Driver: driver, Limits: sandbox.Limits{Processes: 512, Output: 4 << 20}},
		Redactor: agent.NewRedactor(),
		Logger:   discardLogger(),
	}
	files := map[string]string{
		"specs/demo.md": demoSpec(""),
		"README.md":     "# demo\n",
		"agent.sh":      gitAgent,
		repoconfig.Path: "agent:\n  command: sh agent.sh\n  network: none\naudit: false\nverify: {command: \"true\"}\n",
	}
	wd := newWorkdir(t, parent, files, owner)
	res, _ := scriptedCycle(t, e, wd, files)
	require.Equal(t, state.Success, res.Conclusion, "%s\n%s", res.Summary, res.Steps[0].Text)

	read := func(name string) string {
		b, err := wd.ReadFile(name)
		require.NoError(t, err, name)
		return strings.TrimSpace(string(b))
	}
	require.Equal(t, "agent commit", read("log.txt"), "git commit and git log work inside")
	require.Contains(t, read("diff.txt"), "hello.txt | 1 +", "git diff works inside")
	require.Equal(t, "writable", read("home.txt"), "the agent has a writable home")
	require.Contains(t, read("push.txt"), "push refused", "git push cannot work inside")
	require.Contains(t, changeList(res.Changes), "A hello.txt", "the tree is what specloop publishes")

	// The agent's commit and config stayed in its copy of the git directory.
	// (safe.directory: as root the tree belongs to the sandbox user.)
	head, err := exec.Command("git", "-c", "safe.directory=*", "-C", wd.Path, "rev-parse", "HEAD").CombinedOutput()
	require.NoError(t, err, "%s", head)
	require.Equal(t, wd.Base, strings.TrimSpace(string(head)))
	conf, err := exec.Command("git", "-c", "safe.directory=*", "-C", wd.Path, "config", "--get", "core.fsmonitor").CombinedOutput()
	require.Error(t, err, "the worker's git directory has no fsmonitor planted: %s", conf)
	require.Empty(t, conf)

	if unpriv.Wanted() {
		t.Run("Unprivileged", func(t *testing.T) { unpriv.Run(t, "TestGitInSandbox") })
	}
}
