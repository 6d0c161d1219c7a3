package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/specloop/specloop/internal/stack"
	"github.com/specloop/specloop/sandbox"
)

func runTestdrive(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("specloop testdrive", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print the result as one JSON object on one line")
	exit := fs.Bool("exit", false, "exit after printing instead of serving until interrupted")
	sb := fs.String("sandbox", "bwrap", "sandbox driver: bwrap, or none (no isolation) where bubblewrap cannot run")
	wait := fs.Duration("timeout", 3*time.Minute, "how long to wait for the first cycle")
	verbose := fs.Bool("v", false, "log what the server does to stderr")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "specloop testdrive: "+format+"\n", a...)
		return 1
	}
	if *sb == "bwrap" {
		if err := sandbox.Check(ctx); err != nil {
			return fail("%v; or run `specloop testdrive --sandbox none` to try it without isolation", err)
		}
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if *verbose {
		logger = slog.New(slog.NewTextHandler(stderr, nil))
	}
	if !*asJSON {
		fmt.Fprintln(stdout, "Starting PostgreSQL, the GitHub emulator and specloop…")
	}
	st, err := stack.Start(ctx, stack.Options{DatabaseURL: os.Getenv("DATABASE_URL"), Sandbox: *sb, Logger: logger})
	if err != nil {
		return fail("%v", err)
	}
	defer st.Close()

	report, err := st.DriveIssue(ctx, *wait)
	if err != nil {
		return fail("%v", err)
	}
	if *asJSON {
		b, _ := json.Marshal(report)
		fmt.Fprintln(stdout, string(b))
	} else {
		printReport(stdout, report)
	}
	if *exit {
		return 0
	}
	if !*asJSON {
		fmt.Fprintln(stdout, "\nServing until Ctrl-C. Open these in a browser:")
		if report.PullRequest.URL != "" {
			fmt.Fprintf(stdout, "  the pull request   %s\n", report.PullRequest.URL)
			fmt.Fprintln(stdout, "                     comment `/loop next` there (as maintainer) and follow the run page")
		}
		fmt.Fprintf(stdout, "  the run page       %s\n", report.RunPage)
		fmt.Fprintf(stdout, "  the repository     %s/%s\n", report.EmulatorURL, report.Repo)
		fmt.Fprintln(stdout, "                     open another issue with a task list and label it `specloop`")
		fmt.Fprintf(stdout, "  all runs (operator) %s/runs?operator_token=%s\n", st.URL, st.OperatorToken)
		fmt.Fprintf(stdout, "  the queue (riverui) %s/riverui/?operator_token=%s\n", st.URL, st.OperatorToken)
		fmt.Fprintln(stdout, "Or through the API, as maintainer:")
		fmt.Fprintf(stdout, "  curl -H 'Authorization: token %s' -d '{\"body\":\"/loop next\"}' %s/repos/%s/issues/%d/comments\n",
			report.Tokens["maintainer"], report.EmulatorURL, report.Repo, report.PullRequest.Number)
	}
	<-ctx.Done()
	return 0
}

func printReport(w io.Writer, r *stack.Report) {
	fmt.Fprintf(w, "\nspecloop testdrive: issue #%d was labelled `specloop` by maintainer; the first cycle worked on %s and concluded %s.\n\n",
		r.Issue, r.Cycle.Obligation, r.Cycle.Conclusion)
	fmt.Fprintf(w, "%s\n\n", r.Cycle.Summary)
	fmt.Fprintf(w, "GitHub emulator  %s\n", r.EmulatorURL)
	fmt.Fprintf(w, "repository       %s (clone: git clone http://x-access-token:%s@%s/%s.git)\n",
		r.Repo, r.Tokens["maintainer"], strings.TrimPrefix(r.EmulatorURL, "http://"), r.Repo)
	fmt.Fprintf(w, "tokens           maintainer (admin) %s\n                 reader (read)      %s\n", r.Tokens["maintainer"], r.Tokens["reader"])
	if r.PullRequest.Number != 0 {
		fmt.Fprintf(w, "pull request     #%d %s\n", r.PullRequest.Number, r.PullRequest.URL)
	} else {
		fmt.Fprintln(w, "pull request     none (the cycle pushed nothing)")
	}
	fmt.Fprintln(w, "check runs")
	for _, c := range r.CheckRuns {
		fmt.Fprintf(w, "                 %-20s %s\n", c.Name, c.Conclusion)
	}
	fmt.Fprintf(w, "run page         %s\n", r.RunPage)
}

// runEmulator is `specloop emulator`: the GitHub emulator alone, with a
// seeded repo and users, for poking at by hand.
