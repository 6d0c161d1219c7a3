package agent

import (
	"context"
	"fmt"
	"io"
	"maps"
	"time"
)

// DefaultLogCap is how many bytes of agent output an Outcome keeps when
// RunOptions.LogCap is zero.
const DefaultLogCap = 256 << 10

// EnvRole is the environment variable that tells the agent its Role.
const EnvRole = "SPECLOOP_ROLE"

// Runner runs a shell command in the working copy with stdin and returns its
// combined output and exit code. The sandbox package implements it; this
// package declares only what it needs so that it can be tested without one.
type Runner interface {
	// Run runs cmd and waits for it. The error is for a command that could
	// not be run at all; a command that ran and failed is a Result.
	Run(ctx context.Context, cmd Command) (Result, error)
}

// Command is one shell command for a Runner.
type Command struct {
	// Dir is the working copy, and the command's working directory.
	Dir string
	// Shell is the command line, run by /bin/sh -c.
	Shell string
	// Stdin is the command's standard input.
	Stdin []byte
	// Env is the command's whole environment beyond what the runner sets.
	Env map[string]string
	// Network lets the command reach the network.
	Network bool
	// Timeout bounds the command's wall-clock time; zero means none.
	Timeout time.Duration
	// Output, when set, receives the raw output as it is written, for a
	// live view; the writer redacts it before showing it anywhere.
	Output io.Writer
	// Mounts are more host paths the command sees (a private git
	// directory, a model proxy socket).
	Mounts []Mount
	// Home is a host directory that becomes the command's home; empty
	// means a throw-away one.
	Home string
}

// Mount is one host path a Runner makes visible to the command.
type Mount struct {
	// Src is the host path, Dst where the command sees it (Src when empty).
	Src, Dst string
	// Writable lets the command change it.
	Writable bool
}

// Result is what a Runner reports about a finished command.
type Result struct {
	ExitCode  int
	Output    []byte
	TimedOut  bool
	Cancelled bool
	// Truncated reports that the runner dropped output.
	Truncated bool
	Duration  time.Duration
}

// RunOptions configures Run.
type RunOptions struct {
	// Dir is the working copy.
	Dir string
	// Env holds the variables the repo config passes to the agent, such as
	// OPENAI_API_KEY. Run adds EnvRole.
	Env map[string]string
	// Network lets the agent reach the network; hosted agents need it.
	Network bool
	// Timeout bounds the agent's run; zero means none.
	Timeout time.Duration
	// LogCap is how many bytes of output Outcome.Log keeps; zero means
	// DefaultLogCap, negative means no cap.
	LogCap int
	// Redactor masks secrets in Outcome.Log; nil means NewRedactor(), which
	// knows the token and key patterns but no literal secrets.
	Redactor *Redactor
	// Output receives the agent's raw output while it runs (Command.Output).
	Output io.Writer
	// Mounts and Home are passed on to the Runner (see Command).
	Mounts []Mount
	Home   string
}

// Outcome is what an agent run left behind, ready to be stored and shown.
type Outcome struct {
	Role      Role
	ExitCode  int
	TimedOut  bool
	Cancelled bool
	// Log is the agent's combined output, redacted, then capped to
	// RunOptions.LogCap keeping head and tail.
	Log []byte
	// Truncated reports that the runner or the cap dropped output.
	Truncated bool
	Duration  time.Duration
	// Tokens is the token use: counted at the model proxy when the run went
	// through it, else as the agent reported it on its output (see
	// ParseUsage); nil when neither reported any.
	Tokens *Usage
	// CostUSD is the cost in US dollars: the proxy's, else the agent's own
	// figure (total_cost_usd); 0 when unknown.
	CostUSD float64
	// TokensFrom says where Tokens came from: "model proxy" or "agent".
	TokensFrom string
	// BudgetHit names the limit the model proxy refused a request for.
	BudgetHit string
	// Failure is why the run failed in the CLI's own words, with the fix
	// (see Diagnose); nil when it did not.
	Failure *Failure
}

// Succeeded reports whether the agent finished on its own with status 0.
func (o *Outcome) Succeeded() bool {
	return o.ExitCode == 0 && !o.TimedOut && !o.Cancelled
}

// Run runs the agent command (the default preset's when command is empty) for role
// through r, with prompt on stdin and EnvRole set to the role. The error is
// for an agent that could not be started; an agent that failed, timed out or
// was cancelled is reported in the Outcome.
func Run(ctx context.Context, r Runner, command string, role Role, prompt string, opts RunOptions) (*Outcome, error) {
	if !role.Valid() {
		return nil, fmt.Errorf("agent: unknown role %q", role)
	}
	if command == "" {
		command = Presets[DefaultPreset].Command
	}
	env := make(map[string]string, len(opts.Env)+1)
	maps.Copy(env, opts.Env)
	env[EnvRole] = string(role)

	res, err := r.Run(ctx, Command{
		Dir:     opts.Dir,
		Shell:   command,
		Stdin:   []byte(prompt),
		Env:     env,
		Network: opts.Network,
		Timeout: opts.Timeout,
		Output:  opts.Output,
		Mounts:  opts.Mounts,
		Home:    opts.Home,
	})
	if err != nil {
		return nil, fmt.Errorf("agent: running %s: %w", role, err)
	}

	red := opts.Redactor
	if red == nil {
		red = NewRedactor()
	}
	logCap := opts.LogCap
	if logCap == 0 {
		logCap = DefaultLogCap
	}
	// Redact before capping: a cut through the middle of a key or token
	// would leave halves that no pattern recognises any more.
	log, capped := Cap(red.Redact(res.Output), logCap)

	tokens, from := ParseUsage(res.Output), ""
	if tokens != nil {
		from = "agent"
	}
	return &Outcome{
		Role:      role,
		ExitCode:  res.ExitCode,
		TimedOut:  res.TimedOut,
		Cancelled: res.Cancelled,
		Log:       log,
		Truncated: res.Truncated || capped,
		Duration:  res.Duration,
		// Usage is read from the raw output: the numbers are no secret, and
		// the cap could drop the line that carries them.
		Tokens:     tokens,
		CostUSD:    ReportedCost(res.Output),
		TokensFrom: from,
	}, nil
}
