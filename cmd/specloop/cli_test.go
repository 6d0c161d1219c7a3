package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The CLI tests run the real binary, built once by TestCLI, as a subprocess
// with a controlled environment: serve reads its configuration from the
// environment, and cycle/testdrive bind their own executable into sandboxes.

const cliTestVersion = "v0.0.0-clitest"

// publicTempDir is a temp dir every user can enter (the bwrap sandbox runs
// as uid 990099 when the tests run as root), removed when t ends.
func publicTempDir(t *testing.T, pattern string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", pattern)
	require.NoError(t, err)
	require.NoError(t, os.Chmod(dir, 0o755))
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// buildCLI builds cmd/specloop, with a stamped version, into a dir the
// sandbox user can reach.
func buildCLI(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(publicTempDir(t, "specloop-cli-test-"), "specloop")
	cmd := exec.Command("go", "build", "-o", bin, "-ldflags", "-X main.version="+cliTestVersion, ".")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	require.NoError(t, os.Chmod(bin, 0o755))
	return bin
}

type cliResult struct {
	code           int
	stdout, stderr string
}

// runCLI runs bin with args in dir (if not "") and exactly env (nil: the
// test's environment without SANDBOX and DATABASE_URL).
func runCLI(t *testing.T, timeout time.Duration, bin, dir string, env []string, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	if env == nil {
		env = cleanEnv("SANDBOX", "DATABASE_URL")
	}
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	require.NoError(t, ctx.Err(), "%s %v timed out; stdout:\n%s\nstderr:\n%s", bin, args, &stdout, &stderr)
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		require.True(t, ok, "run %s: %v", bin, err)
		code = ee.ExitCode()
	}
	return cliResult{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// cleanEnv is os.Environ without the named variables.
func cleanEnv(drop ...string) []string {
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		keep := true
		for _, d := range drop {
			if k == d {
				keep = false
			}
		}
		if keep {
			out = append(out, kv)
		}
	}
	return out
}

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-C", dir, "-c", "user.name=test", "-c", "user.email=test@localhost", "-c", "init.defaultBranch=main"}, args...)...)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "git %v: %s", args, out)
	return strings.TrimSpace(string(out))
}

// gitRepo makes a git repo in a new public dir holding files, committed.
func gitRepo(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := filepath.Join(publicTempDir(t, "specloop-cli-repo-"), "repo")
	require.NoError(t, os.Mkdir(dir, 0o755))
	git(t, dir, "init", "-q")
	for name, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(body), 0o644))
	}
	git(t, dir, "add", "-A")
	git(t, dir, "commit", "-q", "-m", "init")
	return dir
}

func TestCLI(t *testing.T) {
	t.Parallel()
	bin := buildCLI(t)
	t.Run("Serve", func(t *testing.T) { t.Parallel(); testCLIServe(t, bin) })
	t.Run("Usage", func(t *testing.T) { t.Parallel(); testCLIUsage(t, bin) })
	t.Run("Spec", func(t *testing.T) { t.Parallel(); testCLISpec(t, bin) })
	t.Run("Cycle", func(t *testing.T) { t.Parallel(); testCLICycle(t, bin) })
	t.Run("Evidence", func(t *testing.T) { t.Parallel(); testCLIEvidence(t, bin) })
	t.Run("Testdrive", func(t *testing.T) { t.Parallel(); testCLITestdrive(t, bin) })
	t.Run("TestdriveServes", func(t *testing.T) { t.Parallel(); testCLITestdriveServes(t, bin) })
	t.Run("Shutdown", func(t *testing.T) { t.Parallel(); testCLIShutdown(t, bin) })
}

