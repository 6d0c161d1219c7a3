package main

import (
	"context"
	"io"
	"os"

	"github.com/specloop/specloop/agent/scripted"
)

// runAgentScript is the scripted agent of tests and testdrive, hidden from
// usage: `specloop agent-script` reads a prompt on stdin and edits the cwd.
func runAgentScript(_ context.Context, args []string, stdout, stderr io.Writer) int {
	return scripted.Main(args, os.Stdin, stdout, stderr, os.Getenv)
}
