package cycle

import (
	"bytes"
	"context"

	"github.com/specloop/specloop/agent"
	"github.com/specloop/specloop/sandbox"
)

// SandboxRunner adapts a sandbox driver to the engine's agent.Runner, with
// the limits every sandboxed command gets.
type SandboxRunner struct {
	Driver  sandbox.Driver
	Limits  sandbox.Limits
	ExtraRO []string // read-only binds, such as the scripted agent's binary
}

func (s SandboxRunner) Run(ctx context.Context, c agent.Command) (agent.Result, error) {
	r, err := s.Driver.Run(ctx, sandbox.Spec{
		Dir: c.Dir, Shell: c.Shell, Stdin: bytes.NewReader(c.Stdin), Env: c.Env,
		Network: c.Network, Timeout: c.Timeout, Limits: s.Limits, ExtraRO: s.ExtraRO, Stdout: c.Output,
	})
	if err != nil {
		return agent.Result{}, err
	}
	return agent.Result{ExitCode: r.ExitCode, Output: r.Output, TimedOut: r.TimedOut, Cancelled: r.Cancelled,
		Truncated: r.Truncated, Duration: r.Duration}, nil
}