func testCLIServe(t *testing.T, bin string) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	goodKey := string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}))
	// A port nothing listens on, held for the test so no one else can.
	closedPort := refusedPort(t)
	const password = "hunter2-S3cr3t-pw"
	unreachable := fmt.Sprintf("postgres://specloop:%s@127.0.0.1:%d/specloop?sslmode=disable", password, closedPort)
	const garbageKey = "this-is-not-a-pem-key-0xDEADBEEF"

	base := map[string]string{"WEBHOOK_SECRET": "whsec", "APP_ID": "12345", "PRIVATE_KEY": goodKey, "DATABASE_URL": unreachable}
	with := func(over map[string]string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for k, v := range over {
			if v == "" {
				delete(m, k)
			} else {
				m[k] = v
			}
		}
		return m
	}
	tests := []struct {
		name     string
		env      map[string]string
		oneLine  bool     // stderr is exactly one line
		want     []string // each must appear in stderr
		wantNot  []string // none may appear in stdout or stderr
		wantLine string   // a line of stderr starts with this
	}{
		{
			name:    "nothing set names all four in one line",
			env:     map[string]string{},
			oneLine: true,
			want:    []string{"cannot start", "WEBHOOK_SECRET", "APP_ID", "PRIVATE_KEY", "DATABASE_URL"},
		},
		{
			name:    "private key not PEM",
			env:     with(map[string]string{"PRIVATE_KEY": garbageKey}),
			oneLine: true,
			want:    []string{"cannot start", "PRIVATE_KEY", "not a PEM"},
			// refused on the configuration, before touching the database,
			// and the bad key is not echoed
			wantNot: []string{garbageKey, "connect to database", "WEBHOOK_SECRET", "APP_ID"},
		},
		{
			name:    "private key path missing",
			env:     with(map[string]string{"PRIVATE_KEY": "", "PRIVATE_KEY_PATH": "/nonexistent/app.pem"}),
			oneLine: true,
			want:    []string{"PRIVATE_KEY_PATH", "/nonexistent/app.pem"},
			wantNot: []string{"connect to database"},
		},
		{
			name:    "APP_ID not a number",
			env:     with(map[string]string{"APP_ID": "my-app"}),
			oneLine: true,
			want:    []string{"cannot start", `APP_ID "my-app" is not a positive number`},
			wantNot: []string{"connect to database", "PRIVATE_KEY", "WEBHOOK_SECRET"},
		},
		{
			name:    "APP_ID zero",
			env:     with(map[string]string{"APP_ID": "0"}),
			oneLine: true,
			want:    []string{`APP_ID "0" is not a positive number`},
		},
		{
			name:     "database unreachable",
			env:      with(nil),
			oneLine:  true,
			wantLine: "specloop: cannot start: connect to database 127.0.0.1:" + strconv.Itoa(closedPort),
			want:     []string{"connection refused"},
			wantNot:  []string{password},
		},
		{
			name:    "database URL unparseable",
			oneLine: true,
			env:     with(map[string]string{"DATABASE_URL": "postgres://specloop:" + password + "@127.0.0.1:" + strconv.Itoa(closedPort) + "/db?sslmode=bogus"}),
			want:    []string{"cannot start", "DATABASE_URL", "invalid connection string"},
			wantNot: []string{password},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := []string{"PATH=" + os.Getenv("PATH"), "PORT=0", "HOME=" + t.TempDir()}
			for k, v := range tt.env {
				env = append(env, k+"="+v)
			}
			res := runCLI(t, time.Minute, bin, "", env, "serve")
			require.Equal(t, 1, res.code, "stdout:\n%s\nstderr:\n%s", res.stdout, res.stderr)
			if tt.oneLine {
				require.NotContains(t, strings.TrimRight(res.stderr, "\n"), "\n", "one line")
			}
			for _, w := range tt.want {
				require.Contains(t, res.stderr, w)
			}
			for _, w := range tt.wantNot {
				require.NotContains(t, res.stderr, w)
				require.NotContains(t, res.stdout, w)
			}
			if tt.wantLine != "" {
				found := false
				for _, line := range strings.Split(res.stderr, "\n") {
					found = found || strings.HasPrefix(line, tt.wantLine)
				}
				require.True(t, found, "a line starting %q in:\n%s", tt.wantLine, res.stderr)
			}
		})
	}
}

