// Command specloop is the specloop GitHub App: webhooks, run pages and the
// workers that run cycles, plus local tools (spec lint, one local cycle, and
// a testdrive of the whole product on one machine).
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"

	"github.com/specloop/specloop/modelproxy"
	"github.com/specloop/specloop/sandbox"
)

// version is stamped at build time with -ldflags "-X main.version=...".
var version = "dev"

type command struct {
	summary string
	hidden  bool
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

func commands() map[string]command {
	return map[string]command{
		"serve":     {summary: "webhooks, web pages and workers in one process", run: runServe("serve")},
		"web":       {summary: "webhooks and web pages only", run: runServe("web")},
		"worker":    {summary: "workers only (health and metrics on PORT)", run: runServe("worker")},
		"migrate":   {summary: "apply database migrations", run: runMigrate},
		"spec":      {summary: "spec lint [FILE|DIR...] | spec next FILE | spec list [--repo DIR]", run: runSpec},
		"cycle":     {summary: "one cycle on a local checkout: cycle --repo DIR [--spec FILE]", run: runCycle},
		"testdrive": {summary: "the whole product on this machine, with a local GitHub emulator", run: runTestdrive},
		"emulator":  {summary: "run the local GitHub emulator alone", run: runEmulator},
		"doctor":    {summary: "check this worker host: agent CLIs, credentials, sandbox, database, GitHub", run: runDoctor},
		"version": {summary: "print the version", run: func(_ context.Context, _ []string, stdout, _ io.Writer) int {
			fmt.Fprintln(stdout, "specloop", version)
			return 0
		}},
		"verify-evidence": {summary: "check a commit's signed statement offline: verify-evidence --repo DIR REV [--key PUB]", run: runVerifyEvidence},
		"evidence-key":    {summary: "print the public key of EVIDENCE_KEY, for verify-evidence --key", run: runEvidenceKey},
		"agent-script":    {hidden: true, run: runAgentScript},
		"model-bridge": {hidden: true, run: func(_ context.Context, args []string, stdout, stderr io.Writer) int {
			return modelproxy.BridgeMain(args, os.Stdin, stdout, stderr)
		}},
		// Run inside a kubernetes sandbox pod: carries a bound socket.
		"sandbox-forward": {hidden: true, run: func(_ context.Context, args []string, stdout, stderr io.Writer) int {
			return sandbox.ForwardMain(args, os.Stdin, stdout, stderr)
		}},
	}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: specloop <command> [flags]\n\ncommands:")
	cmds := commands()
	names := make([]string, 0, len(cmds))
	for n, c := range cmds {
		if !c.hidden {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-15s %s\n", n, cmds[n].summary)
	}
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	cmd, ok := commands()[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "specloop: unknown command %q\n", args[0])
		usage(stderr)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return cmd.run(ctx, args[1:], stdout, stderr)
}
