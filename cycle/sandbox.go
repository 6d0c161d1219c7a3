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
	ExtraRO []string // read-only binds, such as the agents' tool paths
	// Binds are more mounts for every command, such as the specloop binary
	// (from a copy the sandbox user can reach) at the path configs name.
	Binds []sandbox.Bind
}

func (s SandboxRunner) Run(ctx context.Context, c agent.Command) (agent.Result, error) {
	binds := append([]sandbox.Bind(nil), s.Binds...)
	for _, m := range c.Mounts {
		binds = append(binds, sandbox.Bind{Src: m.Src, Dst: m.Dst, Writable: m.Writable})
	}
	r, err := s.Driver.Run(ctx, sandbox.Spec{
		Dir: c.Dir, Shell: c.Shell, Stdin: bytes.NewReader(c.Stdin), Env: c.Env,
		Network: c.Network, Timeout: c.Timeout, Limits: s.Limits, ExtraRO: s.ExtraRO, Stdout: c.Output,
		Binds: binds, Home: c.Home,
	})
	if err != nil {
		return agent.Result{}, err
	}
	return agent.Result{ExitCode: r.ExitCode, Output: r.Output, TimedOut: r.TimedOut, Cancelled: r.Cancelled,
		Truncated: r.Truncated, Duration: r.Duration}, nil
}

// Mounts reports whether the driver mounts what a Command names (the none
// driver runs on the host's own paths and mounts nothing).
func (s SandboxRunner) Mounts() bool { return s.Driver.Name() != "none" }