func testCLIUsage(t *testing.T, bin string) {
	tests := []struct {
		name       string
		args       []string
		code       int
		stdout     string // exact, if set
		stderrHas  []string
		stderrNot  []string
		stdoutNone bool
	}{
		{name: "version", args: []string{"version"}, code: 0, stdout: "specloop " + cliTestVersion + "\n"},
		{name: "no args", args: nil, code: 2, stdoutNone: true,
			stderrHas: []string{"usage: specloop <command>", "serve", "cycle", "testdrive", "version"}, stderrNot: []string{"agent-script"}},
		{name: "unknown command", args: []string{"frobnicate"}, code: 2, stdoutNone: true,
			stderrHas: []string{`specloop: unknown command "frobnicate"`, "usage: specloop <command>"}},
		{name: "help", args: []string{"help"}, code: 0, stdoutNone: true, stderrHas: []string{"usage: specloop <command>"}},
		{name: "spec without subcommand", args: []string{"spec"}, code: 2, stdoutNone: true, stderrHas: []string{"specloop spec lint [FILE|DIR...]"}},
		{name: "spec next with two files", args: []string{"spec", "next", "a.md", "b.md"}, code: 2, stderrHas: []string{"specloop spec next FILE"}},
		{name: "cycle bad flag", args: []string{"cycle", "--nope"}, code: 2, stderrHas: []string{"flag provided but not defined"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res := runCLI(t, time.Minute, bin, t.TempDir(), nil, tt.args...)
			require.Equal(t, tt.code, res.code, "stdout:\n%s\nstderr:\n%s", res.stdout, res.stderr)
			if tt.stdout != "" {
				require.Equal(t, tt.stdout, res.stdout)
			}
			if tt.stdoutNone {
				require.Empty(t, res.stdout)
			}
			for _, w := range tt.stderrHas {
				require.Contains(t, res.stderr, w)
			}
			for _, w := range tt.stderrNot {
				require.NotContains(t, res.stderr, w)
			}
		})
	}
}

func testCLISpec(t *testing.T, bin string) {
	repo := gitRepo(t, map[string]string{
		"specs/good.md": "# Auth\n\n## Login\n\n- [x] [auth-1] Store users\n- [ ] [auth-2] Render the form\n- [ ] [auth-3] Check the password\n",
		"specs/dup.md":  "# Dup\n\n- [ ] [d-1] One\n- [ ] [d-1] Two\n",
		"specs/done.md": "# Done\n\n- [x] [z-1] First\n- [x] [z-2] Second\n",
		"specs/flat.md": "- [ ] [f-1] No heading\n",
	})
	tests := []struct {
		name   string
		dir    string // relative to repo
		args   []string
		code   int
		stdout string // exact
		stderr string // contained
	}{
		{name: "lint good", args: []string{"lint", "specs/good.md"}, code: 0,
			stdout: "ok specs/good.md (3 obligations, 2 open)\n"},
		{name: "lint several", args: []string{"lint", "specs/good.md", "specs/done.md"}, code: 0,
			stdout: "ok specs/good.md (3 obligations, 2 open)\nok specs/done.md (2 obligations, 0 open)\n"},
		{name: "lint duplicate ids", args: []string{"lint", "specs/dup.md"}, code: 1,
			stdout: "specs/dup.md:4: duplicate id \"d-1\" (first at line 3)\n"},
		{name: "lint reports every file", args: []string{"lint", "specs/dup.md", "specs/good.md"}, code: 1,
			stdout: "specs/dup.md:4: duplicate id \"d-1\" (first at line 3)\nok specs/good.md (3 obligations, 2 open)\n"},
		{name: "lint path as typed from a subdirectory", dir: "specs", args: []string{"lint", "dup.md"}, code: 1,
			stdout: "dup.md:4: duplicate id \"d-1\" (first at line 3)\n"},
		{name: "lint missing file", args: []string{"lint", "specs/missing.md"}, code: 1, stderr: "specs/missing.md"},
		{name: "next", args: []string{"next", "specs/good.md"}, code: 0,
			stdout: "auth-2: Render the form\n  at specs/good.md:6 (Auth > Login)\n"},
		{name: "next without headings", args: []string{"next", "specs/flat.md"}, code: 0,
			stdout: "f-1: No heading\n  at specs/flat.md:1\n"},
		{name: "next all done", args: []string{"next", "specs/done.md"}, code: 0,
			stdout: "nothing left: all 2 obligations done\n"},
		{name: "next missing file", args: []string{"next", "specs/missing.md"}, code: 1, stderr: "specs/missing.md"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res := runCLI(t, time.Minute, bin, filepath.Join(repo, tt.dir), nil, append([]string{"spec"}, tt.args...)...)
			require.Equal(t, tt.code, res.code, "stdout:\n%s\nstderr:\n%s", res.stdout, res.stderr)
			require.Equal(t, tt.stdout, res.stdout)
			require.Contains(t, res.stderr, tt.stderr)
		})
	}
}

