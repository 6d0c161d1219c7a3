package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-github/v62/github"

	"github.com/specloop/specloop/emulator"
	"github.com/specloop/specloop/internal/stack"
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
	st, repo := benchStack(b)
	var overhead, toAgent time.Duration
	b.ResetTimer()
	for i := range b.N {
		issue := labelB(b, st, repo, fmt.Sprintf("- [ ] [b-%d] Benchmark obligation %d", i, i))
		run, cycles := waitB(b, st, repo, issue, 1)
		o, a := cycleCost(ctx, b, st, run, cycles[0])
		overhead += o
		toAgent += a
	}
	b.ReportMetric(float64(overhead.Milliseconds())/float64(b.N), "overhead-ms/cycle")
	b.ReportMetric(float64(toAgent.Milliseconds())/float64(b.N), "to-agent-ms/cycle")
}

// BenchmarkCycleChain is the common case of a run: each `/loop next`
// starts from the commit the previous cycle pushed (a new commit every
// time), and its working copy is a layer over the previous one's.
func BenchmarkCycleChain(b *testing.B) {
	ctx := context.Background()
	st, repo := benchStack(b)
	var body strings.Builder
	for i := 0; i <= b.N; i++ {
		fmt.Fprintf(&body, "- [ ] [c-%d] Chained obligation %d\n", i, i)
	}
	issue := labelB(b, st, repo, body.String())
	run, _ := waitB(b, st, repo, issue, 1)
	var overhead, toAgent time.Duration
	b.ResetTimer()
	for i := range b.N {
		_, _, err := st.UserClient("maintainer").Issues.CreateComment(ctx, st.Owner, repo, run.PR, &github.IssueComment{Body: github.String("/loop next")})
		if err != nil {
			b.Fatal(err)
		}
		_, cycles := waitB(b, st, repo, issue, i+2)
		o, a := cycleCost(ctx, b, st, run, cycles[i+1])
		overhead += o
		toAgent += a
	}
	b.ReportMetric(float64(overhead.Milliseconds())/float64(b.N), "overhead-ms/cycle")
	b.ReportMetric(float64(toAgent.Milliseconds())/float64(b.N), "to-agent-ms/cycle")
}

// benchStack starts the stack, with a BENCH_FILES-file repo when asked.
func benchStack(b *testing.B) (*stack.Stack, string) {
	n, _ := strconv.Atoi(os.Getenv("BENCH_FILES"))
	st, err := stack.Start(context.Background(), stack.Options{Workers: 1})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(st.Close)
	if n == 0 {
		return st, st.Repo
	}
	files := stack.SampleRepo(st.AgentBin())
	for i := range n {
		files[fmt.Sprintf("src/pkg%03d/file%05d.txt", i/100, i)] = fmt.Sprintf("line %d\n", i)
	}
	addRepoB(b, st, "big", files)
	return st, "big"
}

// cycleCost is a cycle's wall time minus its agent, verify and audit steps,
// and the time from its claim to the agent's start.
func cycleCost(ctx context.Context, b *testing.B, st *stack.Stack, run *store.Run, c *store.Cycle) (overhead, toAgent time.Duration) {
	if c.Conclusion != "success" {
		b.Fatalf("cycle %d concluded %s: %s", c.ID, c.Conclusion, c.Summary)
	}
	evs, err := store.ListEvents(ctx, st.Server.Pool, run.ID, 0, 10000)
	if err != nil {
		b.Fatal(err)
	}
	started := map[string]time.Time{}
	var steps time.Duration
	for _, e := range evs {
		if e.Kind != "step" || e.CycleID != c.ID {
			continue
		}
		if e.Outcome == "started" {
			started[e.Step] = e.CreatedAt
		} else if s, ok := started[e.Step]; ok && (e.Step == "implement" || e.Step == "verify" || e.Step == "audit") {
			steps += e.CreatedAt.Sub(s)
		}
	}
	return c.FinishedAt.Sub(*c.StartedAt) - steps, started["implement"].Sub(*c.StartedAt)
}

func addRepoB(b *testing.B, st *stack.Stack, name string, files map[string]string) {
	if _, err := st.Emulator.CreateRepo(st.Owner, name, repoOpts(files)); err != nil {
		b.Fatal(err)
	}
	st.Emulator.SetPermission(st.Owner, name, "maintainer", "admin")
	st.Emulator.Install(st.Owner, name)
}

func labelB(b *testing.B, st *stack.Stack, repo, body string) int {
	ctx := context.Background()
	gh := st.UserClient("maintainer")
	issue, _, err := gh.Issues.Create(ctx, st.Owner, repo, issueReq(body))
	if err != nil {
		b.Fatal(err)
	}
	if _, _, err := gh.Issues.AddLabelsToIssue(ctx, st.Owner, repo, issue.GetNumber(), []string{"specloop"}); err != nil {
		b.Fatal(err)
	}
	return issue.GetNumber()
}

func waitB(b *testing.B, st *stack.Stack, repo string, issue, n int) (*store.Run, []*store.Cycle) {
	run, cycles, err := st.WaitCycles(context.Background(), repo, issue, n, 5*time.Minute)
	if err != nil {
		b.Fatal(err)
	}
	return run, cycles
}
