package stack

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/google/go-github/v62/github"

	"github.com/specloop/specloop/state"
	"github.com/specloop/specloop/store"
)

// Report is what the testdrive prints, as text or as one JSON line.
type Report struct {
	EmulatorURL string            `json:"emulator_url"`
	Repo        string            `json:"repo"`
	Tokens      map[string]string `json:"tokens"`
	PullRequest struct {
		Number int    `json:"number"`
		URL    string `json:"url"`
	} `json:"pull_request"`
	CheckRuns []CheckRunReport `json:"check_runs"`
	RunPage   string           `json:"run_page"`
	Issue     int              `json:"issue"`
	Cycle     struct {
		Obligation string `json:"obligation"`
		Conclusion string `json:"conclusion"`
		Summary    string `json:"summary"`
	} `json:"cycle"`
}

// CheckRunReport is one check run of the Report.
type CheckRunReport struct {
	Name       string `json:"name"`
	Conclusion string `json:"conclusion"`
}

// DriveIssue opens an issue as the maintainer, labels it, waits for the
// first cycle to finish, and reads back what specloop did.
func (st *Stack) DriveIssue(ctx context.Context, wait time.Duration) (*Report, error) {
	gh := st.UserClient("maintainer")
	issue, _, err := gh.Issues.Create(ctx, st.Owner, st.Repo, &github.IssueRequest{
		Title: github.String("Widget counter"), Body: github.String(IssueBody),
	})
	if err != nil {
		return nil, fmt.Errorf("open an issue on the emulator: %w", err)
	}
	if _, _, err := gh.Issues.AddLabelsToIssue(ctx, st.Owner, st.Repo, issue.GetNumber(), []string{"specloop"}); err != nil {
		return nil, fmt.Errorf("label the issue: %w", err)
	}
	run, cycles, err := st.WaitCycles(ctx, st.Repo, issue.GetNumber(), 1, wait)
	if err != nil {
		return nil, err
	}
	first := cycles[0]
	r := &Report{EmulatorURL: st.Emulator.URL(), Repo: st.Owner + "/" + st.Repo, Tokens: st.Tokens, Issue: issue.GetNumber()}
	r.Cycle.Obligation, r.Cycle.Conclusion, r.Cycle.Summary = first.ObligationID, string(first.Conclusion), first.Summary
	r.RunPage = st.Links.RunURL(run.ID)
	r.CheckRuns = []CheckRunReport{}
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
			r.CheckRuns = append(r.CheckRuns, CheckRunReport{Name: cr.GetName(), Conclusion: cr.GetConclusion()})
		}
	}
	return r, nil
}

// WaitCycles waits until the run of an issue (or PR) of repo has n
// finished cycles, and returns the run and its cycles.
func (st *Stack) WaitCycles(ctx context.Context, repo string, number, n int, wait time.Duration) (*store.Run, []*store.Cycle, error) {
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		run, err := store.FindRun(ctx, st.Server.Pool, st.Owner+"/"+repo, number)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, nil, err
		}
		if err == nil {
			cycles, err := store.ListCycles(ctx, st.Server.Pool, run.ID)
			if err != nil {
				return nil, nil, err
			}
			done := 0
			for _, c := range cycles {
				if c.State == state.CycleDone {
					done++
				}
			}
			if done >= n {
				run, err = store.GetRun(ctx, st.Server.Pool, run.ID)
				return run, cycles, err
			}
		}
		select {
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil, nil, fmt.Errorf("%w: %d cycle(s) of #%d did not finish within %s (run with -v to see the server's log)", ErrNoCycle, n, number, wait)
}

// UserClient is a go-github client acting as one of the emulator's users.
func (st *Stack) UserClient(user string) *github.Client {
	c := github.NewClient(&http.Client{Timeout: 30 * time.Second}).WithAuthToken(st.Tokens[user])
	c.BaseURL, _ = url.Parse(st.Emulator.URL() + "/")
	return c
}
