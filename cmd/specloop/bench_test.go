package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-github/v62/github"

	"github.com/specloop/specloop/emulator"
	"github.com/specloop/specloop/store"
)

func repoOpts(files map[string]string) emulator.RepoOptions {
	return emulator.RepoOptions{DefaultBranch: "main", Private: true, Files: files}
}

func issueReq(body string) *github.IssueRequest {
	return &github.IssueRequest{Title: github.String("bench"), Body: &body}
}

// BenchmarkCycleOverhead measures specloop's own time per cycle on
// loopback: everything but the agent, the verify command and the auditor
// (the steps' own durations are subtracted), and the time from the cycle's
// claim to the agent's start. BENCH_FILES adds that many files to the repo
// (e.g. 10000). Each iteration is one labelled issue and its first cycle.
func BenchmarkCycleOverhead(b *testing.B) {
	ctx := context.Background()
	n, _ := strconv.Atoi(os.Getenv("BENCH_FILES"))
	st, err := startStack(ctx, stackOptions{Workers: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	repo := st.Repo
	if n > 0 {
		files := sampleRepo(st.agentBin())
		for i := range n {
			files[fmt.Sprintf("src/pkg%03d/file%05d.txt", i/100, i)] = fmt.Sprintf("line %d\n", i)
		}
		repo = "big"
		addRepoB(b, st, repo, files)
	}
	var overhead, toAgent time.Duration
	b.ResetTimer()
	for i := range b.N {
		issue := labelB(b, st, repo, fmt.Sprintf("- [ ] [b-%d] Benchmark obligation %d", i, i))
		run, c := waitFirst(b, st, repo, issue)
		if c.Conclusion != "success" {
			b.Fatalf("cycle %d concluded %s: %s", c.ID, c.Conclusion, c.Summary)
		}
		evs, err := store.ListEvents(ctx, st.Server.pool, run.ID, 0, 1000)
		if err != nil {
			b.Fatal(err)
		}
		started := map[string]time.Time{}
		var agents time.Duration
		for _, e := range evs {
			if e.Kind != "step" {
				continue
			}
			switch e.Outcome {
			case "started":
				started[e.Step] = e.CreatedAt
			default:
				if s, ok := started[e.Step]; ok && (e.Step == "implement" || e.Step == "verify" || e.Step == "audit") {
					agents += e.CreatedAt.Sub(s)
				}
			}
		}
		wall := c.FinishedAt.Sub(*c.StartedAt)
		overhead += wall - agents
		toAgent += started["implement"].Sub(*c.StartedAt)
	}
	b.ReportMetric(float64(overhead.Milliseconds())/float64(b.N), "overhead-ms/cycle")
	b.ReportMetric(float64(toAgent.Milliseconds())/float64(b.N), "to-agent-ms/cycle")
}

func addRepoB(b *testing.B, st *stack, name string, files map[string]string) {
	if _, err := st.Emulator.CreateRepo(st.Owner, name, repoOpts(files)); err != nil {
		b.Fatal(err)
	}
	st.Emulator.SetPermission(st.Owner, name, "maintainer", "admin")
	st.Emulator.Install(st.Owner, name)
}

func labelB(b *testing.B, st *stack, repo, body string) int {
	ctx := context.Background()
	gh := st.userClient("maintainer")
	issue, _, err := gh.Issues.Create(ctx, st.Owner, repo, issueReq(body))
	if err != nil {
		b.Fatal(err)
	}
	if _, _, err := gh.Issues.AddLabelsToIssue(ctx, st.Owner, repo, issue.GetNumber(), []string{"specloop"}); err != nil {
		b.Fatal(err)
	}
	return issue.GetNumber()
}

func waitFirst(b *testing.B, st *stack, repo string, issue int) (*store.Run, *store.Cycle) {
	run, cycles, err := st.waitCycles(context.Background(), repo, issue, 1, 5*time.Minute)
	if err != nil {
		b.Fatal(err)
	}
	return run, cycles[0]
}