func testCLICycle(t *testing.T, bin string) {
	config := fmt.Sprintf("agent: {command: %q}\nverify: {command: \"true\"}\n", bin+" agent-script")
	tests := []struct {
		name     string
		files    map[string]string
		args     []string // after --repo DIR
		code     int
		stdout   []string
		stderr   string
		branch   bool   // specloop/spec/a is created
		implFile string // the branch's commit holds it
	}{
		{
			name:  "success lands on a local branch",
			files: map[string]string{"specs/a.md": "# A\n\n- [ ] [a-1] Do it\n", ".github/specloop.yml": config},
			code:  0,
			stdout: []string{
				"== implement ==", "implement: success", "`a-1`: Do it", "impl/a-1.ok",
				"== verify ==", "verify: success", "`true` exited 0",
				"== audit ==", "audit: success", "Tamper check:** passed",
				"conclusion: success", "on local branch specloop/spec/a",
				"statement: attached unsigned in refs/notes/specloop (set EVIDENCE_KEY to sign it)",
			},
			branch: true, implFile: "impl/a-1.ok",
		},
		{
			name:  "agent fails: nothing pushed",
			files: map[string]string{"specs/a.md": "# A\n\n- [ ] [a-1] Do it [script:fail]\n", ".github/specloop.yml": config},
			code:  1,
			stdout: []string{"implement: failure", "exited with 1", "conclusion: failure",
				"--- implement log (last lines) ---\nscripted agent: implementer for obligation a-1\nscripted agent: failing as asked\n---", "exited with 1: scripted agent: failing as asked"},
		},
		{
			name:   "spec named with --spec",
			files:  map[string]string{"specs/a.md": "# A\n\n- [x] [a-0] Old\n- [ ] [a-1] Do it\n", "specs/b.md": "- [ ] [b-1] Other\n", ".github/specloop.yml": config},
			args:   []string{"--spec", "specs/a.md"},
			code:   0,
			stdout: []string{"spec specs/a.md", "conclusion: success"},
			branch: true, implFile: "impl/a-1.ok",
		},
		{
			name:   "agent given with --agent",
			files:  map[string]string{"specs/a.md": "# A\n\n- [ ] [a-1] Do it\n", ".github/specloop.yml": "verify: {command: \"true\"}\n"},
			args:   []string{"--agent", bin + " agent-script"},
			code:   0,
			stdout: []string{"conclusion: success"},
			branch: true, implFile: "impl/a-1.ok",
		},
		{
			name:   "bad repo config",
			files:  map[string]string{"specs/a.md": "- [ ] [a-1] Do it\n", ".github/specloop.yml": "agnet: {command: x}\n"},
			code:   1,
			stderr: "specloop cycle: .github/specloop.yml",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			repo := gitRepo(t, tt.files)
			before := git(t, repo, "rev-parse", "HEAD")
			branchBefore := git(t, repo, "rev-parse", "--abbrev-ref", "HEAD")
			res := runCLI(t, 3*time.Minute, bin, "", nil, append([]string{"cycle", "--repo", repo}, tt.args...)...)
			require.Equal(t, tt.code, res.code, "stdout:\n%s\nstderr:\n%s", res.stdout, res.stderr)
			for _, w := range tt.stdout {
				require.Contains(t, res.stdout, w, "stderr:\n%s", res.stderr)
			}
			require.Contains(t, res.stderr, tt.stderr)

			// The checkout the user is on is untouched.
			require.Equal(t, before, git(t, repo, "rev-parse", "HEAD"))
			require.Equal(t, branchBefore, git(t, repo, "rev-parse", "--abbrev-ref", "HEAD"))
			require.Empty(t, git(t, repo, "status", "--porcelain"), "work tree clean")
			_, err := os.Stat(filepath.Join(repo, "impl"))
			require.True(t, os.IsNotExist(err), "nothing written into the checkout")

			branches := git(t, repo, "branch", "--list", "specloop/*")
			if !tt.branch {
				require.Empty(t, branches, "no branch created")
				return
			}
			require.Equal(t, "specloop/spec/a", strings.TrimSpace(branches))
			require.Equal(t, before, git(t, repo, "rev-parse", "specloop/spec/a~1"), "one commit on top of HEAD")
			tree := git(t, repo, "ls-tree", "-r", "--name-only", "specloop/spec/a")
			require.Contains(t, strings.Split(tree, "\n"), tt.implFile)
			require.NotContains(t, tree, ".specloop/", "scratch files are not committed")
			require.Contains(t, git(t, repo, "show", "specloop/spec/a:specs/a.md"), "- [x] [a-1] Do it")
			require.Contains(t, git(t, repo, "show", "HEAD:specs/a.md"), "- [ ] [a-1] Do it", "the original branch keeps the box open")
			require.Equal(t, "specloop: a-1 Do it", git(t, repo, "log", "-1", "--format=%s", "specloop/spec/a"))
		})
	}

	// go install puts the binary in root's 0700 home: the sandbox user
	// cannot reach it there, and every local cycle failed, even with a
	// plain shell script as the agent. The binary, as the agent script,
	// still runs: from a copy the sandbox binds at its own path.
	t.Run("binary in a 0700 directory", func(t *testing.T) {
		t.Parallel()
		closed := filepath.Join(t.TempDir(), "home")
		require.NoError(t, os.Mkdir(closed, 0o700))
		hidden := filepath.Join(closed, "specloop")
		b, err := os.ReadFile(bin)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(hidden, b, 0o755))
		for name, agentCmd := range map[string]string{"shell": "mkdir -p impl && echo shell > impl/a-1.ok", "agent-script": hidden + " agent-script"} {
			repo := gitRepo(t, map[string]string{"specs/a.md": "# A\n\n- [ ] [a-1] Do it\n",
				".github/specloop.yml": fmt.Sprintf("agent: {command: %q}\naudit: false\nverify: {command: \"true\"}\n", agentCmd)})
			res := runCLI(t, 3*time.Minute, hidden, "", nil, "cycle", "--repo", repo)
			require.Equal(t, 0, res.code, "%s agent:\nstdout:\n%s\nstderr:\n%s", name, res.stdout, res.stderr)
			require.Contains(t, res.stdout, "conclusion: success", name)
		}
	})

	// specs/001-x.md beside specs/001-x/tasks.md once gave refs where one
	// was a directory of the other ("cannot lock ref"): each now has a
	// branch of its own and both cycles land.
	t.Run("a spec beside a task file of the same name", func(t *testing.T) {
		t.Parallel()
		repo := gitRepo(t, map[string]string{
			".github/specloop.yml": config,
			"specs/001-x.md":       "# X\n\n- [ ] [x-1] Plain work\n",
			"specs/001-x/tasks.md": "# Tasks\n\n- [X] T001 Setup\n- [ ] T002 Kit work\n",
			"specs/001-x/plan.md":  "- [ ] a plan gate\n",
		})
		for _, sp := range []string{"specs/001-x.md", "specs/001-x/tasks.md"} {
			res := runCLI(t, 3*time.Minute, bin, "", nil, "cycle", "--repo", repo, "--spec", sp)
			require.Equal(t, 0, res.code, "stdout:\n%s\nstderr:\n%s", res.stdout, res.stderr)
			require.Contains(t, res.stdout, "conclusion: success")
		}
		require.Equal(t, "specloop/spec/001-x\nspecloop/spec/001-x--tasks", strings.Join(strings.Fields(git(t, repo, "branch", "--list", "specloop/*", "--format=%(refname:short)")), "\n"))
		require.Equal(t, "# Tasks\n\n- [X] T001 Setup\n- [X] T002 Kit work", git(t, repo, "show", "specloop/spec/001-x--tasks:specs/001-x/tasks.md"), "ticked in the file's own style")
	})

	t.Run("not a git checkout", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		res := runCLI(t, time.Minute, bin, "", nil, "cycle", "--repo", dir)
		require.Equal(t, 1, res.code)
		require.Contains(t, res.stderr, "is not a git checkout with a commit")
	})
}

