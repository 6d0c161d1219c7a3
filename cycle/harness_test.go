package cycle

import (
	"context"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/specloop/specloop/agent"
	"github.com/specloop/specloop/agent/scripted"
	"github.com/specloop/specloop/modelproxy"
	"github.com/specloop/specloop/sandbox"
	"github.com/specloop/specloop/spec"
	"github.com/specloop/specloop/state"
	"github.com/specloop/specloop/workspace"
)

func TestMain(m *testing.M) {
	// Run as `<test binary> agent-script`, this binary is the project's
	// scripted agent, as the specloop binary is.
	// ... and as the model proxy's bridge inside the sandbox.
	if len(os.Args) > 1 && os.Args[1] == "model-bridge" {
		os.Exit(modelproxy.BridgeMain(os.Args[2:], os.Stdin, os.Stdout, os.Stderr))
	}
	if len(os.Args) > 1 && os.Args[1] == "agent-script" {
		os.Exit(scripted.Main(os.Args[2:], os.Stdin, os.Stdout, os.Stderr, os.Getenv))
	}
	os.Exit(m.Run())
}

// gitT runs git in dir and returns its trimmed output.
func gitT(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"GIT_AUTHOR_NAME=Test", "GIT_AUTHOR_EMAIL=test@example.com",
		"GIT_COMMITTER_NAME=Test", "GIT_COMMITTER_EMAIL=test@example.com",
		"GIT_CONFIG_NOSYSTEM=1", "HOME="+dir)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "git %v: %s", args, out)
	return strings.TrimSpace(string(out))
}

// newRepo makes a git repository under parent holding files in one commit
// on main and returns its directory and head sha.
func newRepo(t *testing.T, parent string, files map[string]string) (dir, sha string) {
	t.Helper()
	dir = filepath.Join(parent, "repo")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	gitT(t, dir, "init", "-q", "-b", "main")
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	}
	gitT(t, dir, "add", "-A")
	gitT(t, dir, "commit", "-q", "-m", "initial")
	return dir, gitT(t, dir, "rev-parse", "HEAD")
}

// newWorkdir is a cycle's working copy of a fresh repository holding files,
// made the way workers make it: fetched into a mirror cache, checked out
// from there. owner, when set, owns the tree (the bwrap sandbox user).
func newWorkdir(t *testing.T, parent string, files map[string]string, owner *workspace.Owner) *workspace.Workdir {
	t.Helper()
	repo, sha := newRepo(t, parent, files)
	cacheDir := filepath.Join(parent, "cache")
	require.NoError(t, os.MkdirAll(cacheDir, 0o755))
	cache := &workspace.Cache{Dir: cacheDir, NoOverlay: true, TreeOwner: owner}
	_, err := cache.Fetch(t.Context(), repo, "")
	require.NoError(t, err)
	wd, err := cache.Checkout(t.Context(), repo, sha)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, wd.Close()) })
	return wd
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// newEngine is the engine of a worker on the none driver: a real
// subprocess per agent and verify command, without isolation.
func newEngine(t *testing.T, env map[string]string, secrets ...string) *Engine {
	t.Helper()
	d, err := sandbox.New("none", discardLogger())
	require.NoError(t, err)
	return &Engine{
		Runner:   SandboxRunner{Driver: d},
		Redactor: agent.NewRedactor(secrets...),
		Logger:   discardLogger(),
		Getenv:   func(k string) string { return env[k] },
	}
}

// recorder is a Reporter that writes down what it is told, in order.
type recorder struct {
	mu       sync.Mutex
	events   []string
	finished map[string]*Evidence
	// onStart, when set, is called as a step starts.
	onStart func(step string)
}

func (r *recorder) Selected(_ context.Context, ob *spec.Obligation) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if ob == nil {
		r.events = append(r.events, "selected none")
		return
	}
	r.events = append(r.events, "selected "+ob.ID)
}

func (r *recorder) StepStarted(_ context.Context, step string) {
	r.mu.Lock()
	r.events = append(r.events, "start "+step)
	r.mu.Unlock()
	if r.onStart != nil {
		r.onStart(step)
	}
}

func (r *recorder) StepFinished(_ context.Context, step string, ev *Evidence) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, "finish "+step+" "+string(ev.Conclusion))
	if r.finished == nil {
		r.finished = map[string]*Evidence{}
	}
	r.finished[step] = ev
}

// events lists what a recorder sees for a cycle on obligation id ("none":
// none was left; "": the cycle never got to selecting) whose steps end as
// given, "implement=success" for a step that started and then finished
// with success.
func events(id string, steps ...string) []string {
	var out []string
	if id != "" {
		out = append(out, "selected "+id)
	}
	for _, s := range steps {
		step, conclusion, ok := strings.Cut(s, "=")
		if !ok {
			panic("events: want step=conclusion, got " + s)
		}
		out = append(out, "start "+step, "finish "+step+" "+conclusion)
	}
	return out
}

// stepWant is what a test expects of one step's evidence.
type stepWant struct {
	step       string
	conclusion state.Conclusion
	title      string   // exact
	summary    []string // each is in the summary
	text       []string // each is in the details
}

func requireSteps(t *testing.T, want []stepWant, got []*Evidence) {
	t.Helper()
	var names []string
	for _, e := range got {
		names = append(names, e.Step)
	}
	var wantNames []string
	for _, w := range want {
		wantNames = append(wantNames, w.step)
	}
	require.Equal(t, wantNames, names, "steps")
	for i, w := range want {
		e := got[i]
		require.Equal(t, w.conclusion, e.Conclusion, "%s: conclusion (%s)\n%s", w.step, e.Title, e.Summary)
		if w.title != "" {
			require.Equal(t, w.title, e.Title, "%s: title", w.step)
		}
		for _, s := range w.summary {
			require.Contains(t, e.Summary, s, "%s: summary", w.step)
		}
		for _, s := range w.text {
			require.Contains(t, e.Text, s, "%s: text", w.step)
		}
	}
}

// changeList renders changes as "A impl/a.txt" lines, for comparison.
func changeList(changes []workspace.Change) []string {
	var out []string
	for _, c := range changes {
		out = append(out, string(c.Status)+" "+c.Path)
	}
	return out
}
