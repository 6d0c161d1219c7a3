package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/google/go-github/v62/github"

	"github.com/specloop/specloop/emulator"
	"github.com/specloop/specloop/sandbox"
	"github.com/specloop/specloop/store"
)

// testdriveReport is what the testdrive prints, as text or as one JSON line.
type testdriveReport struct {
	EmulatorURL string            `json:"emulator_url"`
	Repo        string            `json:"repo"`
	Tokens      map[string]string `json:"tokens"`
	PullRequest struct {
		Number int    `json:"number"`
		URL    string `json:"url"`
	} `json:"pull_request"`
	CheckRuns []checkRunReport `json:"check_runs"`
	RunPage   string           `json:"run_page"`
	Issue     int              `json:"issue"`
	Cycle     struct {
		Obligation string `json:"obligation"`
		Conclusion string `json:"conclusion"`
		Summary    string `json:"summary"`
	} `json:"cycle"`
}

type checkRunReport struct {
	Name       string `json:"name"`
	Conclusion string `json:"conclusion"`
}

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
	st, err := startStack(ctx, stackOptions{DatabaseURL: os.Getenv("DATABASE_URL"), Sandbox: *sb, Logger: logger})
	if err != nil {
		return fail("%v", err)
	}
	defer st.Close()

	report, err := st.driveIssue(ctx, *wait)
	if err != nil {
		return fail("%v", err)
	}
	if *asJSON {
		b, _ := json.Marshal(report)
		fmt.Fprintln(stdout, string(b))
	} else {
		printReport(stdout, report, st)
	}
	if *exit {
		return 0
	}
	if !*asJSON {
		fmt.Fprintln(stdout, "\nServing until Ctrl-C. Try, as maintainer:")
		fmt.Fprintf(stdout, "  curl -H 'Authorization: token %s' -d '{\"body\":\"/loop next\"}' %s/repos/%s/issues/%d/comments\n",
			report.Tokens["maintainer"], report.EmulatorURL, report.Repo, report.PullRequest.Number)
	}
	<-ctx.Done()
	return 0
}

// driveIssue opens an issue as the maintainer, labels it, waits for the
// first cycle to finish, and reads back what specloop did.
func (st *stack) driveIssue(ctx context.Context, wait time.Duration) (*testdriveReport, error) {
	gh := st.userClient("maintainer")
	issue, _, err := gh.Issues.Create(ctx, st.Owner, st.Repo, &github.IssueRequest{
		Title: github.String("Widget counter"), Body: github.String(issueBody),
	})
	if err != nil {
		return nil, fmt.Errorf("open an issue on the emulator: %w", err)
	}
	if _, _, err := gh.Issues.AddLabelsToIssue(ctx, st.Owner, st.Repo, issue.GetNumber(), []string{"specloop"}); err != nil {
		return nil, fmt.Errorf("label the issue: %w", err)
	}
	run, cycles, err := st.waitCycles(ctx, st.Repo, issue.GetNumber(), 1, wait)
	if err != nil {
		return nil, err
	}
	cycle := cycles[0]
	r := &testdriveReport{EmulatorURL: st.Emulator.URL(), Repo: st.Owner + "/" + st.Repo, Tokens: st.Tokens, Issue: issue.GetNumber()}
	r.Cycle.Obligation, r.Cycle.Conclusion, r.Cycle.Summary = cycle.ObligationID, cycle.Conclusion, cycle.Summary
	r.RunPage = st.Links.RunURL(run.ID)
	r.CheckRuns = []checkRunReport{}
	for _, pr := range st.Emulator.PullRequests(st.Owner, st.Repo) {
		if pr.GetHead().GetRef() != run.Branch {
			continue
		}
		r.PullRequest.Number, r.PullRequest.URL = pr.GetNumber(), pr.GetHTMLURL()
		runs, _, err := gh.Checks.ListCheckRunsForRef(ctx, st.Owner, st.Repo, pr.GetHead().GetSHA(), nil)
		if err != nil {
			return nil, fmt.Errorf("read check runs: %w", err)
		}
		for _, cr := range runs.CheckRuns {
			r.CheckRuns = append(r.CheckRuns, checkRunReport{Name: cr.GetName(), Conclusion: cr.GetConclusion()})
		}
	}
	return r, nil
}

// waitCycles waits until the run of an issue (or PR) of repo has n
// finished cycles, and returns the run and its cycles.
func (st *stack) waitCycles(ctx context.Context, repo string, number, n int, wait time.Duration) (*store.Run, []*store.Cycle, error) {
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		run, err := store.FindRun(ctx, st.Server.pool, st.Owner+"/"+repo, number)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, nil, err
		}
		if err == nil {
			cycles, err := store.ListCycles(ctx, st.Server.pool, run.ID)
			if err != nil {
				return nil, nil, err
			}
			done := 0
			for _, c := range cycles {
				if c.State == "done" {
					done++
				}
			}
			if done >= n {
				run, err = store.GetRun(ctx, st.Server.pool, run.ID)
				return run, cycles, err
			}
		}
		select {
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil, nil, fmt.Errorf("%w: %d cycle(s) of #%d did not finish within %s (run with -v to see the server's log)", errNoCycle, n, number, wait)
}

// userClient is a go-github client acting as one of the emulator's users.
func (st *stack) userClient(user string) *github.Client {
	c := github.NewClient(&http.Client{Timeout: 30 * time.Second}).WithAuthToken(st.Tokens[user])
	c.BaseURL, _ = url.Parse(st.Emulator.URL() + "/")
	return c
}

func printReport(w io.Writer, r *testdriveReport, st *stack) {
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
func runEmulator(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("specloop emulator", flag.ContinueOnError)
	fs.SetOutput(stderr)
	hook := fs.String("webhook-url", "", "where to deliver webhooks")
	secret := fs.String("webhook-secret", "", "webhook secret to sign deliveries with")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	em, err := emulator.New(emulator.Options{AppID: stackAppID, AppSlug: stackSlug, WebhookURL: *hook, WebhookSecret: *secret})
	if err != nil {
		fmt.Fprintln(stderr, "specloop emulator:", err)
		return 1
	}
	u, err := em.Start()
	if err != nil {
		fmt.Fprintln(stderr, "specloop emulator:", err)
		return 1
	}
	defer em.Close()
	if _, err := em.CreateRepo("acme", "widgets", emulator.RepoOptions{DefaultBranch: "main", Files: sampleRepo("specloop")}); err != nil {
		fmt.Fprintln(stderr, "specloop emulator:", err)
		return 1
	}
	tok := em.AddUser("maintainer")
	em.SetPermission("acme", "widgets", "maintainer", "admin")
	fmt.Fprintf(stdout, "GitHub emulator at %s\nrepo acme/widgets; user maintainer token %s\n", u, tok)
	<-ctx.Done()
	return 0
}