// testdriveJSON is what the tests read of testdrive's JSON line.
type testdriveJSON struct {
	EmulatorURL string            `json:"emulator_url"`
	Repo        string            `json:"repo"`
	Tokens      map[string]string `json:"tokens"`
	PullRequest struct {
		Number int    `json:"number"`
		URL    string `json:"url"`
	} `json:"pull_request"`
	CheckRuns []struct {
		Name       string `json:"name"`
		Conclusion string `json:"conclusion"`
	} `json:"check_runs"`
	RunPage string `json:"run_page"`
}

func testCLITestdrive(t *testing.T, bin string) {
	type variant struct {
		name string
		// setup returns the command's argv prefix (before "testdrive ..."),
		// its environment and the TMPDIR it uses.
		setup func(t *testing.T) (argv, env []string, tmp string)
	}
	variants := []variant{{
		name: "as the current user",
		setup: func(t *testing.T) ([]string, []string, string) {
			tmp := publicTempDir(t, "specloop-cli-tmp-")
			env := append(cleanEnv("SANDBOX", "DATABASE_URL", "TMPDIR"), "TMPDIR="+tmp)
			return []string{bin}, env, tmp
		},
	}}
	if os.Geteuid() == 0 {
		variants = append(variants, variant{
			name: "as nobody",
			setup: func(t *testing.T) ([]string, []string, string) {
				setpriv, err := exec.LookPath("setpriv")
				if err != nil {
					t.Skip("no setpriv")
				}
				nobody, err := user.Lookup("nobody")
				if err != nil {
					t.Skip("no user nobody")
				}
				uid, _ := strconv.Atoi(nobody.Uid)
				gid, _ := strconv.Atoi(nobody.Gid)
				root := publicTempDir(t, "specloop-cli-nobody-")
				// The binary in a dir nobody may enter but not list.
				binDir := filepath.Join(root, "bin")
				require.NoError(t, os.Mkdir(binDir, 0o711))
				require.NoError(t, os.Chmod(binDir, 0o711))
				own := filepath.Join(binDir, "specloop")
				src, err := os.ReadFile(bin)
				require.NoError(t, err)
				require.NoError(t, os.WriteFile(own, src, 0o755))
				// HOME and TMPDIR: nobody's own private dir.
				home := filepath.Join(root, "home")
				require.NoError(t, os.Mkdir(home, 0o700))
				require.NoError(t, os.Chown(home, uid, gid))
				env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "TMPDIR=" + home, "LANG=C"}
				argv := []string{setpriv, "--reuid=" + nobody.Uid, "--regid=" + nobody.Gid, "--clear-groups", own}
				return argv, env, home
			},
		})
	}
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			argv, env, tmp := v.setup(t)
			args := append(argv[1:], "testdrive", "--json", "--exit", "--timeout", "2m")
			res := runCLI(t, 4*time.Minute, argv[0], tmp, env, args...)
			require.Equal(t, 0, res.code, "stdout:\n%s\nstderr:\n%s", res.stdout, res.stderr)

			lines := strings.Split(strings.TrimRight(res.stdout, "\n"), "\n")
			last := lines[len(lines)-1]
			var r testdriveJSON
			dec := json.NewDecoder(strings.NewReader(last))
			require.NoError(t, dec.Decode(&r), "last line is JSON: %s", last)
			require.False(t, dec.More(), "one JSON object on the last line")
			require.True(t, strings.HasPrefix(r.EmulatorURL, "http://"), r.EmulatorURL)
			require.Equal(t, "acme/widgets", r.Repo)
			require.NotEmpty(t, r.Tokens["maintainer"])
			require.NotEmpty(t, r.Tokens["reader"])
			require.Positive(t, r.PullRequest.Number)
			require.True(t, strings.HasPrefix(r.PullRequest.URL, "http"), r.PullRequest.URL)
			checks := map[string]string{}
			for _, c := range r.CheckRuns {
				checks[c.Name] = c.Conclusion
			}
			for _, name := range []string{"specloop/implement", "specloop/verify", "specloop/audit"} {
				require.Equal(t, "success", checks[name], "check run %s (have %v)", name, checks)
			}
			require.True(t, strings.HasPrefix(r.RunPage, "http"), r.RunPage)
			require.Contains(t, r.RunPage, "/runs/")
			require.Contains(t, r.RunPage, "token=")

			// --exit: everything is gone once the command has returned.
			client := &http.Client{Timeout: 5 * time.Second}
			for _, u := range []string{r.RunPage, r.EmulatorURL} {
				resp, err := client.Get(u)
				if err == nil {
					resp.Body.Close()
				}
				require.Error(t, err, "GET %s after testdrive --exit", u)
				require.Contains(t, err.Error(), "connection refused")
			}
			left, err := os.ReadDir(tmp)
			require.NoError(t, err)
			var names []string
			for _, e := range left {
				names = append(names, e.Name())
			}
			require.Empty(t, names, "testdrive left these in its TMPDIR %s", tmp)
			// No server of the throw-away cluster is left (its socket dir,
			// and so its command line, is under tmp).
			procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
			for _, p := range procs {
				b, err := os.ReadFile(p)
				if err != nil {
					continue
				}
				cmdline := strings.ReplaceAll(string(b), "\x00", " ")
				require.False(t, strings.Contains(cmdline, tmp) && strings.Contains(cmdline, "postgres"),
					"leftover process %s: %s", p, cmdline)
			}
		})
	}
}

// refusedPort returns a loopback port that refuses connections for as long
// as t runs: a socket is bound to it but never listens. Closing a listener
// instead would free the port for anyone (a parallel test's server, another
// cluster) to take before it is used.
func refusedPort(t *testing.T) int {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	require.NoError(t, err)
	t.Cleanup(func() { syscall.Close(fd) })
	// No SO_REUSEADDR: nobody else can bind the port while this holds it.
	require.NoError(t, syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}))
	sa, err := syscall.Getsockname(fd)
	require.NoError(t, err)
	return sa.(*syscall.SockaddrInet4).Port
}
