package workspace

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// safeConfig is passed to every git command. Hooks and fsmonitor would run
// programs named by config, and credential helpers could store a token; none
// of them has any business in a worker.
var safeConfig = [][2]string{
	{"core.hooksPath", os.DevNull},
	{"core.fsmonitor", "false"},
	{"credential.helper", ""},
	{"safe.directory", "*"},
	{"gc.auto", "0"},
	{"maintenance.auto", "false"},
}

// gitCmd is one git invocation.
type gitCmd struct {
	dir    string   // working directory
	env    []string // extra environment, after the sanitised base
	config [][2]string
	secret []string // strings to scrub from errors
	stdin  string
}

// run runs git with args and returns its standard output. The error carries
// git's standard error, with secrets scrubbed.
func (g gitCmd) run(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = g.dir
	cmd.Env = g.environ()
	// git runs its remote helpers (git-remote-https) as children; a helper
	// blocked on a silent remote would outlive a killed git, so a
	// cancelled command takes its whole process group with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	if g.stdin != "" {
		cmd.Stdin = strings.NewReader(g.stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if len(msg) > 2000 {
			msg = msg[:2000] + "…"
		}
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%v)", ctx.Err(), err)
		}
		return stdout.Bytes(), &GitError{
			Args:   redactAll(strings.Join(args, " "), g.secret),
			Stderr: redactAll(msg, g.secret),
			err:    err,
		}
	}
	return stdout.Bytes(), nil
}

// environ is the parent environment without GIT_* variables, which could
// point git at another repository or inject config, plus our config.
func (g gitCmd) environ() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GIT_") {
			env = append(env, kv)
		}
	}
	env = append(env, "GIT_TERMINAL_PROMPT=0", "GIT_ASKPASS=true", "SSH_ASKPASS=true", "GIT_OPTIONAL_LOCKS=0")
	cfg := append(append([][2]string(nil), safeConfig...), g.config...)
	env = append(env, "GIT_CONFIG_COUNT="+strconv.Itoa(len(cfg)))
	for i, kv := range cfg {
		n := strconv.Itoa(i)
		env = append(env, "GIT_CONFIG_KEY_"+n+"="+kv[0], "GIT_CONFIG_VALUE_"+n+"="+kv[1])
	}
	return append(env, g.env...)
}

// GitError is a failed git command. Its text never contains a token.
type GitError struct {
	Args   string
	Stderr string
	err    error
}

func (e *GitError) Error() string {
	if e.Stderr == "" {
		return fmt.Sprintf("git %s: %v", e.Args, e.err)
	}
	return fmt.Sprintf("git %s: %v: %s", e.Args, e.err, e.Stderr)
}

func (e *GitError) Unwrap() error { return e.err }

// authed returns a gitCmd that authenticates to remoteURL with token, as the
// installation-token user GitHub expects. The header is scoped to the
// remote's scheme and host so a redirect elsewhere does not receive it.
func authed(g gitCmd, remoteURL, token string) gitCmd {
	g.secret = append(g.secret, secretsOf(remoteURL)...)
	if token == "" {
		return g
	}
	basic := base64.StdEncoding.EncodeToString([]byte("x-access-token:" + token))
	key := "http.extraHeader"
	if u, err := url.Parse(remoteURL); err == nil && u.Host != "" {
		key = "http." + u.Scheme + "://" + u.Host + "/.extraHeader"
	}
	g.config = append(g.config, [2]string{key, "Authorization: Basic " + basic})
	g.secret = append(g.secret, token, basic)
	return g
}

// secretsOf returns credentials embedded in a URL, which should not be there
// but must not leak if they are.
func secretsOf(remoteURL string) []string {
	u, err := url.Parse(remoteURL)
	if err != nil || u.User == nil {
		return nil
	}
	out := []string{u.User.String()}
	if p, ok := u.User.Password(); ok {
		out = append(out, p, url.QueryEscape(p))
	}
	return out
}

// redactURL is remoteURL without user information, for messages.
func redactURL(remoteURL string) string {
	u, err := url.Parse(remoteURL)
	if err != nil {
		return "<unparsable URL>"
	}
	u.User = nil
	return u.String()
}

func redactAll(s string, secrets []string) string {
	for _, sec := range secrets {
		if len(sec) >= 4 {
			s = strings.ReplaceAll(s, sec, "[REDACTED]")
		}
	}
	return s
}

// redactErr scrubs secrets from an error that did not come from gitCmd.
func redactErr(err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if red := redactAll(msg, secrets); red != msg {
		return errors.New(red)
	}
	return err
}
